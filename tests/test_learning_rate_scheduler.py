"""The drop-in LearningRateScheduler: Keras's LRs, tensors accepted, auditable."""

import contextlib
import io

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras_backend import on_every_backend
from tb_lr_plugin.callbacks import LearningRateLogger, LearningRateScheduler, ReduceLROnPlateau
from training import data, model, read_run

from tb_lr_plugin import audit

pytestmark = on_every_backend

STEPS_PER_EPOCH = 8


def scheduler(epoch, lr):
    if epoch < 10:
        return lr
    else:
        return lr * tf.math.exp(-0.1)


def test_tutorial_function_verbatim_fails_on_stock_keras():
    x, y = data()
    m = model(keras.optimizers.SGD(0.01))
    with pytest.raises(ValueError, match="should be a float"):
        m.fit(
            x,
            y,
            batch_size=8,
            epochs=12,
            verbose=0,
            callbacks=[keras.callbacks.LearningRateScheduler(scheduler)],
        )


def test_tutorial_function_verbatim_runs_and_is_recorded(tmp_path):
    x, y = data()
    m = model(keras.optimizers.SGD(0.01))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        m.fit(
            x,
            y,
            batch_size=8,
            epochs=14,
            verbose=0,
            callbacks=[LearningRateScheduler(scheduler, verbose=1), LearningRateLogger(tmp_path)],
        )
    assert "Epoch 11: LearningRateScheduler setting learning rate to" in out.getvalue()
    run = read_run(tmp_path)
    rows = run.optimizers["sgd"]
    epoch = (rows[:, 0] - 1) // STEPS_PER_EPOCH
    expected = 0.01 * np.exp(-0.1 * np.maximum(epoch - 9, 0))
    np.testing.assert_allclose(rows[:, 1], expected, rtol=1e-6)
    np.testing.assert_allclose(rows[:, 2], expected, rtol=1e-6)
    events = [e for e in run.events if e["kind"] == "scheduler"]
    assert [(e["epoch"], e["step"]) for e in events] == [(e, 8 * e) for e in range(10, 14)]
    assert not [e for e in run.events if e["kind"] == "lr_change"]


def test_same_learning_rates_as_keras_for_float_schedules(tmp_path):
    def halve_every_3(epoch, lr):
        return lr / 2 if epoch and epoch % 3 == 0 else lr

    x, y = data()

    def lrs(callback):
        m = model(keras.optimizers.SGD(0.1))
        seen = []
        record = keras.callbacks.LambdaCallback(
            on_epoch_end=lambda e, logs: seen.append(float(m.optimizer.learning_rate))
        )
        m.fit(x, y, batch_size=8, epochs=8, verbose=0, callbacks=[callback, record])
        return seen

    assert lrs(LearningRateScheduler(halve_every_3)) == lrs(
        keras.callbacks.LearningRateScheduler(halve_every_3)
    )


def test_a_reduction_kept_by_the_scheduler_shows_as_actual_below_plan(tmp_path):
    # The tutorial's function passes the current LR through: a plateau
    # reduction sticks, so the actual LR leaves the scheduler's plan.
    x, y = data(noise=2.0)
    m = model(keras.optimizers.SGD(0.05))
    m.fit(
        x,
        y,
        batch_size=8,
        epochs=12,
        validation_split=0.25,
        verbose=0,
        callbacks=[
            LearningRateScheduler(scheduler),
            ReduceLROnPlateau(factor=0.5, patience=1, min_delta=10.0),
            LearningRateLogger(tmp_path),
        ],
    )
    run = read_run(tmp_path)
    rows = run.optimizers["sgd"]
    epoch = (rows[:, 0] - 1) // 6
    np.testing.assert_allclose(
        rows[:, 1], 0.05 * np.exp(-0.1 * np.maximum(epoch - 9, 0)), rtol=1e-6
    )
    first = min(e["step"] for e in run.events if e["kind"] == "reduction")
    assert np.all(rows[rows[:, 0] > first, 2] < rows[rows[:, 0] > first, 1])
    np.testing.assert_array_equal(rows[rows[:, 0] <= first, 2], rows[rows[:, 0] <= first, 1])
    # The audit says which callback won: the reductions stuck.
    (conflict,) = [f for f in audit.find(run) if f["kind"] == "scheduler_conflict"]
    assert conflict["severity"] == "info"
    assert conflict["message"].startswith("ReduceLROnPlateau won")
    assert conflict["step"] == first


def test_a_scheduler_ignoring_the_lr_undoes_every_reduction(tmp_path):
    def fixed(epoch):
        return 0.05

    x, y = data(noise=2.0)
    m = model(keras.optimizers.SGD(0.05))
    m.fit(
        x,
        y,
        batch_size=8,
        epochs=6,
        validation_split=0.25,
        verbose=0,
        callbacks=[
            LearningRateScheduler(fixed),
            ReduceLROnPlateau(factor=0.5, patience=1, min_delta=10.0),
            LearningRateLogger(tmp_path),
        ],
    )
    run = read_run(tmp_path)
    reductions = [e for e in run.events if e["kind"] == "reduction"]
    restored = [e for e in run.events if e["kind"] == "scheduler"]
    assert reductions, "the plateau callback should have fired"
    # Each reduction is undone by the scheduler at the next epoch start.
    assert [e["epoch"] + 1 for e in reductions if e["epoch"] < 5] == [e["epoch"] for e in restored]
    np.testing.assert_allclose(run.optimizers["sgd"][:, 1:], 0.05, rtol=1e-6)
    # The audit says which callback won: the scheduler undid every reduction
    # that had a next epoch.
    (conflict,) = [f for f in audit.find(run) if f["kind"] == "scheduler_conflict"]
    assert conflict["severity"] == "warning"
    assert conflict["message"].startswith("LearningRateScheduler won")
    assert conflict["undone"] == len(restored)
    assert (conflict["epoch"], conflict["step"]) == (reductions[0]["epoch"], reductions[0]["step"])


def test_rejects_a_non_number():
    cb = LearningRateScheduler(lambda epoch: "fast")
    m = model(keras.optimizers.SGD(0.1))
    cb.set_model(m)
    with pytest.raises(ValueError, match="should be a float"):
        cb.on_epoch_begin(0)


def test_schedule_must_be_callable():
    with pytest.raises(ValueError, match="schedule=0.1"):
        LearningRateScheduler(0.1)
