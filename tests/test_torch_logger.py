"""`tb_lr_plugin.torch.LearningRateLogger` on real torch trainings.

Each schedule is checked step by step against an independent computation
(the formulas written out here, and the LR the optimizer held before each
`step`), exact to float32, for two parameter groups.
"""

import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as S
from torch_training import (
    batches,
    f32,
    groups,
    read_run,
    torch_framework,  # noqa: F401 - autouse: ids name torch
    train_step,
    two_group_model,
)

from tb_lr_plugin.torch import LearningRateLogger

N = 40
LR0 = (0.1, 0.02)


def _one_cycle(e, max_lr, total=N, pct=0.3, div=25.0, final=1e4):
    initial, low = max_lr / div, max_lr / div / final
    end1, end2 = float(pct * total) - 1, total - 1
    if e <= end1:
        start, stop, frac = initial, max_lr, e / end1
    else:
        start, stop, frac = max_lr, low, (e - end1) / (end2 - end1)
    return stop + (start - stop) / 2.0 * (math.cos(math.pi * frac) + 1)


def _triangle(e, base, peak, up=4):
    cycle = math.floor(1 + e / (2 * up))
    return base + (peak - base) * max(0.0, 1 - abs(e / up - 2 * cycle + 1))


# name -> (make scheduler, formula(epoch, group index, lr0) -> LR, method)
SCHEDULES = {
    "StepLR": (
        lambda o: S.StepLR(o, step_size=3, gamma=0.5),
        lambda e, i, a: a * 0.5 ** (e // 3),
        "closed_form",
    ),
    "ExponentialLR": (
        lambda o: S.ExponentialLR(o, gamma=0.9),
        lambda e, i, a: a * 0.9**e,
        "closed_form",
    ),
    "CosineAnnealingLR": (
        lambda o: S.CosineAnnealingLR(o, T_max=15, eta_min=1e-3),
        lambda e, i, a: 1e-3 + (a - 1e-3) * (1 + math.cos(math.pi * e / 15)) / 2,
        "closed_form",
    ),
    "MultiStepLR": (
        lambda o: S.MultiStepLR(o, milestones=[20, 7, 7], gamma=0.3),
        lambda e, i, a: a * 0.3 ** ((e >= 7) * 2 + (e >= 20)),
        "closed_form",
    ),
    "ConstantLR": (
        lambda o: S.ConstantLR(o, factor=0.25, total_iters=6),
        lambda e, i, a: a * (0.25 if e < 6 else 1.0),
        "closed_form",
    ),
    "LinearLR": (
        lambda o: S.LinearLR(o, start_factor=0.2, end_factor=0.9, total_iters=25),
        lambda e, i, a: a * (0.2 + 0.7 * min(e, 25) / 25),
        "closed_form",
    ),
    "PolynomialLR": (
        lambda o: S.PolynomialLR(o, total_iters=30, power=2.0),
        lambda e, i, a: a * (1 - min(e, 30) / 30) ** 2,
        "closed_form",
    ),
    "OneCycleLR": (
        lambda o: S.OneCycleLR(o, max_lr=[0.5, 0.1], total_steps=N),
        lambda e, i, a: _one_cycle(e, (0.5, 0.1)[i]),
        "replay",
    ),
    "SequentialLR(LinearLR,CosineAnnealingLR)": (
        lambda o: S.SequentialLR(
            o,
            [S.LinearLR(o, start_factor=0.1, total_iters=5), S.CosineAnnealingLR(o, T_max=30)],
            milestones=[5],
        ),
        lambda e, i, a: (
            a * (0.1 + 0.9 * e / 5) if e < 5 else a * (1 + math.cos(math.pi * (e - 5) / 30)) / 2
        ),
        "replay",
    ),
    "LambdaLR": (
        lambda o: S.LambdaLR(o, lambda e: 1.0 / (1 + e)),
        lambda e, i, a: a / (1 + e),
        "closed_form",
    ),
    "CyclicLR": (
        lambda o: S.CyclicLR(o, base_lr=[0.01, 0.002], max_lr=[0.1, 0.02], step_size_up=4),
        lambda e, i, a: _triangle(e, (0.01, 0.002)[i], (0.1, 0.02)[i]),
        "replay",
    ),
}


def _train(log_dir, make_sched, names=(None, None), steps=N, **kwargs):
    model = two_group_model()
    opt = torch.optim.SGD(groups(model, LR0, names), lr=0.1, momentum=0.9, weight_decay=1e-4)
    sched = make_sched(opt) if make_sched else None
    x, y = batches(steps)
    used = []
    with LearningRateLogger(log_dir, opt, sched, **kwargs) as lg:
        for i in range(steps):
            used.append([g["lr"] for g in opt.param_groups])
            lg.log_loss(train_step(model, opt, x[i], y[i]))
            if sched is not None:
                sched.step()
    return np.asarray(used), lg, opt


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_planned_and_actual_match_an_independent_computation(tmp_path, name):
    make, formula, method = SCHEDULES[name]
    used, lg, _ = _train(tmp_path, make)
    assert lg.recorders[0].plan.method == method
    run = read_run(tmp_path)
    assert sorted(run.optimizers) == ["pg0", "pg1"]
    for gi, group in enumerate(("pg0", "pg1")):
        rows = run.optimizers[group]
        np.testing.assert_array_equal(rows[:, 0], np.arange(1, N + 1))
        expected = [formula(s - 1, gi, LR0[gi]) for s in range(1, N + 1)]
        np.testing.assert_array_equal(f32(rows[:, 1]), f32(expected), err_msg=f"{group} planned")
        np.testing.assert_array_equal(f32(rows[:, 2]), f32(used[:, gi]), err_msg=f"{group} actual")
        np.testing.assert_array_equal(f32(rows[:, 2]), f32(expected), err_msg=f"{group} vs formula")
    session = run.sessions[0]
    assert session["framework"] == "torch"
    assert not [e for e in run.events if e["kind"] == "lr_change"]  # the scheduler set them
    assert {o["plan"]["method"] for o in session["optimizers"]} == {method}


def test_cyclic_momentum_and_weight_decay_are_recorded_per_group(tmp_path):
    make = SCHEDULES["CyclicLR"][0]
    _train(tmp_path, make)
    run = read_run(tmp_path)
    for gi, group in enumerate(("pg0", "pg1")):
        base, peak = (0.01, 0.002)[gi], (0.1, 0.02)[gi]
        scale = [(_triangle(s - 1, base, peak) - base) / (peak - base) for s in range(1, N + 1)]
        expected = [0.9 - 0.1 * x for x in scale]  # base_momentum 0.8, max 0.9
        np.testing.assert_allclose(run.hparams[f"{group}/momentum"][:, 1], expected, rtol=1e-12)
        np.testing.assert_array_equal(run.hparams[f"{group}/weight_decay"][:, 1], 1e-4)


def test_adam_betas_and_group_names(tmp_path):
    model = two_group_model()
    opt = torch.optim.Adam(groups(model, LR0, ("encoder", None)), betas=(0.8, 0.95))
    x, y = batches(5)
    with LearningRateLogger(tmp_path, opt):
        for i in range(5):
            train_step(model, opt, x[i], y[i])
    run = read_run(tmp_path)
    assert sorted(run.optimizers) == ["encoder", "pg1"]
    np.testing.assert_array_equal(run.optimizers["encoder"][:, 1:], 0.1)
    np.testing.assert_array_equal(run.hparams["encoder/beta1"][:, 1], 0.8)
    np.testing.assert_array_equal(run.hparams["pg1/beta2"][:, 1], 0.95)
    assert "pg1/weight_decay" in run.hparams


def _step_lr_and_plateau(log_dir, steps, after_step):
    """A loop with `StepLR` and `ReduceLROnPlateau(patience=0)`; calls
    `after_step(i, opt, plateau)` after each `StepLR` step. Returns the
    LRs each step used."""
    model = two_group_model()
    opt = torch.optim.SGD(groups(model, LR0), lr=0.1)
    step_lr = S.StepLR(opt, step_size=4, gamma=0.5)
    plateau = S.ReduceLROnPlateau(opt, factor=0.1, patience=0)
    x, y = batches(steps)
    used = []
    with LearningRateLogger(log_dir, opt, [step_lr, plateau]):
        for i in range(steps):
            used.append([g["lr"] for g in opt.param_groups])
            train_step(model, opt, x[i], y[i])
            step_lr.step()
            after_step(i, opt, plateau)
    return used


def test_plan_leaves_out_the_plateau_reductions(tmp_path):
    def after_step(i, opt, plateau):
        if i % 3 == 2:
            plateau.step(1.0)  # never improves after the first

    used = _step_lr_and_plateau(tmp_path, 12, after_step)
    run = read_run(tmp_path)
    for gi, group in enumerate(("pg0", "pg1")):
        rows = run.optimizers[group]
        np.testing.assert_array_equal(
            f32(rows[:, 1]), f32([LR0[gi] * 0.5 ** ((s - 1) // 4) for s in range(1, 13)])
        )
        np.testing.assert_array_equal(f32(rows[:, 2]), f32(np.asarray(used)[:, gi]))
    assert (run.optimizers["pg0"][:, 2] < run.optimizers["pg0"][:, 1]).any()
    assert [
        e["epoch"] for e in run.events if e["kind"] == "reduction" and e["optimizer"] == "pg0"
    ] == [1, 2, 3]
    assert not [e for e in run.events if e["kind"] == "lr_change"]


def test_an_lr_set_by_hand_is_an_lr_change(tmp_path):
    def after_step(i, opt, plateau):
        if i == 5:
            plateau.step(1.0)
        if i == 9:
            plateau.step(2.0)  # worse: a reduction, explained
        if i == 6:
            opt.param_groups[1]["lr"] = 0.0123  # by hand, after the scheduler

    used = _step_lr_and_plateau(tmp_path, 16, after_step)
    run = read_run(tmp_path)
    changes = [e for e in run.events if e["kind"] == "lr_change"]
    assert changes == [
        {
            "kind": "lr_change",
            "epoch": None,
            "step": 7,
            "optimizer": "pg1",
            "old_lr": used[6][1],
            "new_lr": 0.0123,
            "framework": "torch",
        }
    ]
    assert used[7][1] == 0.0123
    assert [e["step"] for e in run.events if e["kind"] == "reduction"] == [10, 10]


def test_loss_tensors_are_converted_at_flush(tmp_path):
    _, lg, _ = _train(tmp_path, None, steps=6)
    run = read_run(tmp_path)
    np.testing.assert_array_equal(run.batch["loss"][:, 0], np.arange(1, 7))
    assert np.isfinite(run.batch["loss"][:, 1]).all()


def test_a_tensor_lr_is_recorded_step_by_step(tmp_path):
    model = two_group_model()
    opt = torch.optim.SGD(groups(model, (torch.tensor(0.1), torch.tensor(0.02))), lr=0.1)
    sched = S.ExponentialLR(opt, gamma=0.5)
    x, y = batches(4)
    with LearningRateLogger(tmp_path, opt, sched):
        for i in range(4):
            train_step(model, opt, x[i], y[i])
            sched.step()
    rows = read_run(tmp_path).optimizers["pg0"]
    np.testing.assert_array_equal(f32(rows[:, 2]), f32([0.1 * 0.5**e for e in range(4)]))


def test_a_write_error_warns_once_and_training_goes_on(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    model = two_group_model()
    opt = torch.optim.SGD(groups(model), lr=0.1)
    x, y = batches(5)
    with pytest.warns(RuntimeWarning) as caught:
        lg = LearningRateLogger(blocked / "run", opt, flush_secs=1e-9)
        for i in range(5):
            train_step(model, opt, x[i], y[i])
        lg.close()
    assert len([w for w in caught if "tb_lr_plugin" in str(w.message)]) == 1
    assert lg.steps == 5


def test_import_tb_lr_plugin_does_not_import_torch():
    code = "import sys, tb_lr_plugin, tb_lr_plugin.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_torch_package_imports_neither_tensorflow_nor_keras():
    code = (
        "import sys, tb_lr_plugin.torch, tb_lr_plugin.torch.plateau;"
        "print([m for m in ('tensorflow', 'keras', 'tf_keras') if m in sys.modules])"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == "[]"
