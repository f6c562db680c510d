"""Keras 3.15's `MultiOptimizer`: one series per sub-optimizer, one decision for all."""

import contextlib
import io
import re

import keras
import numpy as np
import pytest
from keras_backend import on_every_backend
from tb_lr_plugin.callbacks import (
    LearningRateLogger,
    LearningRateScheduler,
    PlateauScheduled,
    ReduceLROnPlateau,
)
from training import data, read_run

pytestmark = [
    on_every_backend,
    pytest.mark.skipif(
        not hasattr(keras.optimizers, "MultiOptimizer"), reason="MultiOptimizer is new in 3.15"
    ),
]
REDUCING = dict(monitor="loss", factor=0.5, patience=0, min_delta=10.0)  # reduces every epoch


def multi_model(sgd_lr=0.1, adam_lr=0.01):
    """Dense `enc` updated by SGD, dense `head` by Adam."""
    keras.utils.set_random_seed(0)
    m = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="relu", name="enc"),
            keras.layers.Dense(1, name="head"),
        ]
    )
    sgd = keras.optimizers.SGD(sgd_lr, name="sgd_a")
    adam = keras.optimizers.Adam(adam_lr, name="adam_b")
    optimizer_map = keras.optimizers.OptimizerMap(sgd, {"head/.*": adam})
    m.compile(optimizer=keras.optimizers.MultiOptimizer(optimizer_map), loss="mse")
    return m


def fit(m, callbacks, epochs=3):
    x, y = data()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        m.fit(x, y, batch_size=8, epochs=epochs, verbose=0, callbacks=callbacks)
    return out.getvalue()


def test_the_logger_records_one_exact_series_per_sub_optimizer(tmp_path):
    m = multi_model()
    fit(m, [LearningRateLogger(tmp_path)], epochs=2)
    run = read_run(tmp_path)
    assert sorted(run.optimizers) == ["adam_b", "sgd_a"]
    for name, lr in (("sgd_a", 0.1), ("adam_b", 0.01)):
        rows = run.optimizers[name]
        np.testing.assert_array_equal(rows[:, 0], np.arange(1, 17))
        np.testing.assert_array_equal(rows[:, 1:], np.float64(np.float32(lr)))


def test_our_reduce_lr_on_plateau_reduces_both_and_records_both(tmp_path):
    ours = multi_model()
    our_lines = fit(ours, [ReduceLROnPlateau(verbose=1, **REDUCING), LearningRateLogger(tmp_path)])
    theirs = multi_model()
    their_lines = fit(theirs, [keras.callbacks.ReduceLROnPlateau(verbose=1, **REDUCING)])
    assert our_lines == their_lines  # Keras 3.15 decides for each sub-optimizer
    lrs = [float(o.learning_rate) for o in ours.optimizer.optimizers]
    assert lrs == [float(o.learning_rate) for o in theirs.optimizer.optimizers]
    reductions = [e for e in read_run(tmp_path).events if e["kind"] == "reduction"]
    # Epochs 1 and 2 (0-based) reduce: each sub-optimizer gets its event.
    got = sorted((e["epoch"], e["optimizer"], e["new_lr"]) for e in reductions)
    expected = sorted(
        (epoch, name, float(np.float32(lr * 0.5**k)))
        for k, epoch in ((1, 1), (2, 2))
        for name, lr in (("sgd_a", 0.1), ("adam_b", 0.01))
    )
    assert [g[:2] for g in got] == [e[:2] for e in expected]
    np.testing.assert_allclose([g[2] for g in got], [e[2] for e in expected], rtol=1e-6)
    printed = re.findall(r"reducing (\S+) learning rate", our_lines)
    assert sorted(printed) == sorted(e["optimizer"] for e in reductions)


def plateau_scheduled_multi_model():
    m = multi_model(PlateauScheduled(0.1), PlateauScheduled(0.01))
    return m


def test_stock_keras_raises_on_scheduled_sub_optimizers_and_ours_scales_both(tmp_path):
    with pytest.raises(TypeError, match="not settable"):
        fit(plateau_scheduled_multi_model(), [keras.callbacks.ReduceLROnPlateau(**REDUCING)])
    m = plateau_scheduled_multi_model()
    fit(m, [ReduceLROnPlateau(**REDUCING), LearningRateLogger(tmp_path)])
    factors = [float(o._learning_rate.plateau_factor) for o in m.optimizer.optimizers]
    assert factors == [0.25, 0.25]  # the same decision for both, twice
    run = read_run(tmp_path)
    reductions = sorted(
        (e["epoch"], e["optimizer"]) for e in run.events if e["kind"] == "reduction"
    )
    assert reductions == [(1, "adam_b"), (1, "sgd_a"), (2, "adam_b"), (2, "sgd_a")]
    # The last epoch ran at the factor of the first reduction (the second
    # came at its end); the plan is the base schedule's.
    last = run.optimizers["sgd_a"][-1]
    assert last[2] == pytest.approx(0.1 * 0.5) and last[1] == pytest.approx(0.1)


def test_our_scheduler_sets_both_and_records_both(tmp_path):
    m = multi_model()
    fit(m, [LearningRateScheduler(lambda epoch, lr: lr * 0.5), LearningRateLogger(tmp_path)])
    lrs = {o.name: float(o.learning_rate) for o in m.optimizer.optimizers}
    assert lrs == pytest.approx({"sgd_a": 0.1 * 0.125, "adam_b": 0.01 * 0.125})
    events = [e for e in read_run(tmp_path).events if e["kind"] == "scheduler"]
    assert sorted((e["epoch"], e["optimizer"]) for e in events) == [
        (epoch, name) for epoch in range(3) for name in ("adam_b", "sgd_a")
    ]
