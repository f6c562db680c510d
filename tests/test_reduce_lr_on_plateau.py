"""The drop-in ReduceLROnPlateau decides as Keras's and records every decision."""

import contextlib
import io
import re

import keras
import numpy as np
import pytest
from keras_backend import on_every_backend
from tb_lr_plugin.callbacks import LearningRateLogger, ReduceLROnPlateau
from training import check_reductions_match_printed, data, model, read_run

pytestmark = on_every_backend

# Metric sequences: a plateau, noise, a slow improvement below min_delta.
SEQUENCES = {
    "plateau": [1.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8],
    "noisy": [1.0, 1.1, 0.95, 0.97, 0.99, 0.94, 0.96, 0.98, 0.99, 1.0, 0.93, 0.95, 0.97, 0.99],
    "creeping": [1.0 - 5e-5 * i for i in range(14)],
    "rising": [0.1 * i for i in range(14)],
}
CONFIGS = [
    dict(monitor="val_loss", factor=0.5, patience=2),
    dict(monitor="val_loss", factor=0.1, patience=1, cooldown=2),
    dict(monitor="val_loss", factor=0.5, patience=1, min_lr=0.02),
    dict(monitor="val_loss", factor=0.5, patience=2, min_delta=0.05),
    dict(monitor="val_acc", factor=0.5, patience=2, mode="max"),
    dict(monitor="val_loss", factor=0.5, patience=2, mode="min", cooldown=1, min_lr=0.01),
]


def drive(callback, sequence, monitor, k=keras):
    """Runs a callback's epoch hooks on a real model and optimizer (of the
    Keras module `k`), with the monitored metric scripted. Returns the LR
    after each epoch and what the callback printed."""
    m = model(k.optimizers.SGD(0.1), k=k)
    callback.set_model(m)
    out = io.StringIO()
    lrs = []
    with contextlib.redirect_stdout(out):
        callback.on_train_begin()
        for epoch, value in enumerate(sequence):
            callback.on_epoch_begin(epoch)
            callback.on_epoch_end(epoch, {monitor: value})
            lrs.append(float(m.optimizer.learning_rate))
        callback.on_train_end()
    return lrs, out.getvalue()


@pytest.mark.parametrize(
    "config", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items())
)
@pytest.mark.parametrize("sequence", sorted(SEQUENCES))
def test_same_decisions_as_keras(tmp_path, config, sequence):
    check_same_decisions(tmp_path, config, sequence, ReduceLROnPlateau, keras)


def check_same_decisions(tmp_path, config, sequence, ours_class, k):
    """Our `ours_class` and the stock callback of the Keras module `k`,
    driven by one scripted sequence: the same LRs, lines and records."""
    values = SEQUENCES[sequence]
    if config["monitor"] == "val_acc":
        values = [-v for v in values]
    ours, our_lines = drive(
        ours_class(verbose=1, log_dir=tmp_path, **config), values, config["monitor"], k
    )
    theirs, their_lines = drive(
        k.callbacks.ReduceLROnPlateau(verbose=1, **config), values, config["monitor"], k
    )
    assert ours == theirs
    assert our_lines == their_lines
    # Every line Keras printed is a recorded reduction, epoch and value.
    printed = [
        (int(e) - 1, float(lr))
        for e, lr in re.findall(
            r"Epoch (\d+): ReduceLROnPlateau reducing learning rate to (\S+)\.", their_lines
        )
    ]
    run = read_run(tmp_path)
    recorded = [(e["epoch"], e["new_lr"]) for e in run.events if e["kind"] == "reduction"]
    assert [r[0] for r in recorded] == [p[0] for p in printed]
    np.testing.assert_allclose([r[1] for r in recorded], [p[1] for p in printed], rtol=1e-6)
    assert [p["epoch"] for p in run.plateau] == list(range(len(values)))


def test_records_state_cooldown_and_min_lr_floor(tmp_path):
    cb = ReduceLROnPlateau(factor=0.5, patience=1, cooldown=1, min_lr=0.05, log_dir=tmp_path)
    drive(cb, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], "val_loss")
    run = read_run(tmp_path)
    kinds = [(e["kind"], e.get("phase"), e["epoch"]) for e in run.events]
    # epoch 1: wait 1 >= patience 1 -> 0.1 to 0.05, cooldown starts;
    # epoch 2: cooldown ends; epoch 3: plateau again, but LR is at min_lr.
    assert kinds[:3] == [("reduction", None, 1), ("cooldown", "start", 1), ("cooldown", "end", 2)]
    assert ("min_lr_floor", None, 3) in kinds
    reduction = run.events[0]
    assert reduction["old_lr"] == pytest.approx(0.1)
    assert reduction["new_lr"] == pytest.approx(0.05)
    assert (reduction["wait"], reduction["patience"], reduction["value"]) == (1, 1, 1.0)
    floor = [e for e in run.events if e["kind"] == "min_lr_floor"]
    assert all(e["lr"] == pytest.approx(0.05) for e in floor)
    state = run.plateau[0]
    assert {"value", "best", "wait", "patience", "cooldown_counter", "lr", "min_lr"} <= set(state)


def test_real_training_reductions_match_keras_verbose_lines(tmp_path, capsys):
    x, y = data(n=64, noise=2.0)
    m = model(keras.optimizers.SGD(0.05))
    m.fit(
        x,
        y,
        batch_size=8,
        epochs=20,
        validation_split=0.25,
        verbose=0,
        callbacks=[
            ReduceLROnPlateau(factor=0.5, patience=1, min_delta=0.5, verbose=1),
            LearningRateLogger(tmp_path),
        ],
    )
    printed = re.findall(
        r"Epoch (\d+): ReduceLROnPlateau reducing learning rate to (\S+)\.", capsys.readouterr().out
    )
    assert len(printed) >= 2
    run = read_run(tmp_path)
    reductions = check_reductions_match_printed(run, printed, steps_per_epoch=6)
    # The actual LR drops at the first step after each reduction.
    rows = run.optimizers["sgd"]
    for e in reductions:
        after = rows[rows[:, 0] == e["step"] + 1]
        if len(after):
            assert after[0, 2] == pytest.approx(e["new_lr"], rel=1e-6)
            assert after[0, 1] == pytest.approx(0.05)  # the plan is unchanged


def test_stock_keras_reductions_become_lr_change_events(tmp_path, capsys):
    x, y = data(n=64, noise=2.0)
    m = model(keras.optimizers.SGD(0.05))
    m.fit(
        x,
        y,
        batch_size=8,
        epochs=20,
        validation_split=0.25,
        verbose=0,
        callbacks=[
            LearningRateLogger(tmp_path),
            keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=1, min_delta=0.5, verbose=1),
        ],
    )
    printed = re.findall(
        r"Epoch (\d+): ReduceLROnPlateau reducing learning rate to (\S+)\.", capsys.readouterr().out
    )
    assert len(printed) >= 2
    changes = [e for e in read_run(tmp_path).events if e["kind"] == "lr_change"]
    assert [e["epoch"] + 1 for e in changes] == [int(p[0]) for p in printed]
    np.testing.assert_allclose(
        [e["new_lr"] for e in changes], [float(p[1]) for p in printed], rtol=1e-6
    )
    assert [e["step"] for e in changes] == [6 * (e["epoch"] + 1) for e in changes]
    for e in changes:
        assert e["old_lr"] == pytest.approx(e["new_lr"] * 2, rel=1e-6)


def test_missing_metric_is_a_warning_and_recorded(tmp_path):
    cb = ReduceLROnPlateau(monitor="val_nothing", mode="min", log_dir=tmp_path)
    with pytest.warns(UserWarning, match="val_nothing"):
        drive(cb, [1.0, 1.0], "val_loss")
    assert [p["value"] for p in read_run(tmp_path).plateau] == [None, None]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"factor": 1.0}, "factor=1.0"),
        ({"factor": 0}, "factor=0"),
        ({"patience": -1}, "patience=-1"),
        ({"cooldown": 1.5}, "cooldown=1.5"),
        ({"min_lr": -0.1}, "min_lr=-0.1"),
        ({"mode": "lowest"}, "mode='lowest'"),
        ({"monitor": ""}, "monitor=''"),
    ],
)
def test_bad_arguments_fail_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ReduceLROnPlateau(**kwargs)
