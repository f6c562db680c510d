"""PlateauScheduled: plateau reductions on top of any schedule, exact per step."""

import re

import keras
import numpy as np
import pytest
from keras_backend import on_every_backend
from tb_lr_plugin.callbacks import PlateauScheduled
from training import data, model, read_run

from tb_lr_plugin import callbacks

pytestmark = on_every_backend

STEPS_PER_EPOCH = 6  # 48 training samples, batch 8


def cosine_warmup(step):
    warm = 0.05 * step / 12
    decayed = 0.05 * (0.5 * (1 + np.cos(np.pi * np.minimum(step - 12, 200) / 200)) * 0.9 + 0.1)
    return np.where(step < 12, warm, decayed)


def train(tmp_path, epochs=12, capsys=None, k=keras, cb=callbacks, **plateau):
    """Trains with `cb`'s callbacks (a module: `tb_lr_plugin.callbacks` or
    its `tf_keras`) on the Keras module `k`."""
    base = k.optimizers.schedules.CosineDecay(
        0.0, 200, alpha=0.1, warmup_target=0.05, warmup_steps=12
    )
    x, y = data(noise=2.0)
    m = model(k.optimizers.SGD(cb.PlateauScheduled(base)), k=k)
    m.fit(
        x,
        y,
        batch_size=8,
        epochs=epochs,
        validation_split=0.25,
        verbose=0,
        callbacks=[cb.ReduceLROnPlateau(verbose=1, **plateau), cb.LearningRateLogger(tmp_path)],
    )
    return m, read_run(tmp_path)


def test_actual_is_base_times_the_reduced_factor_at_every_step(tmp_path, capsys):
    m, run = train(tmp_path, factor=0.5, patience=1, min_delta=10.0, cooldown=1)
    plateau_factor = float(keras.ops.convert_to_numpy(m.optimizer._learning_rate.plateau_factor))
    check_base_times_factor(run, capsys.readouterr().out, plateau_factor)


def check_base_times_factor(run, printed, plateau_factor):
    """Planned is the base schedule and actual the base times the factor,
    at every step; the model's factor is the product of the reductions."""
    printed = re.findall(
        r"Epoch (\d+): ReduceLROnPlateau reducing learning rate to (\S+)\.", printed
    )
    reductions = [e for e in run.events if e["kind"] == "reduction"]
    assert len(reductions) >= 3
    assert [e["epoch"] + 1 for e in reductions] == [int(p[0]) for p in printed]
    rows = run.optimizers["sgd"]
    base = cosine_warmup(rows[:, 0] - 1)
    np.testing.assert_allclose(rows[:, 1], base, rtol=2e-6, atol=1e-9)
    # Independent: each reduction halves the factor from the next step on.
    factor = np.ones(len(rows))
    for e in reductions:
        factor[rows[:, 0] > e["step"]] *= 0.5
    np.testing.assert_allclose(rows[:, 2], base * factor, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(plateau_factor, 0.5 ** len(reductions), rtol=1e-5)


def test_min_lr_is_honoured_at_a_reduction(tmp_path):
    _, run = train(tmp_path, epochs=10, factor=0.1, patience=1, min_delta=10.0, min_lr=0.01)
    reductions = [e for e in run.events if e["kind"] == "reduction"]
    assert reductions
    assert all(e["new_lr"] >= np.float32(0.01) * (1 - 1e-6) for e in reductions)
    assert any(e["kind"] == "min_lr_floor" for e in run.events) or len(reductions) == 1


def test_the_factor_is_saved_and_restored_with_the_model(tmp_path):
    m, run = train(tmp_path / "logs", epochs=6, factor=0.5, patience=1, min_delta=10.0)
    factor = float(keras.ops.convert_to_numpy(m.optimizer._learning_rate.plateau_factor))
    assert factor < 1
    path = tmp_path / "model.keras"
    m.save(path)
    loaded = keras.models.load_model(path)
    schedule = loaded.optimizer._learning_rate
    assert isinstance(schedule, PlateauScheduled)
    assert float(keras.ops.convert_to_numpy(schedule.plateau_factor)) == pytest.approx(factor)
    step = int(loaded.optimizer.iterations.numpy())
    np.testing.assert_allclose(
        float(keras.ops.convert_to_numpy(schedule(step))), cosine_warmup(step) * factor, rtol=1e-5
    )


def test_bad_arguments():
    with pytest.raises(ValueError, match="base_schedule='fast'"):
        PlateauScheduled("fast")
    with pytest.raises(ValueError, match="plateau_factor=0"):
        PlateauScheduled(0.1, plateau_factor=0)
