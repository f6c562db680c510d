"""Fault 1: training killed with SIGKILL at random points.

Ten seeded trainings are killed for real: even seeds by a callback that
sends SIGKILL to its own process at a random batch and hook (before or
after the logger in `callbacks`), odd seeds by the parent after a random
delay, wherever the training is. One process imports Keras once and forks
the ten trainings (two at a time), so the whole family costs one TF
start-up. Each training journals the file size after every successful
flush, so the test knows exactly what was flushed before the kill.

Every reader must then see every flushed record, identically: an
independent TFRecord parser, `tf.compat.v1.train.summary_iterator`,
TensorBoard's event-file loader, the CLI (in process and the
`tb-lr-audit` binary on TensorBoard's TF-free reader) and the plugin in
TensorBoard (Python loader in process, Rust loader as a real server). A
copy of every run is also cut inside its last record (the torn write a
kill in the middle of a large `write` leaves): readers keep everything
before it and say so at most once.
"""

import json
import logging
import os
import shutil
import signal
import sys
import time
import warnings

import numpy as np
import pytest
from tensorboard.compat.proto import event_pb2

# Each test runs on Keras 3 and on tf_keras: ids `[keras-3.15.1-tensorflow]`,
# `[tf_keras-2.21.0]` (the `keras_flavour` of the `killed` fixture).

SEEDS = range(10)
STEPS_PER_EPOCH = 8
HOOKS = ["on_train_batch_begin", "on_train_batch_end", "on_epoch_end"]


def _config(seed):
    rng = np.random.default_rng(seed)
    config = {
        "seed": seed,
        "mode": "batch" if seed % 2 == 0 else "delay",
        "flush_secs": float(rng.choice([0.01, 0.1, 5.0])),
        "plan": str(rng.choice(["plateau", "cosine"])),
        "kill_batch": int(rng.integers(10, 160)),
        "kill_hook": str(rng.choice(HOOKS)),
        "kill_first": bool(rng.integers(2)),
        "delay": float(rng.uniform(0.05, 1.0)),
    }
    return config


# -- what runs in the forked trainings (python test_faults_kill.py LOGDIR) --


def _train(logdir, config, started_fd, flavour):
    import tensorflow as tf
    from training import data, model

    if flavour == "tf_keras":
        import tf_keras as keras
        from tb_lr_plugin.callbacks.tf_keras import LearningRateLogger, ReduceLROnPlateau
    else:
        import keras
        from tb_lr_plugin.callbacks import LearningRateLogger, ReduceLROnPlateau

    from tb_lr_plugin.event_writer import EventWriter

    run_dir = os.path.join(logdir, f"kill-{config['seed']}")
    journal = os.open(os.path.join(logdir, f"journal-{config['seed']}"), os.O_WRONLY | os.O_CREAT)
    flush = EventWriter.flush

    def journaled_flush(self):
        ok = flush(self)
        if ok and self.path:
            # After the write returned: these bytes are in the file.
            os.write(journal, f"{os.path.getsize(self.path)}\n".encode())
        return ok

    EventWriter.flush = journaled_flush

    class Kill(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.batches = 0

        def _maybe(self, hook):
            if config["mode"] == "batch" and hook == config["kill_hook"]:
                if self.batches >= config["kill_batch"]:
                    os.kill(os.getpid(), signal.SIGKILL)

        def on_train_batch_begin(self, batch, logs=None):
            self._maybe("on_train_batch_begin")

        def on_train_batch_end(self, batch, logs=None):
            self.batches += 1
            if self.batches == 1:
                os.write(started_fd, b"s")
            self._maybe("on_train_batch_end")

        def on_epoch_end(self, epoch, logs=None):
            self._maybe("on_epoch_end")

    # Two trainings share two cores: one thread each.
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    x, y = data(n=STEPS_PER_EPOCH * 8, noise=2.0)
    callbacks = [LearningRateLogger(run_dir, flush_secs=config["flush_secs"])]
    if config["plan"] == "plateau":
        m = model(keras.optimizers.SGD(0.05), seed=config["seed"], k=keras)
        callbacks.insert(0, ReduceLROnPlateau("loss", factor=0.7, patience=1, min_delta=0.05))
    else:
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0, 2000, warmup_target=0.05, warmup_steps=40
        )
        m = model(keras.optimizers.SGD(schedule), seed=config["seed"], k=keras)
    callbacks.insert(0 if config["kill_first"] else len(callbacks), Kill())
    m.fit(x, y, batch_size=8, epochs=100_000, verbose=0, callbacks=callbacks)


def _fork_and_kill(logdir, flavour):
    """Forks the trainings, two at a time; kills the odd seeds after a delay."""
    import importlib
    import select

    # Imported once, before forking (TF starts no thread here).
    importlib.import_module("tf_keras" if flavour == "tf_keras" else "keras")

    pending, children, report = [_config(s) for s in SEEDS], {}, []
    deadline = time.monotonic() + 120
    while pending or children:
        while pending and len(children) < 2:
            config = pending.pop(0)
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read_fd)
                try:
                    _train(logdir, config, write_fd, flavour)
                finally:
                    os._exit(3)  # only reached if the training was not killed
            os.close(write_fd)
            children[pid] = {"config": config, "fd": read_fd, "kill_at": None}
        now = time.monotonic()
        for pid, child in children.items():
            if now > deadline or (child["kill_at"] is not None and now >= child["kill_at"]):
                os.kill(pid, signal.SIGKILL)
        for pid in list(children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                child = children.pop(pid)
                os.close(child["fd"])
                killer = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
                report.append({**child["config"], "signal": killer})
        waiting = {c["fd"]: c for c in children.values() if c["kill_at"] is None}
        ready, _, _ = select.select(list(waiting), [], [], 0.005)
        for fd in ready:
            child = waiting[fd]
            os.read(fd, 1)
            delay = child["config"]["delay"] if child["config"]["mode"] == "delay" else None
            child["kill_at"] = float("inf") if delay is None else time.monotonic() + delay
        if not waiting:
            time.sleep(0.005)
    print(json.dumps(report))


# -- the tests ----------------------------------------------------------------


@pytest.fixture(scope="module")
def killed(tmp_path_factory, keras_flavour):
    """The ten killed runs, plus a torn copy of each: `(logdir, report)`."""
    import faults

    logdir = tmp_path_factory.mktemp("killed")
    args = [os.path.abspath(__file__), str(logdir), keras_flavour]
    result = faults.python(args, timeout=170)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    report = {r["seed"]: r for r in report}
    rng = np.random.default_rng(1234)
    for seed, entry in report.items():
        run_dir = logdir / f"kill-{seed}"
        journal = logdir / f"journal-{seed}"
        sizes = [int(s) for s in journal.read_text().split()] if journal.exists() else []
        entry["flushed"] = sizes[-1] if sizes else 0
        entry["flushes"] = len(sizes)
        files = faults.event_files(run_dir) if run_dir.exists() else []
        entry["files"] = files
        if not files:
            continue
        payloads, end, _ = faults.framed_records(files[0])
        if len(payloads) < 2:
            continue
        # The torn copy: cut strictly inside the last complete record.
        last = len(payloads[-1]) + 16
        cut = int(rng.integers(end - last + 1, end))
        torn = logdir / f"torn-{seed}"
        shutil.copytree(run_dir, torn)
        with open(torn / os.path.basename(files[0]), "r+b") as f:
            f.truncate(cut)
        entry["torn_cut"] = cut
    return logdir, report


def _runs(logdir):
    return sorted(
        d.name for d in logdir.iterdir() if d.is_dir() and d.name.startswith(("kill-", "torn-"))
    )


def test_every_training_was_killed_by_sigkill_at_a_different_point(killed):
    _, report = killed
    assert sorted(report) == list(SEEDS)
    assert all(r["signal"] == signal.SIGKILL for r in report.values()), report
    # Different points: the amount flushed differs from seed to seed.
    flushed = [r["flushed"] for r in report.values()]
    assert len(set(flushed)) >= 6, flushed
    assert sum(r["mode"] == "delay" for r in report.values()) == 5
    assert sum(1 for r in report.values() if r["flushed"]) >= 6


def test_every_flushed_record_is_read_back_by_tensorflow_and_tensorboards_loader(killed):
    import faults
    from training import read_run

    logdir, report = killed
    torn_runs = 0
    for name in _runs(logdir):
        seed = int(name.split("-")[1])
        (path,) = faults.event_files(logdir / name)
        payloads, end, size = faults.framed_records(path)
        # What the journal says was flushed is a prefix of complete records.
        flushed = report[seed]["flushed"]
        prefix, prefix_end, _ = faults.framed_records(path, limit=flushed)
        if name.startswith("kill-"):
            assert prefix_end == flushed and payloads[: len(prefix)] == prefix, name
        torn_runs += end < size
        # TensorFlow: every complete record, then at most one error. A tail
        # shorter than a record header (12 bytes) is a clean end of file to
        # TensorFlow's reader, not a data loss error (measured on TF 2.21).
        events, errors = faults.summary_iterator_events(path)
        assert [event_pb2.Event.FromString(e) for e in events] == [
            event_pb2.Event.FromString(p) for p in payloads
        ], name
        assert errors == (size - end >= 12), name
        # TensorBoard's loader: the same records, assembled.
        run = read_run(logdir / name)
        faults.assert_same_run(run, faults.run_from_payloads([payloads]), name)
        # And they make sense: no gap, no duplicate, from step 1.
        for rows in list(run.optimizers.values()) + list(run.batch.values()):
            faults.assert_contiguous(rows)
        assert [e["epoch"] for e in run.epochs] == list(range(len(run.epochs)))
        # Nothing flushed is missing.
        if name.startswith("kill-"):
            before = faults.run_from_payloads([prefix])
            for opt, rows in before.optimizers.items():
                np.testing.assert_array_equal(run.optimizers[opt][: len(rows)], rows)
            assert run.epochs[: len(before.epochs)] == before.epochs
            assert run.events[: len(before.events)] == before.events
    assert torn_runs >= 6


def test_the_cli_reads_every_flushed_record_and_warns_once(killed):
    import faults
    from training import read_run

    from tb_lr_plugin import loader

    logdir, _ = killed
    found = loader.load(str(logdir))
    runs = _runs(logdir)
    assert sorted(found.runs) == runs
    for name in runs:
        faults.assert_same_run(found.runs[name].data, read_run(logdir / name), name)
    torn = {os.path.basename(os.path.dirname(p)) for p in found.damaged}
    assert {n for n in runs if n.startswith("torn-")} <= torn

    code, out, err = faults.run_cli(logdir, "--format", "csv")
    assert code == 0
    assert err.count("\n") == 1 and "truncated or corrupt event file" in err, err
    exported = faults.csv_rows(out)
    for name in runs:
        for opt, rows in read_run(logdir / name).optimizers.items():
            np.testing.assert_array_equal(exported[(name, opt)], rows)

    # The installed command, on TensorBoard's TF-free reader.
    result = faults.python(
        [
            "-c",
            "import sys; from tb_lr_plugin.cli import main; sys.argv[0] = 'tb-lr-audit'; main()",
            str(logdir),
            "--format",
            "csv",
        ],
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert faults.csv_rows(result.stdout).keys() == exported.keys()
    for key, rows in exported.items():
        np.testing.assert_array_equal(faults.csv_rows(result.stdout)[key], rows)


def test_tensorboard_python_loader_serves_every_flushed_record(killed, tensorboard_app, caplog):
    import faults
    from training import read_run

    logdir, _ = killed
    with caplog.at_level(logging.WARNING), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tb = tensorboard_app(logdir)
        tb.reload()
        listed = {r["run"] for r in json.loads(tb.get("runs").data)["runs"]}
        assert listed == set(_runs(logdir))
        for name in _runs(logdir):
            faults.assert_plugin_serves(tb, name, read_run(logdir / name))
            assert tb.get("audit", run=name).status_code == 200
    # (TensorBoard's vendored bleach may warn of its own deprecation on import.)
    caught = [w for w in caught if not issubclass(w.category, DeprecationWarning)]
    noise = [r for r in caplog.records if r.levelno >= logging.WARNING] + caught
    assert len(noise) <= 1, noise


@pytest.mark.slow
def test_tensorboard_rust_loader_serves_every_flushed_record(killed, tensorboard_process):
    import faults
    from training import read_run

    logdir, _ = killed
    tb = tensorboard_process(logdir, "--load_fast=true", "--reload_interval", "1")
    want = {name: read_run(logdir / name) for name in _runs(logdir)}
    deadline = time.time() + 60
    while True:
        listed = tb.get("runs")
        runs = {r["run"] for r in json.loads(listed[2])["runs"]} if listed[0] == 200 else set()
        if runs == set(want):
            try:
                for name, run in want.items():
                    status, _, body = tb.get("export", run=name, format="csv")
                    rows = {o: r for (_, o), r in faults.csv_rows(body.decode()).items()}
                    for opt, expected in run.optimizers.items():
                        np.testing.assert_array_equal(rows[opt], expected)
                    status, _, body = tb.get("events", run=name)
                    assert json.loads(body)["events"] == json.loads(json.dumps(run.events))
                break
            except (AssertionError, KeyError):
                if time.time() > deadline:
                    raise
        assert time.time() < deadline, "the Rust loader did not serve every run in time"
        time.sleep(0.5)
    warned = [ln for ln in tb.log if " WARN " in ln or "WARNING" in ln]
    assert len(warned) <= len([n for n in want if n.startswith("torn-")]) + 1, warned


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    _fork_and_kill(sys.argv[1], sys.argv[2])
