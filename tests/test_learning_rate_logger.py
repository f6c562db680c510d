"""LearningRateLogger records planned and actual LR exactly, step by step.

Each plan is checked against an independent numpy computation of its
formula at the contract's step semantics: the row at step `s` carries the
LR used by update `s`, i.e. the schedule evaluated at `s - 1`.
"""

import math

import keras
import numpy as np
import pytest
from keras_backend import not_on, on_every_backend
from tb_lr_plugin.callbacks import LearningRateLogger
from training import data, model, read_run

pytestmark = on_every_backend

STEPS_PER_EPOCH = 8  # 64 samples, batch 8


def exponential(lr0, decay_steps, rate, staircase=False):
    def f(step):
        p = step / decay_steps
        return lr0 * rate ** (np.floor(p) if staircase else p)

    return f


def polynomial(lr0, decay_steps, end, power, cycle):
    def f(step):
        step = step.astype(np.float64)
        if cycle:
            mult = np.where(step == 0, 1.0, np.ceil(step / decay_steps))
            ds = decay_steps * mult
        else:
            ds = decay_steps
            step = np.minimum(step, decay_steps)
        return (lr0 - end) * (1 - step / ds) ** power + end

    return f


def cosine(lr0, decay_steps, alpha, warmup_target, warmup_steps):
    def f(step):
        warm = lr0 + (warmup_target - lr0) * step / warmup_steps
        s = np.minimum(step - warmup_steps, decay_steps)
        decayed = (1 - alpha) * 0.5 * (1 + np.cos(np.pi * s / decay_steps)) + alpha
        return np.where(step < warmup_steps, warm, warmup_target * decayed)

    return f


def piecewise(boundaries, values):
    def f(step):
        return np.array(values)[np.searchsorted(boundaries, step, side="left")]

    return f


def inverse_time(lr0, decay_steps, rate, staircase=False):
    def f(step):
        p = step / decay_steps
        return lr0 / (1 + rate * (np.floor(p) if staircase else p))

    return f


def cosine_restarts(lr0, first, t_mul=2.0, m_mul=1.0, alpha=0.0):
    def f(step):
        frac = step / first
        i = np.floor(np.log(1 - frac * (1 - t_mul)) / np.log(t_mul))
        frac = (frac - (1 - t_mul**i) / (1 - t_mul)) / t_mul**i
        cos = 0.5 * m_mul**i * (1 + np.cos(np.pi * frac))
        return lr0 * ((1 - alpha) * cos + alpha)

    return f


def plans(S):  # noqa: N803 - a Keras's `optimizers.schedules`
    """`{name: (schedule, formula)}` for the schedules module `S`."""
    return {
        "exponential": (S.ExponentialDecay(0.1, 10, 0.5), exponential(0.1, 10, 0.5)),
        "exponential_staircase": (
            S.ExponentialDecay(0.1, 10, 0.5, staircase=True),
            exponential(0.1, 10, 0.5, True),
        ),
        "polynomial_power1": (
            S.PolynomialDecay(0.1, 30, 0.01, power=1.0),
            polynomial(0.1, 30, 0.01, 1.0, False),
        ),
        "polynomial_power2_cycle": (
            S.PolynomialDecay(0.1, 12, 0.001, power=2.0, cycle=True),
            polynomial(0.1, 12, 0.001, 2.0, True),
        ),
        "cosine_warmup": (
            S.CosineDecay(0.0, 30, alpha=0.1, warmup_target=0.1, warmup_steps=10),
            cosine(0.0, 30, 0.1, 0.1, 10),
        ),
        "piecewise": (
            S.PiecewiseConstantDecay([10, 25], [0.1, 0.05, 0.01]),
            piecewise([10, 25], [0.1, 0.05, 0.01]),
        ),
        "inverse_time": (S.InverseTimeDecay(0.1, 5, 0.5), inverse_time(0.1, 5, 0.5)),
        "cosine_restarts": (S.CosineDecayRestarts(0.1, 8), cosine_restarts(0.1, 8)),
    }


PLANS = plans(keras.optimizers.schedules)


def assert_float32_equal(recorded, expected):
    np.testing.assert_allclose(recorded, expected, rtol=2e-6, atol=1e-9)


@pytest.mark.parametrize("name", sorted(PLANS))
def test_schedule_planned_and_actual_match_formula_every_step(tmp_path, name):
    schedule, formula = PLANS[name]
    x, y = data()
    m = model(keras.optimizers.SGD(schedule))
    m.fit(x, y, batch_size=8, epochs=5, verbose=0, callbacks=[LearningRateLogger(tmp_path)])
    rows = read_run(tmp_path).optimizers["sgd"]
    np.testing.assert_array_equal(rows[:, 0], np.arange(1, 5 * STEPS_PER_EPOCH + 1))
    expected = formula(rows[:, 0] - 1)
    assert_float32_equal(rows[:, 1], expected)
    assert_float32_equal(rows[:, 2], expected)


def test_constant_lr_is_planned_and_actual(tmp_path):
    x, y = data()
    m = model(keras.optimizers.Adam(learning_rate=0.001))
    m.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[LearningRateLogger(tmp_path)])
    rows = read_run(tmp_path).optimizers["adam"]
    assert rows.shape == (3 * STEPS_PER_EPOCH, 3)
    assert_float32_equal(rows[:, 1:], np.full((24, 2), 0.001))


def tutorial_scheduler(epoch, lr):
    if epoch < 10:
        return lr
    return lr * math.exp(-0.1)


def test_learning_rate_scheduler_function_is_the_plan(tmp_path):
    x, y = data()
    m = model(keras.optimizers.SGD(0.1))
    m.fit(
        x,
        y,
        batch_size=8,
        epochs=14,
        verbose=0,
        callbacks=[
            keras.callbacks.LearningRateScheduler(tutorial_scheduler),
            LearningRateLogger(tmp_path, schedule=tutorial_scheduler),
        ],
    )
    run = read_run(tmp_path)
    rows = run.optimizers["sgd"]
    epoch = (rows[:, 0] - 1) // STEPS_PER_EPOCH
    expected = 0.1 * np.exp(-0.1 * np.maximum(epoch - 9, 0))
    assert_float32_equal(rows[:, 1], expected)
    assert_float32_equal(rows[:, 2], expected)
    # The scheduler's changes follow the plan the logger was given: not
    # unexplained changes.
    assert not [e for e in run.events if e["kind"] == "lr_change"]


def test_stock_scheduler_changes_are_lr_change_events_without_the_plan(tmp_path):
    x, y = data()
    m = model(keras.optimizers.SGD(0.1))
    m.fit(
        x,
        y,
        batch_size=8,
        epochs=13,
        verbose=0,
        callbacks=[
            keras.callbacks.LearningRateScheduler(tutorial_scheduler),
            LearningRateLogger(tmp_path),
        ],
    )
    changes = [e for e in read_run(tmp_path).events if e["kind"] == "lr_change"]
    # Set at the start of epochs 10-12: reported at the boundary before.
    assert [(e["epoch"], e["step"]) for e in changes] == [(e, 8 * (e + 1)) for e in (9, 10, 11)]


@not_on("torch", "Keras's torch backend requires steps_per_execution=1")
def test_steps_per_execution_gives_every_inner_step_its_value(tmp_path):
    schedule, formula = PLANS["exponential"]
    x, y = data()
    m = model(keras.optimizers.SGD(schedule))
    m.compile(optimizer=m.optimizer, loss="mse", steps_per_execution=3)
    m.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[LearningRateLogger(tmp_path)])
    run = read_run(tmp_path)
    rows = run.optimizers["sgd"]
    # 16 batches; Keras 3.5 runs the short last execution of each epoch in
    # full (18 updates): every update the optimizer made is recorded.
    done = int(keras.ops.convert_to_numpy(m.optimizer.iterations))
    assert done in (16, 18)
    np.testing.assert_array_equal(rows[:, 0], np.arange(1, done + 1))
    assert_float32_equal(rows[:, 2], formula(rows[:, 0] - 1))
    # The loss is known only where Keras reports it: the last inner step of
    # each execution, as Keras's own batch summaries.
    assert set(run.batch["loss"][:, 0]) <= set(range(1, done + 1))
    if done == 16:  # Keras 3.5 reports its executions with other batch indices
        assert done in run.batch["loss"][:, 0]


def test_fit_twice_and_resume_continue_the_step_axis(tmp_path):
    schedule, formula = PLANS["cosine_warmup"]
    x, y = data()
    m = model(keras.optimizers.SGD(schedule))
    logger = LearningRateLogger(tmp_path)
    m.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[logger])
    m.fit(x, y, batch_size=8, epochs=4, initial_epoch=2, verbose=0, callbacks=[logger])
    # A new logger, as after a restart, on the same optimizer state.
    m.fit(
        x,
        y,
        batch_size=8,
        epochs=5,
        initial_epoch=4,
        verbose=0,
        callbacks=[LearningRateLogger(tmp_path)],
    )
    run = read_run(tmp_path)
    rows = run.optimizers["sgd"]
    np.testing.assert_array_equal(rows[:, 0], np.arange(1, 41))
    assert_float32_equal(rows[:, 1], formula(rows[:, 0] - 1))
    assert [s["start_step"] for s in run.sessions] == [0, 16, 32]
    assert [s["initial_epoch"] for s in run.sessions] == [0, 2, 4]
    assert [e["epoch"] for e in run.epochs] == [0, 1, 2, 3, 4]
    assert [e["step"] for e in run.epochs] == [8, 16, 24, 32, 40]


def test_records_batch_and_epoch_losses(tmp_path):
    x, y = data()
    m = model(keras.optimizers.SGD(0.01))
    history = m.fit(
        x,
        y,
        batch_size=8,
        epochs=3,
        validation_split=0.25,
        verbose=0,
        callbacks=[LearningRateLogger(tmp_path)],
    )
    run = read_run(tmp_path)
    assert run.batch["loss"].shape == (18, 2)
    assert [e["logs"]["val_loss"] for e in run.epochs] == pytest.approx(history.history["val_loss"])
    assert [e["logs"]["loss"] for e in run.epochs] == pytest.approx(history.history["loss"])


def test_epoch_resolution_records_last_step_of_each_epoch(tmp_path):
    schedule, formula = PLANS["exponential"]
    x, y = data()
    m = model(keras.optimizers.SGD(schedule))
    m.fit(
        x,
        y,
        batch_size=8,
        epochs=3,
        verbose=0,
        callbacks=[LearningRateLogger(tmp_path, update_freq="epoch")],
    )
    rows = read_run(tmp_path).optimizers["sgd"]
    np.testing.assert_array_equal(rows[:, 0], [8, 16, 24])
    assert_float32_equal(rows[:, 2], formula(rows[:, 0] - 1))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"update_freq": "step"}, "update_freq='step'"),
        ({"flush_secs": 0}, "flush_secs=0"),
        ({"schedule": 3}, "schedule=3"),
    ],
)
def test_bad_arguments_fail_at_construction(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        LearningRateLogger(tmp_path, **kwargs)


def test_log_dir_must_be_a_path():
    with pytest.raises(ValueError, match="log_dir=None"):
        LearningRateLogger(None)
