"""Trainings that log to a real S3 server on 127.0.0.1, and its faults.

moto's S3 server runs for this module (fixture `store`), behind a proxy
that can add latency or answer 500; the logger finds it the way users
point boto3 and s3fs at any S3-compatible store: `AWS_ENDPOINT_URL`, with
credentials in the environment (TensorBoard's own reader: `S3_ENDPOINT`).

Acceptance: a 30 epochs x 100 steps training with `ReduceLROnPlateau`
written to `s3://` reads back, through `tb-lr-audit` on the URL, exactly as
the same training written locally; `summary_iterator` reads a local copy;
a real `tensorboard --logdir s3://...` serves the tab. Then the faults: the
server stopped for 10 s mid-training, the server answering 500 for a
while, and SIGKILL followed by a resumed run in the same prefix. Each time
training finishes (but for the kill), there is one warning, everything
uploaded before the fault stays readable and everything is uploaded after.
"""

import json
import logging
import os
import signal
import threading
import time
import warnings

import numpy as np
import pytest
from conftest import TensorBoardProcess
from faults import assert_contiguous, csv_rows, python, run_cli, summary_iterator_events
from s3_store import S3Store, blocked_imports

EPOCHS, STEPS = 30, 100
WARNING = "could not upload learning-rate logs"


@pytest.fixture(scope="module")
def store():
    import s3fs

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    s3 = S3Store()
    saved = {k: os.environ.get(k) for k in s3.env}
    os.environ.update(s3.env)
    s3fs.S3FileSystem.clear_instance_cache()
    yield s3
    s3.close()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture(autouse=True)
def fresh_clients(store):
    """s3fs keeps one client per process: each test builds its own from the
    environment it sets (one test talks to moto without the proxy)."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    yield
    s3fs.S3FileSystem.clear_instance_cache()
    store.proxy.fail = False


def fit(log_dirs, callbacks=(), epochs=EPOCHS):
    """The acceptance training: 100 steps per epoch, plateau reductions."""
    import keras
    import training
    from tb_lr_plugin.callbacks import LearningRateLogger, ReduceLROnPlateau

    x, y = training.data(32 * STEPS)
    model = training.model(keras.optimizers.SGD(0.05))
    loggers = [LearningRateLogger(d) for d in log_dirs]
    plateau = ReduceLROnPlateau(monitor="loss", patience=2, factor=0.5, min_delta=1e-3)
    model.fit(
        x, y, batch_size=32, epochs=epochs, verbose=0, callbacks=[*loggers, plateau, *callbacks]
    )
    return model


class AtEpoch:
    """A callback calling `action()` once, at the end of epoch `epoch`."""

    def __new__(cls, epoch, action):
        import keras

        class _At(keras.callbacks.Callback):
            def on_epoch_end(self, e, logs=None):
                if e == epoch:
                    action()

        return _At()


def audit(logdir):
    code, out, err = run_cli(logdir, "--format", "json")
    assert code == 0, err
    code, rows, err = run_cli(logdir, "--format", "csv")
    assert code == 0, err
    return json.loads(out)["runs"], csv_rows(rows)


def upload_warnings(caught):
    return [str(w.message) for w in caught if WARNING in str(w.message)]


# TensorBoard as installed without TensorFlow.
_TB_WITHOUT_TF = blocked_imports("tensorflow") + """
from tensorboard.main import run_main
sys.argv[0] = "tensorboard"
run_main()
"""


def test_a_training_logged_to_s3_reads_back_as_the_same_training_logged_locally(
    store, tmp_path
):
    local = tmp_path / "local"
    fit([str(local / "run"), "s3://logs/acceptance/run"])
    got_runs, got_rows = audit("s3://logs/acceptance")
    want_runs, want_rows = audit(local)
    reductions = [e for e in want_runs[0]["events"] if e["kind"] == "reduction"]
    assert len(reductions) >= 2, want_runs  # the plateau really reduced
    assert got_runs == want_runs
    assert sorted(got_rows) == sorted(want_rows) == [("run", "sgd")]
    np.testing.assert_array_equal(got_rows["run", "sgd"], want_rows["run", "sgd"])
    assert_contiguous(got_rows["run", "sgd"])
    assert len(got_rows["run", "sgd"]) == EPOCHS * STEPS

    # summary_iterator on a local copy of the objects, in name order: each
    # object whole, and the steps of every tag increasing across objects.
    mirror = tmp_path / "mirror"
    store.download("acceptance/", mirror)
    names = sorted(os.listdir(mirror / "run"))
    assert len(names) >= 2
    assert names == [k.rsplit("/", 1)[-1] for k in store.keys("acceptance/run/")]
    last = {}
    for name in names:
        events, errors = summary_iterator_events(str(mirror / "run" / name))
        assert errors == 0 and len(events) > 1, name
        from tensorboard.compat.proto import event_pb2

        for payload in events[1:]:
            event = event_pb2.Event.FromString(payload)
            for value in event.summary.value:
                assert event.step > last.get(value.tag, -1), (name, value.tag)
                last[value.tag] = event.step

    # A real TensorBoard reads the bucket (the TF-free install: its gfile
    # reads s3:// with boto3, endpoint from S3_ENDPOINT), and the Rust
    # loader reads the local mirror; both serve the same export.
    import sys

    served = []
    for logdir, flags, command in [
        ("s3://logs/acceptance", ["--load_fast=false"], [sys.executable, "-c", _TB_WITHOUT_TF]),
        (mirror, ["--load_fast=true"], None),
    ]:
        tb = TensorBoardProcess(logdir, *flags, "--reload_interval", "1", command=command)
        try:
            served.append(_wait_for_export(tb, len(want_rows["run", "sgd"])))
        finally:
            tb.stop()
    for rows in served:
        np.testing.assert_array_equal(rows["run", "sgd"], want_rows["run", "sgd"])


def _wait_for_export(tb, rows, timeout=90):
    """The export rows once TensorBoard has loaded all `rows` (it loads a
    run's files one reload at a time)."""
    deadline = time.monotonic() + timeout
    while True:
        status, _, body = tb.get("export", run="run", format="csv")
        got = csv_rows(body.decode()) if status == 200 else {}
        if len(got.get(("run", "sgd"), ())) >= rows or time.monotonic() > deadline:
            assert status == 200, "".join(tb.log)[-3000:]
            return got
        time.sleep(0.5)


def test_server_stopped_10_s_mid_training_then_restarted(store, monkeypatch):
    # Straight to moto, no proxy: a stopped server refuses connections.
    for key, value in store.direct_env.items():
        monkeypatch.setenv(key, value)
    before = {}

    def stop():
        before.update({k: store.get(k) for k in store.keys("stopped/")})
        store.stop_server()
        threading.Timer(10.0, store.start_server).start()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(["s3://logs/stopped/run"], [AtEpoch(9, stop)])
    assert before, "nothing was uploaded before the outage"
    assert len(upload_warnings(caught)) == 1, upload_warnings(caught)
    assert {k: store.get(k) for k in before} == before  # uploaded stays readable
    _, rows = audit("s3://logs/stopped")
    assert_contiguous(rows["run", "sgd"])
    assert len(rows["run", "sgd"]) == EPOCHS * STEPS  # all uploaded after


def test_server_answering_500_for_a_while(store):
    before = {}

    def fail():
        before.update({k: store.get(k) for k in store.keys("failing/")})
        store.proxy.fail = True

        def recover():
            store.proxy.fail = False

        # Longer than botocore's own retries (5 attempts, 6-12 s here),
        # which absorb a shorter fault before our writer sees an error.
        threading.Timer(15.0, recover).start()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(["s3://logs/failing/run"], [AtEpoch(9, fail)])
    assert before and not store.proxy.fail  # the fault ended during the training or its close
    assert len(upload_warnings(caught)) == 1, upload_warnings(caught)
    assert "We encountered an internal error" in upload_warnings(caught)[0]  # the 500
    assert {k: store.get(k) for k in before} == before
    _, rows = audit("s3://logs/failing")
    assert_contiguous(rows["run", "sgd"])
    assert len(rows["run", "sgd"]) == EPOCHS * STEPS


_KILLED = """
import os, signal, sys
sys.path.insert(0, os.environ["TESTS"])
import keras, training
from tb_lr_plugin.callbacks import LearningRateLogger, ReduceLROnPlateau

class KillMidEpoch(keras.callbacks.Callback):
    # SIGKILL in the middle of an epoch (not inside BackupAndRestore's
    # own, non-atomic write at the epoch end).
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
    def on_train_batch_end(self, batch, logs=None):
        if os.environ.get("KILL_AT") == f"{self.epoch}/{batch}":
            os.kill(os.getpid(), signal.SIGKILL)

x, y = training.data(32 * 100)
model = training.model(keras.optimizers.SGD(0.05))
model.fit(x, y, batch_size=32, epochs=30, verbose=0, callbacks=[
    keras.callbacks.BackupAndRestore(sys.argv[1]),
    LearningRateLogger("s3://logs/killed/run"),
    ReduceLROnPlateau(monitor="loss", patience=2, factor=0.5, min_delta=1e-3),
    KillMidEpoch(),
])
print("finished")
"""


def test_sigkill_loses_nothing_uploaded_and_the_resumed_run_continues_in_the_prefix(
    store, tmp_path
):
    import subprocess
    import sys

    from faults import HERE

    backup = str(tmp_path / "backup")
    env = dict(os.environ, TESTS=HERE, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED, backup],
        env=dict(env, KILL_AT="12/50"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    seen = {}  # every object as the parent saw it while the training ran
    while proc.poll() is None:
        for key in store.keys("killed/"):
            seen.setdefault(key, store.get(key))
        time.sleep(0.2)
    assert proc.returncode == -signal.SIGKILL
    assert len(seen) >= 2, seen.keys()
    assert {k: store.get(k) for k in seen} == seen  # nothing uploaded is lost
    _, rows = audit("s3://logs/killed")
    before = rows["run", "sgd"]
    assert_contiguous(before)
    assert len(before) >= 600  # several epochs were uploaded
    killed = store.keys("killed/")

    resumed = python(["-c", _KILLED, backup], timeout=300, env=env)
    assert "finished" in resumed.stdout, resumed.stderr[-3000:]
    keys = store.keys("killed/")
    # The resumed run's objects sort after the killed run's: TensorBoard
    # reads them in the order they were written.
    assert keys[: len(killed)] == killed and len(keys) > len(killed)
    assert all(k.startswith("killed/run/events.out.tfevents.") for k in keys)
    runs, rows = audit("s3://logs/killed")
    after = rows["run", "sgd"]
    # Everything uploaded before the kill, then the resumed run from its
    # checkpoint to the end. Between them, only what was flushed but not
    # yet uploaded when the process died can be missing.
    np.testing.assert_array_equal(after[: len(before)], before)
    resumed_rows = after[len(before) :]
    assert_contiguous(resumed_rows, first=int(resumed_rows[0, 0]))
    assert resumed_rows[0, 0] > len(before) and resumed_rows[-1, 0] == EPOCHS * STEPS
    lost = int(resumed_rows[0, 0]) - 1 - len(before)
    print(f"flushed but not uploaded at the kill: {lost} steps")
    assert len([e for e in runs[0]["events"] if e["kind"] == "reduction"]) >= 2
