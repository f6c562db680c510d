"""The callbacks never hurt training, and cope with wrapped optimizers,
several optimizers, unwritable log directories, crashes and strategies."""

import os
import signal
import subprocess
import sys
import textwrap
import warnings

import keras
import numpy as np
import pytest
from keras_backend import on_every_backend, tensorflow_only
from tb_lr_plugin.callbacks import LearningRateLogger, ReduceLROnPlateau
from training import data, model, read_run

pytestmark = on_every_backend

HERE = os.path.dirname(os.path.abspath(__file__))


def test_training_is_identical_with_and_without_the_callbacks(tmp_path):
    x, y = data(noise=2.0)

    def train(callbacks):
        m = model(keras.optimizers.SGD(0.05), seed=3)
        h = m.fit(
            x,
            y,
            batch_size=8,
            epochs=6,
            validation_split=0.25,
            verbose=0,
            shuffle=False,
            callbacks=callbacks,
        )
        return h.history, [w.numpy() for w in m.weights]

    plain_history, plain_weights = train([keras.callbacks.ReduceLROnPlateau(patience=1)])
    history, weights = train([ReduceLROnPlateau(patience=1), LearningRateLogger(tmp_path)])
    assert history["loss"] == plain_history["loss"]
    assert history["val_loss"] == plain_history["val_loss"]
    for a, b in zip(weights, plain_weights, strict=True):
        np.testing.assert_array_equal(a, b)


def test_loss_scale_optimizer_records_the_inner_optimizer(tmp_path):
    x, y = data()
    inner = keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(0.1, 4, 0.5))
    m = model(keras.optimizers.LossScaleOptimizer(inner))
    m.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[LearningRateLogger(tmp_path)])
    rows = read_run(tmp_path).optimizers["sgd"]
    np.testing.assert_allclose(rows[:, 2], 0.1 * 0.5 ** ((rows[:, 0] - 1) / 4), rtol=2e-6)


class TwoOptimizers(keras.optimizers.Optimizer):
    """Applies one optimizer to the first layer and another to the rest,
    exposing them as `optimizers` (the shape Keras's callbacks look for)."""

    SPLIT = 2  # kernel and bias of the first Dense layer

    def __init__(self, first, second, **kwargs):
        super().__init__(learning_rate=1.0, **kwargs)
        self.optimizers = [first, second]

    def build(self, variables):
        super().build(variables)
        self.optimizers[0].build(variables[: self.SPLIT])
        self.optimizers[1].build(variables[self.SPLIT :])

    def apply(self, grads, trainable_variables=None):
        grads = list(grads)
        variables = list(trainable_variables or self._trainable_variables)
        self.optimizers[0].apply(grads[: self.SPLIT], variables[: self.SPLIT])
        self.optimizers[1].apply(grads[self.SPLIT :], variables[self.SPLIT :])
        self._iterations.assign_add(1)


def test_several_optimizers_get_one_series_each(tmp_path):
    x, y = data()
    first = keras.optimizers.SGD(0.01, name="encoder")
    second = keras.optimizers.Adam(
        keras.optimizers.schedules.ExponentialDecay(0.1, 8, 0.5), name="head"
    )
    m = model(TwoOptimizers(first, second))
    m.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[LearningRateLogger(tmp_path)])
    run = read_run(tmp_path)
    assert sorted(run.optimizers) == ["encoder", "head"]
    np.testing.assert_allclose(run.optimizers["encoder"][:, 2], 0.01, rtol=1e-6)
    head = run.optimizers["head"]
    np.testing.assert_allclose(head[:, 2], 0.1 * 0.5 ** ((head[:, 0] - 1) / 8), rtol=2e-6)


def test_unwritable_log_dir_warns_once_and_training_finishes(tmp_path):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where the log directory should be")
    x, y = data()
    m = model(keras.optimizers.SGD(0.01))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = m.fit(
            x, y, batch_size=8, epochs=3, verbose=0, callbacks=[LearningRateLogger(blocker / "run")]
        )
    assert len(history.history["loss"]) == 3
    ours = [w for w in caught if "could not write learning-rate logs" in str(w.message)]
    assert len(ours) == 1


def test_log_dir_deleted_during_training_is_recreated(tmp_path):
    import shutil

    run_dir = tmp_path / "run"

    class DeleteAfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                shutil.rmtree(run_dir)

    x, y = data()
    m = model(keras.optimizers.SGD(0.01))
    with pytest.warns(RuntimeWarning, match="was deleted during training"):
        m.fit(
            x,
            y,
            batch_size=8,
            epochs=3,
            verbose=0,
            callbacks=[LearningRateLogger(run_dir), DeleteAfterFirstEpoch()],
        )
    rows = read_run(run_dir).optimizers["sgd"]
    # What was flushed before the deletion is gone with it; the rest is kept.
    np.testing.assert_array_equal(rows[:, 0], np.arange(9, 25))


CRASHING_TRAINING = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, {here!r})
    from training import data, model
    import keras
    from tb_lr_plugin.callbacks import LearningRateLogger

    class Crash(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                print("flushed", flush=True)
                os.kill(os.getpid(), 9)

    x, y = data()
    m = model(keras.optimizers.SGD(0.01))
    m.fit(x, y, batch_size=8, epochs=10, verbose=0,
          callbacks=[LearningRateLogger({logdir!r}), Crash()])
    """
)


def test_sigkill_keeps_everything_flushed_before_it(tmp_path):
    script = CRASHING_TRAINING.format(here=HERE, logdir=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == -signal.SIGKILL
    run = read_run(tmp_path)
    # The logger flushes at every epoch end; it comes before Crash.
    np.testing.assert_array_equal(run.optimizers["sgd"][:, 0], np.arange(1, 25))
    assert [e["epoch"] for e in run.epochs] == [0, 1, 2]


@tensorflow_only
def test_mirrored_strategy_writes_one_copy(tmp_path):
    import tensorflow as tf

    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    x, y = data()
    with strategy.scope():
        m = model(keras.optimizers.SGD(0.01))
    m.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[LearningRateLogger(tmp_path)])
    files = [f for f in os.listdir(tmp_path) if "tfevents" in f]
    assert len(files) == 1
    np.testing.assert_array_equal(read_run(tmp_path).optimizers["sgd"][:, 0], np.arange(1, 17))


@pytest.mark.parametrize(
    "tf_config, chief",
    [
        ('{"cluster": {"worker": ["a", "b"]}, "task": {"type": "worker", "index": 0}}', True),
        ('{"cluster": {"worker": ["a", "b"]}, "task": {"type": "worker", "index": 1}}', False),
        (
            '{"cluster": {"chief": ["c"], "worker": ["a"]}, '
            '"task": {"type": "worker", "index": 0}}',
            False,
        ),
    ],
)
def test_only_the_chief_writes(tmp_path, monkeypatch, tf_config, chief):
    monkeypatch.setenv("TF_CONFIG", tf_config)
    x, y = data()
    m = model(keras.optimizers.SGD(0.01))
    m.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[LearningRateLogger(tmp_path)])
    assert bool(os.listdir(tmp_path)) == chief
