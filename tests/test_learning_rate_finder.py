"""LearningRateFinder: the LR range test, restored afterwards, and its suggestion."""

import math

import keras
import numpy as np
import pytest
from keras_backend import on_every_backend
from tb_lr_plugin.callbacks import LearningRateFinder
from training import data, model, read_run

from tb_lr_plugin import lr_finder

pytestmark = on_every_backend

RAMP = dict(min_lr=1e-4, max_lr=3.0, num_steps=60)


def test_ramp_is_recorded_and_training_state_restored(tmp_path):
    x, y = data(n=640)
    m = model(keras.optimizers.SGD(0.01))
    m.fit(x[:8], y[:8], batch_size=8, epochs=1, verbose=0)  # build the optimizer
    weights = [w.copy() for w in m.get_weights()]
    iterations = int(keras.ops.convert_to_numpy(m.optimizer.iterations))
    finder = LearningRateFinder(tmp_path, verbose=0, **RAMP)
    m.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[finder])
    for a, b in zip(m.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(a, b)
    assert float(m.optimizer.learning_rate) == pytest.approx(0.01)
    assert int(keras.ops.convert_to_numpy(m.optimizer.iterations)) == iterations
    (result,) = read_run(tmp_path).finder
    n = len(result["lr"])
    assert 10 <= n <= 60
    np.testing.assert_allclose(result["lr"], [finder.lr_at(i) for i in range(n)], rtol=1e-12)
    assert result["valley"] == finder.result["valley"]
    assert RAMP["min_lr"] <= result["valley"] <= RAMP["max_lr"]


def test_an_unbuilt_optimizer_comes_back_at_step_zero(tmp_path):
    x, y = data(n=640)
    m = model(keras.optimizers.Adam(0.01))
    finder = LearningRateFinder(tmp_path, verbose=0, **RAMP)
    m.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[finder])
    assert int(keras.ops.convert_to_numpy(m.optimizer.iterations)) == 0
    for var in m.optimizer.variables:
        if "iteration" not in var.path and "learning_rate" not in var.path:
            assert not np.any(keras.ops.convert_to_numpy(var)), var.path  # moments zeroed


def test_suggestion_matches_a_hand_run_of_the_same_ramp(tmp_path):
    x, y = data(n=640)
    finder = LearningRateFinder(tmp_path, verbose=0, **RAMP)
    m = model(keras.optimizers.SGD(0.01), seed=1)
    m.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[finder])

    # By hand: same initial weights, same batches, same LR each step.
    hand = model(keras.optimizers.SGD(0.01), seed=1)
    lrs, losses = [], []
    for i in range(len(finder.result["lr"])):
        lr = RAMP["min_lr"] * (RAMP["max_lr"] / RAMP["min_lr"]) ** (i / (RAMP["num_steps"] - 1))
        hand.optimizer.learning_rate = lr
        hand.reset_metrics()  # this batch's loss (Keras 3.5 returns a running mean)
        loss = float(hand.train_on_batch(x[8 * i : 8 * i + 8], y[8 * i : 8 * i + 8]))
        lrs.append(lr)
        losses.append(loss)
    np.testing.assert_allclose(finder.result["loss"], losses, rtol=1e-3)
    smoothed = lr_finder.smooth(losses)
    step = math.log((RAMP["max_lr"] / RAMP["min_lr"]) ** (1 / (RAMP["num_steps"] - 1)))
    for rule in (lr_finder.valley, lr_finder.steepest):
        expected = rule(np.array(lrs), smoothed)
        ours = finder.result[rule.__name__]
        assert abs(math.log(ours / expected)) <= step + 1e-9, rule.__name__


def test_suggestion_rules_on_a_known_curve():
    lrs = np.logspace(-5, 0, 51)
    # Flat, then falling fastest around 1e-3, then exploding.
    losses = 1 / (1 + np.exp((np.log10(lrs) + 3) * 3)) + np.where(lrs > 0.1, (lrs - 0.1) * 50, 0)
    assert lr_finder.steepest(lrs, losses) == pytest.approx(1e-3, rel=0.3)
    valley = lr_finder.valley(lrs, losses)
    assert 1e-4 < valley < 0.1  # halfway down the long descent


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"min_lr": 0}, "min_lr=0"),
        ({"max_lr": 1e-9}, "max_lr=1e-09"),
        ({"num_steps": 2}, "num_steps=2"),
        ({"stop_factor": 1}, "stop_factor=1"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        LearningRateFinder(tmp_path, **kwargs)
