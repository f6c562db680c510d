"""Fault 5: `tf.distribute.MultiWorkerMirroredStrategy`, two real workers.

Two worker processes on 127.0.0.1 (a `TF_CONFIG` each, free ports) train
one model together, each with the same callbacks writing to the same
`log_dir` (as on a shared file system). Only the chief may write: one
event file, every record once, and no warning on the other worker.

Keras 3.15's `fit` does not run under this strategy as shipped
(keras-team/keras#20585, tensorflow/tensorflow#72388): it reduces the
first data batch, a tuple, with `strategy.reduce`, which this strategy
does not map over a structure, and reduces scalar logs with `axis=0`.
The workers work around both in `strategy.reduce` (`_patch_reduce`),
changing nothing else.
"""

import json
import os
import subprocess
import sys
import time

import faults
import numpy as np
import pytest
from conftest import free_port

pytestmark = pytest.mark.slow
EPOCHS = 6


def _patch_reduce(strategy):
    import tensorflow as tf

    reduce = strategy.reduce

    def one(op, value, axis):
        first = getattr(value, "values", (value,))[0]
        if axis is not None and first.shape.rank == 0:
            axis = None  # a scalar log: its mean over the replicas
        return reduce(op, value, axis=axis)

    strategy.reduce = lambda op, value, axis=None: tf.nest.map_structure(
        lambda v: one(op, v, axis), value
    )


def _worker(logdir):
    """One worker (`python test_faults_multiworker.py LOGDIR`, TF_CONFIG set)."""
    import warnings

    import keras
    import tensorflow as tf
    from tb_lr_plugin.callbacks import LearningRateLogger, ReduceLROnPlateau
    from training import data, model

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    _patch_reduce(strategy)
    x, y = data(n=64, noise=2.0)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(8).with_options(options)
    with strategy.scope():
        m = model(keras.optimizers.SGD(0.05))

    class SeenLR(keras.callbacks.Callback):
        lrs = []

        def on_epoch_end(self, epoch, logs=None):
            self.lrs.append(float(self.model.optimizer.learning_rate.numpy()))

    callbacks = [
        SeenLR(),  # the LR each epoch trained with, before any reduction
        ReduceLROnPlateau("loss", factor=0.5, patience=1, min_delta=0.5),
        LearningRateLogger(logdir),
    ]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m.fit(dataset, epochs=EPOCHS, verbose=0, callbacks=callbacks)
    ours = [
        str(w.message)
        for w in caught
        if any(n in str(w.message) for n in ("tb_lr_plugin", "LearningRate", "ReduceLROnPlateau"))
    ]
    task = json.loads(os.environ["TF_CONFIG"])["task"]
    report = {
        "index": task["index"],
        "pid": os.getpid(),
        "replicas": strategy.num_replicas_in_sync,
        "steps": int(m.optimizer.iterations.numpy()),
        "lrs": SeenLR.lrs,
        "warnings": ours,
    }
    print(json.dumps(report), flush=True)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Runs the two workers; returns `(logdir, [report of worker 0, 1])`."""
    logdir = tmp_path_factory.mktemp("mwms")
    hosts = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    procs = []
    for index in range(2):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        env["TF_CONFIG"] = json.dumps(
            {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}}
        )
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [faults.HERE, env.get("PYTHONPATH")]))
        procs.append(
            subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), str(logdir / "run")],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    deadline = time.monotonic() + 150
    outputs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            outputs.append((proc.returncode, out, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for code, _, err in outputs:
        assert code == 0, err[-4000:]
    return logdir, [json.loads(out.strip().splitlines()[-1]) for _, out, _ in outputs]


def test_the_two_workers_trained_one_model_together(cluster):
    _, (chief, other) = cluster
    assert chief["replicas"] == other["replicas"] == 2
    assert chief["steps"] == other["steps"] > 0
    assert chief["lrs"] == other["lrs"]
    assert len(set(chief["lrs"])) >= 2  # ReduceLROnPlateau acted, on both


def test_only_the_chief_writes_one_copy_of_every_record(cluster):
    from training import read_run

    logdir, (chief, other) = cluster
    (path,) = faults.event_files(logdir / "run")
    assert f".{chief['pid']}." in os.path.basename(path)
    payloads, end, size = faults.framed_records(path)
    assert end == size
    run = read_run(logdir / "run")
    steps = chief["steps"]
    spe = steps // EPOCHS
    for rows in (run.optimizers["sgd"], run.batch["loss"]):
        faults.assert_contiguous(rows)
        assert rows[-1, 0] == steps
    assert [(e["epoch"], e["step"]) for e in run.epochs] == [
        (e, spe * (e + 1)) for e in range(EPOCHS)
    ]
    assert [p["epoch"] for p in run.plateau] == list(range(EPOCHS))
    keys = [json.dumps(e, sort_keys=True) for e in run.events]
    assert len(keys) == len(set(keys))
    assert len(run.sessions) == 1
    # What the chief recorded is what both workers trained with.
    actual = run.optimizers["sgd"][:, 2]
    np.testing.assert_allclose(actual[spe - 1 :: spe], chief["lrs"], rtol=1e-7)
    # One reduction event per change (one after the last epoch shows in no epoch).
    changes = sum(a != b for a, b in zip(chief["lrs"][:-1], chief["lrs"][1:], strict=True))
    reductions = [e for e in run.events if e["kind"] == "reduction"]
    assert len([e for e in reductions if e["epoch"] < EPOCHS - 1]) == changes
    assert chief["warnings"] == [] and other["warnings"] == []


def test_the_cli_and_the_plugin_read_the_chiefs_records(cluster, tensorboard_app):
    from training import read_run

    from tb_lr_plugin import loader

    logdir, _ = cluster
    run = read_run(logdir / "run")
    found = loader.load(str(logdir))
    assert list(found.runs) == ["run"] and found.damaged == []
    faults.assert_same_run(found.runs["run"].data, run)
    tb = tensorboard_app(logdir)
    tb.reload()
    faults.assert_plugin_serves(tb, "run", run)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    _worker(sys.argv[1])
