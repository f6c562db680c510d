"""Fault 4: several writers in one log directory.

- Two `LearningRateLogger`s in one `fit` (one per step, one per epoch),
  with `ReduceLROnPlateau` recording through both.
- A `LearningRateLogger` next to `keras.callbacks.TensorBoard`, as the
  README suggests.
- Two trainings in two processes writing to one directory at once.
- Two writers whose file names collide (two processes with one host name
  and pid, e.g. containers on the host network, in the same second).

No file may be clobbered (every file whole, each readable on its own),
and the run must read back with every record once, through the CLI and
the plugin.
"""

import json
import os
import signal
import sys
import time

import faults
import numpy as np
import pytest
from keras_backend import on_every_backend, tensorflow_only

pytestmark = on_every_backend
SPE = 6  # 48 training samples, batch 8
EPOCHS = 10


def _whole_files(run_dir):
    """`{path: RunData}` of each event file read alone; asserts each is whole."""
    runs = {}
    for path in faults.event_files(run_dir):
        payloads, end, size = faults.framed_records(path)
        assert end == size, path
        runs[path] = faults.run_from_payloads([payloads])
    return runs


def _served(logdir, tensorboard_app, name, run):
    from tb_lr_plugin import loader

    found = loader.load(str(logdir))
    assert found.damaged == []
    faults.assert_same_run(found.runs[name].data, run, name)
    tb = tensorboard_app(logdir)
    tb.reload()
    faults.assert_plugin_serves(tb, name, run)
    return tb


def test_two_loggers_in_one_fit_write_two_whole_files_and_each_record_once(
    tmp_path, tensorboard_app
):
    import keras
    from tb_lr_plugin.callbacks import LearningRateLogger, ReduceLROnPlateau
    from training import data, model, read_run

    from tb_lr_plugin import audit

    run_dir = tmp_path / "run"
    x, y = data(noise=2.0)
    m = model(keras.optimizers.SGD(0.05))
    m.fit(
        x,
        y,
        batch_size=8,
        epochs=EPOCHS,
        validation_split=0.25,
        verbose=0,
        callbacks=[
            ReduceLROnPlateau(factor=0.5, patience=1, min_delta=0.5),
            LearningRateLogger(run_dir),
            LearningRateLogger(str(run_dir) + "/", update_freq="epoch"),
        ],
    )
    files = _whole_files(run_dir)
    assert len(files) == 2
    per_step, per_epoch = sorted(files.values(), key=lambda r: -len(r.optimizers["sgd"]))
    np.testing.assert_array_equal(per_step.optimizers["sgd"][:, 0], np.arange(1, EPOCHS * SPE + 1))
    np.testing.assert_array_equal(per_epoch.optimizers["sgd"][:, 0], SPE * np.arange(1, EPOCHS + 1))
    # The epoch logger's rows are the step logger's at those steps.
    by_step = {r[0]: tuple(r) for r in per_step.optimizers["sgd"]}
    assert all(by_step[r[0]] == tuple(r) for r in per_epoch.optimizers["sgd"])

    run = read_run(run_dir)
    np.testing.assert_array_equal(run.optimizers["sgd"], per_step.optimizers["sgd"])
    reductions = [e for e in run.events if e["kind"] == "reduction"]
    assert len(reductions) >= 2
    keys = [json.dumps(e, sort_keys=True) for e in run.events]
    assert len(keys) == len(set(keys)), "an event recorded twice"
    assert len(run.sessions) == 1
    assert [e["epoch"] for e in run.epochs] == list(range(EPOCHS))
    assert [p["epoch"] for p in run.plateau] == list(range(EPOCHS))
    # No "new fit from step 0" for a second logger of the same fit.
    assert "schedule_restart" not in {f["kind"] for f in audit.find(run, None)}
    _served(tmp_path, tensorboard_app, "run", run)


@tensorflow_only
def test_a_logger_next_to_kerass_tensorboard_callback(tmp_path, tensorboard_app):
    import keras
    import tensorflow as tf
    from tb_lr_plugin.callbacks import LearningRateLogger
    from training import data, model, read_run

    run_dir = tmp_path / "run"
    x, y = data(noise=2.0)
    m = model(keras.optimizers.SGD(0.05))
    m.fit(
        x,
        y,
        batch_size=8,
        epochs=EPOCHS,
        validation_split=0.25,
        verbose=0,
        callbacks=[
            keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=1, min_delta=0.5),
            LearningRateLogger(run_dir),
            keras.callbacks.TensorBoard(run_dir, update_freq=1),
        ],
    )
    ours = _whole_files(run_dir)
    assert len(ours) == 1
    keras_files = faults.event_files(run_dir / "train") + faults.event_files(run_dir / "validation")
    assert len(keras_files) == 2
    keras_lr = []
    for path in keras_files:
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == "epoch_learning_rate":
                    keras_lr.append(float(tf.make_ndarray(value.tensor)))
    run = read_run(run_dir)
    rows = run.optimizers["sgd"]
    np.testing.assert_array_equal(rows[:, 0], np.arange(1, EPOCHS * SPE + 1))
    # Both writers saw the same LRs.
    changes = {np.float32(e["new_lr"]) for e in run.events if e["kind"] == "lr_change"}
    assert len(changes) >= 2
    assert {np.float32(v) for v in keras_lr} <= {np.float32(v) for v in rows[:, 2]} | changes

    tb = _served(tmp_path, tensorboard_app, "run", run)
    runs = json.loads(tb.get("runs").data)["runs"]
    assert [(r["run"], r["source"]) for r in runs] == [("run", "logger")]
    loss = json.loads(tb.get("loss", run="run").data)
    sources = {(s["name"], s["source"]) for s in loss["series"]}
    assert ("batch_loss", "logger") in sources
    assert any(source == "keras" for _, source in sources)


def test_colliding_file_names_never_share_a_file(tmp_path, monkeypatch):
    from training import read_run

    from tb_lr_plugin import event_writer, metadata

    # Same second, same host, same pid and the same counter: what two
    # processes in containers sharing the host's name and pid space produce.
    monkeypatch.setattr(event_writer, "_file_counter", iter([7, 7, 8, 9, 10]))
    monkeypatch.setattr(event_writer.time, "time", lambda: 1_700_000_000.0)
    first, second = event_writer.EventWriter(tmp_path), event_writer.EventWriter(tmp_path)
    for k, writer in enumerate((first, second)):
        rows = [[s, 0.1 * (k + 1), 0.1 * (k + 1)] for s in range(1, 11)]
        writer.add_array(metadata.KIND_LR, "lr/sgd", rows, optimizer="sgd")
        assert writer.flush()
    first.close()
    second.close()
    assert first.path != second.path
    assert first.path.endswith(".7.lr") and second.path.endswith(".8.lr")
    files = _whole_files(tmp_path)
    assert sorted(r.optimizers["sgd"][0, 1] for r in files.values()) == [0.1, 0.2]
    assert len(read_run(tmp_path).optimizers["sgd"]) == 10


# -- two trainings at once: python test_faults_shared_logdir.py RUN_DIR --------


def _two_trainings(run_dir):
    import keras  # noqa: F401 - imported once, before forking

    pids = []
    for k in range(2):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                import keras
                import tensorflow as tf
                from tb_lr_plugin.callbacks import LearningRateLogger
                from training import data, model

                tf.config.threading.set_intra_op_parallelism_threads(1)
                tf.config.threading.set_inter_op_parallelism_threads(1)
                x, y = data(seed=k)
                m = model(keras.optimizers.SGD(0.01 * (k + 1)), seed=k)
                logger = LearningRateLogger(run_dir, flush_secs=0.01)
                m.fit(x, y, batch_size=4, epochs=30, verbose=0, callbacks=[logger])
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    deadline = time.monotonic() + 90
    codes = []
    for pid in pids:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                codes.append(os.waitstatus_to_exitcode(status))
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
    print(json.dumps({"codes": codes}))


@pytest.mark.slow
@tensorflow_only
def test_two_trainings_writing_one_log_dir_at_once(tmp_path, tensorboard_app):
    from training import read_run

    from tb_lr_plugin import audit

    run_dir = tmp_path / "run"
    result = faults.python([os.path.abspath(__file__), str(run_dir)], timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"codes": [0, 0]}
    files = _whole_files(run_dir)
    assert len(files) == 2
    # Each file alone is its training, complete: 30 epochs of 16 steps.
    lrs = []
    for run in files.values():
        rows = run.optimizers["sgd"]
        faults.assert_contiguous(rows)
        assert rows[-1, 0] == 30 * 16 and len(set(rows[:, 2])) == 1
        lrs.append(float(np.float32(rows[0, 2])))
        assert [e["epoch"] for e in run.epochs] == list(range(30))
    assert sorted(lrs) == [float(np.float32(0.01)), float(np.float32(0.02))]
    # Together they are one run whose second fit restarted at step 0: the
    # audit says so rather than mixing them silently.
    run = read_run(run_dir)
    faults.assert_contiguous(run.optimizers["sgd"])
    kinds = [(f["kind"], f["severity"]) for f in audit.find(run, None)]
    assert ("schedule_restart", "info") in kinds
    _served(tmp_path, tensorboard_app, "run", run)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    _two_trainings(sys.argv[1])
