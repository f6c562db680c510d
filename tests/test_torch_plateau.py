"""Every decision of torch's `ReduceLROnPlateau`, recorded as torch took it.

Scripted metric sequences over modes, threshold modes, cooldowns, per-group
`min_lr` and `eps`: the recorded reductions must be exactly the LR changes
read from the optimizer after each `step`, and the recorded state torch's.
"""

import itertools

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as S
from torch_training import (
    batches,
    groups,
    read_run,
    torch_framework,  # noqa: F401 - autouse: ids name torch
    train_step,
    two_group_model,
)

from tb_lr_plugin.torch import LearningRateLogger

STEPS_PER_EPOCH = 3


def _script(kind, seed, n=24):
    rng = np.random.default_rng(seed)
    if kind == "flat":
        return [1.0] * n
    if kind == "walk":
        return list(1.0 + np.cumsum(rng.normal(0, 0.02, n)))
    # improves, then creeps by less than the threshold, then improves again
    head = [1.0, 0.8, 0.7, 0.69999, 0.6999, 0.7, 0.71, 0.7]
    return head + [0.5, 0.49995, 0.4999, 0.5, 0.5] + list(0.4 - 0.001 * np.arange(n - 13))


CASES = []
for i, (mode, tmode, kind, cooldown) in enumerate(
    itertools.product(("min", "max"), ("rel", "abs"), ("flat", "walk", "creep"), (0, 2))
):
    CASES.append(
        dict(
            mode=mode,
            threshold_mode=tmode,
            kind=kind,
            cooldown=cooldown,
            patience=i % 3,
            threshold=1e-3 if tmode == "rel" else 5e-4,
            min_lr=[0.0, 0.004],
            eps=1e-8,
            seed=i,
        )
    )
# eps: a reduction smaller than eps is ignored (torch keeps the LR).
_EPS = dict(mode="min", threshold=1e-4, seed=100)
CASES.append(
    dict(_EPS, threshold_mode="rel", kind="flat", cooldown=0, patience=1, min_lr=0.0, eps=0.04)
)
CASES.append(
    dict(
        _EPS,
        threshold_mode="abs",
        kind="walk",
        cooldown=1,
        patience=0,
        min_lr=[1e-3, 0.0],
        eps=0.009,
        seed=101,
    )
)


def _id(c):
    name = f"{c['mode']}-{c['threshold_mode']}-{c['kind']}"
    return f"{name}-cd{c['cooldown']}-p{c['patience']}-eps{c['eps']}"


def _run(tmp_path, case):
    model = two_group_model()
    opt = torch.optim.SGD(groups(model, (0.1, 0.02)), lr=0.1)
    sched = S.ReduceLROnPlateau(
        opt,
        mode=case["mode"],
        factor=0.5,
        patience=case["patience"],
        threshold=case["threshold"],
        threshold_mode=case["threshold_mode"],
        cooldown=case["cooldown"],
        min_lr=case["min_lr"],
        eps=case["eps"],
    )
    values = _script(case["kind"], case["seed"])
    if case["mode"] == "max":
        values = [-v for v in values]
    x, y = batches(len(values) * STEPS_PER_EPOCH)
    truth, states = [], []
    with LearningRateLogger(tmp_path, opt, sched, monitor="val_loss"):
        for epoch, value in enumerate(values):
            for k in range(STEPS_PER_EPOCH):
                j = epoch * STEPS_PER_EPOCH + k
                train_step(model, opt, x[j], y[j])
            before = [g["lr"] for g in opt.param_groups]
            sched.step(torch.tensor(value))
            after = [g["lr"] for g in opt.param_groups]
            states.append((sched.best, sched.num_bad_epochs, sched.cooldown_counter))
            for gi, (old, new) in enumerate(zip(before, after, strict=True)):
                if old != new:
                    truth.append((epoch, (epoch + 1) * STEPS_PER_EPOCH, f"pg{gi}", old, new))
    return read_run(tmp_path), truth, states, values


def test_there_are_at_least_24_sequences():
    assert len(CASES) >= 24


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_recorded_reductions_are_what_torch_did(tmp_path, case):
    run, truth, states, values = _run(tmp_path, case)
    got = [
        (e["epoch"], e["step"], e["optimizer"], e["old_lr"], e["new_lr"])
        for e in run.events
        if e["kind"] == "reduction"
    ]
    assert got == truth
    assert [p["epoch"] for p in run.plateau] == list(range(len(values)))
    for p, (best, bad, counter), value in zip(run.plateau, states, values, strict=True):
        assert (p["best"], p["num_bad_epochs"], p["cooldown_counter"]) == (
            float(best),
            bad,
            counter,
        )
        assert p["value"] == pytest.approx(value, rel=1e-6) and p["patience"] == case["patience"]
        assert p["mode"] == case["mode"] and p["threshold_mode"] == case["threshold_mode"]
    for e in run.events:
        if e["kind"] == "reduction":
            # torch reduces when num_bad_epochs > patience
            assert e["num_bad_epochs"] == case["patience"] + 1
    starts = [e["epoch"] for e in run.events if e["kind"] == "cooldown" and e["phase"] == "start"]
    ends = [e["epoch"] for e in run.events if e["kind"] == "cooldown" and e["phase"] == "end"]
    if case["cooldown"]:
        assert [s + case["cooldown"] for s in starts][: len(ends)] == ends
    else:
        assert not starts and not ends
    # The monitored value is what the audit reads the reductions against.
    assert [e["logs"]["val_loss"] for e in run.epochs] == pytest.approx(values, rel=1e-6)


def _floor_events(case, tmp_path):
    run, truth, _, _ = _run(tmp_path, case)
    return run, truth, [e for e in run.events if e["kind"] == "min_lr_floor"]


def test_the_min_lr_floor_of_one_group_is_recorded_while_the_other_goes_on(tmp_path):
    case = dict(CASES[0], kind="flat", patience=0, cooldown=0)
    run, truth, floors = _floor_events(case, tmp_path)
    # pg1 (0.02, floor 0.004) reaches its floor: 0.02 -> 0.01 -> 0.005 -> 0.004.
    assert [t[4] for t in truth if t[2] == "pg1"] == [0.01, 0.005, 0.004]
    assert floors and {e["optimizer"] for e in floors} == {"pg1"}
    assert all(e["reason"] == "min_lr" and e["lr"] == 0.004 for e in floors)
    first_floor = min(e["epoch"] for e in floors)
    assert first_floor == max(t[0] for t in truth if t[2] == "pg1") + 1


def test_reductions_smaller_than_eps_are_recorded_as_ignored(tmp_path):
    case = CASES[-2]  # eps=0.04: pg1 (0.02) never moves, pg0 stops at 0.05
    run, truth, floors = _floor_events(case, tmp_path)
    assert [(t[2], t[4]) for t in truth] == [("pg0", 0.05)]
    ignored = [e for e in floors if e["reason"] == "eps"]
    assert {e["optimizer"] for e in ignored} == {"pg0", "pg1"}
    assert all(e["eps"] == 0.04 for e in ignored)


def test_state_dict_of_the_scheduler_is_untouched(tmp_path):
    model = two_group_model()
    opt = torch.optim.SGD(groups(model), lr=0.1)
    sched = S.ReduceLROnPlateau(opt, patience=0)
    keys = set(sched.state_dict())
    with LearningRateLogger(tmp_path, opt, sched):
        sched.step(1.0)
        sched.step(1.0)
        assert set(sched.state_dict()) == keys
        torch.save(sched.state_dict(), tmp_path / "sched.pt")
