"""The audit engine on hand-made `RunData`: the edges real trainings rarely hit.

No TensorFlow or Keras here; the real-training tests are in test_audit.py.
"""

import math

import numpy as np
import pytest

from tb_lr_plugin import audit
from tb_lr_plugin.run_data import RunData

F32 = np.float32


def lr_rows(steps, planned, actual):
    steps = np.asarray(steps, dtype=np.float64)
    planned = np.broadcast_to(np.asarray(planned, dtype=np.float64), steps.shape)
    actual = np.broadcast_to(np.asarray(actual, dtype=np.float64), steps.shape)
    return np.stack([steps, planned, actual], axis=1)


def epochs(n, per_epoch=10, **logs):
    logs = logs or {"val_loss": [1.0 / (e + 1) for e in range(n)]}
    return [
        {"epoch": e, "step": (e + 1) * per_epoch, "logs": {k: v[e] for k, v in logs.items()}}
        for e in range(n)
    ]


def reduction(epoch, step, old, new, **extra):
    event = {
        "kind": "reduction",
        "epoch": epoch,
        "step": step,
        "optimizer": "sgd",
        "monitor": "val_loss",
        "value": 1.0,
        "best": 1.0,
        "wait": 2,
        "patience": 2,
        "old_lr": old,
        "new_lr": new,
        "factor": new / old,
        "min_lr": 0.0,
        "cooldown": 0,
    }
    event.update(extra)
    return event


def constant_run(factor_from=None, steps=100, lr=1e-3, events=(), sessions=None):
    """A constant plan whose actual LR is halved from `factor_from` on."""
    s = np.arange(1, steps + 1)
    actual = np.full(steps, F32(lr), dtype=np.float64)
    if factor_from is not None:
        actual[s > factor_from] = F32(lr * 0.5)
    return RunData(
        optimizers={"sgd": lr_rows(s, float(F32(lr)), actual)},
        epochs=epochs(steps // 10),
        events=list(events),
        sessions=sessions or [{"start_step": 0, "initial_epoch": 0}],
    )


def kinds(findings):
    return [f["kind"] for f in findings]


def test_empty_run_has_no_findings():
    assert audit.find(RunData()) == []
    assert audit.find(RunData(), {"train": {}, "validation": {}}) == []


@pytest.mark.parametrize(
    "x, text",
    [
        (1e-3, "1e-3"),
        (2.5e-4, "2.5e-4"),
        (0.1, "1e-1"),
        (1.0, "1e0"),
        (0.0, "0"),
        (3.125e-5, "3.125e-5"),
    ],
)
def test_fmt_lr_is_compact_scientific(x, text):
    assert audit.fmt_lr(x) == text
    assert audit.fmt_lr(float(F32(x))) == text  # float32 noise does not show


def test_explained_reduction_is_not_a_plan_deviation():
    run = constant_run(50, events=[reduction(4, 50, float(F32(1e-3)), float(F32(5e-4)))])
    assert audit.find(run) == []


def test_reduction_whose_new_lr_shows_one_row_late_is_still_explained():
    # Some writers stamp the event with the first step at the new LR.
    run = constant_run(50, events=[reduction(4, 51, float(F32(1e-3)), float(F32(5e-4)))])
    assert "plan_deviation" not in kinds(audit.find(run))


def test_unexplained_change_is_a_plan_deviation():
    run = constant_run(50)
    (found,) = audit.find(run)
    assert (found["kind"], found["epoch"], found["step"]) == ("plan_deviation", 5, 51)
    assert "50 of 100 steps" in found["message"]


def test_rows_out_of_step_order_are_audited_in_step_order():
    # Rows handed over unsorted give the findings of the same rows sorted.
    halved = reduction(4, 50, float(F32(1e-3)), float(F32(5e-4)))
    for factor_from, events in ((30, []), (50, []), (30, [halved]), (None, [halved])):
        run = constant_run(factor_from, events=events)
        want = audit.find(run)
        rows = run.optimizers["sgd"]
        run.optimizers["sgd"] = rows[np.random.default_rng(0).permutation(len(rows))]
        assert audit.find(run) == want and want


def test_event_after_the_change_does_not_explain_it():
    # The ratio changed at step 31, the event claims step 50.
    run = constant_run(30, events=[reduction(4, 50, float(F32(1e-3)), float(F32(5e-4)))])
    found = [f for f in audit.find(run) if f["kind"] == "plan_deviation"]
    assert [(f["step"]) for f in found] == [31]


def test_reduction_that_did_not_take_effect_is_flagged():
    run = constant_run(None, events=[reduction(4, 50, float(F32(1e-3)), float(F32(5e-4)))])
    found = [f for f in audit.find(run) if f["kind"] == "plan_deviation"]
    assert [(f["epoch"], f["step"]) for f in found] == [(5, 51)]
    assert "overrode" in found[0]["message"]


def test_schedule_evaluated_at_the_wrong_step_is_a_plan_deviation():
    s = np.arange(1, 201)
    planned = 1e-3 * 0.5 ** ((s - 1) / 100)
    actual = 1e-3 * 0.5 ** (s / 100)  # one step ahead of the plan
    run = RunData(optimizers={"adam": lr_rows(s, planned, actual)}, epochs=epochs(20))
    (found,) = audit.find(run)
    assert (found["kind"], found["step"]) == ("plan_deviation", 1)


def test_float32_rounding_is_not_a_deviation():
    s = np.arange(1, 1001)
    planned = 1e-3 * np.cos(s / 700) ** 2 + 1e-9
    actual = planned.astype(np.float32).astype(np.float64)
    run = RunData(optimizers={"adam": lr_rows(s, planned, actual)}, epochs=epochs(100))
    assert audit.find(run) == []


def test_events_of_one_optimizer_do_not_explain_another():
    s = np.arange(1, 101)
    half = np.where(s > 50, 5e-4, 1e-3)
    run = RunData(
        optimizers={"a": lr_rows(s, 1e-3, half), "b": lr_rows(s, 1e-3, half)},
        epochs=epochs(10),
        events=[reduction(4, 50, 1e-3, 5e-4, optimizer="a")],
    )
    found = [f for f in audit.find(run) if f["kind"] == "plan_deviation"]
    assert len(found) == 1 and "optimizer b" in found[0]["message"]


def test_resumed_fit_may_rebase_or_carry_the_ratio():
    # Session 2 starts at step 50: the ratio may carry on (0.5) ...
    sessions = [{"start_step": 0, "initial_epoch": 0}, {"start_step": 50, "initial_epoch": 5}]
    events = [reduction(2, 30, 1e-3, 5e-4)]
    s = np.arange(1, 101)
    actual = np.where(s > 30, 5e-4, 1e-3)
    carried = RunData(
        optimizers={"sgd": lr_rows(s, 1e-3, actual)},
        epochs=epochs(10),
        events=events,
        sessions=sessions,
    )
    assert audit.find(carried) == []
    # ... or the new fit's plan starts from the LR it found (ratio 1).
    planned = np.where(s > 50, 5e-4, 1e-3)
    rebased = RunData(
        optimizers={"sgd": lr_rows(s, planned, actual)},
        epochs=epochs(10),
        events=events,
        sessions=sessions,
    )
    assert audit.find(rebased) == []


def test_fresh_fit_in_the_same_directory_is_an_info():
    sessions = [{"start_step": 0, "initial_epoch": 0}, {"start_step": 0, "initial_epoch": 0}]
    run = constant_run(sessions=sessions)
    (found,) = audit.find(run)
    assert (found["kind"], found["severity"], found["step"]) == ("schedule_restart", "info", 0)


def test_thrashing_needs_three_reductions_in_a_row():
    lrs = [1e-3 / 2**i for i in range(6)]
    two = [reduction(e, 10 * (e + 1), lrs[i], lrs[i + 1]) for i, e in enumerate([3, 4])]
    three = [reduction(e, 10 * (e + 1), lrs[i], lrs[i + 1]) for i, e in enumerate([3, 4, 6])]
    spread = [reduction(e, 10 * (e + 1), lrs[i], lrs[i + 1]) for i, e in enumerate([1, 4, 7])]
    for evs, expected in ((two, 0), (three, 1), (spread, 0)):
        run = RunData(epochs=epochs(10), events=evs)
        assert kinds(audit.find(run)).count("reduction_every_epoch") == expected


def test_min_lr_reached_without_later_plateaus_is_info():
    run = RunData(
        epochs=epochs(10),
        events=[reduction(3, 40, 2e-3, 1e-3, min_lr=1e-3)],
    )
    (found,) = [f for f in audit.find(run) if f["kind"] == "min_lr_reached"]
    assert (found["severity"], found["ignored_plateaus"], found["epoch"]) == ("info", 0, 3)


def test_monitor_missing_in_some_epochs_is_info():
    plateau = [
        {"epoch": e, "step": 10 * (e + 1), "monitor": "val_loss", "value": None if e % 2 else 1.0}
        for e in range(6)
    ]
    run = RunData(epochs=epochs(6, loss=[1.0] * 6), plateau=plateau)
    (found,) = audit.find(run)
    assert (found["kind"], found["severity"], found["epoch"]) == ("monitor_missing", "info", 1)
    assert "3 of 6" in found["message"]


def test_nan_loss_before_the_lr_rose_is_not_blamed_on_it():
    s = np.arange(1, 101)
    actual = np.where(s > 50, 1e-2, 1e-3)
    loss = np.where(s > 40, np.nan, 1.0)
    run = RunData(
        optimizers={"sgd": lr_rows(s, 1e-3, actual)},
        batch={"loss": np.stack([s, loss], 1).astype(np.float64)},
        epochs=epochs(10),
        events=[{"kind": "lr_change", "epoch": 4, "step": 50, "old_lr": 1e-3, "new_lr": 1e-2}],
    )
    assert "loss_spike_after_lr_change" not in kinds(audit.find(run))


def test_spike_at_the_end_of_a_warmup():
    s = np.arange(1, 101)
    lr = np.minimum(s, 30) * 1e-3
    loss = np.where(s > 33, 50.0, 1.0)
    run = RunData(
        optimizers={"adam": lr_rows(s, lr, lr)},
        batch={"loss": np.stack([s, loss], 1).astype(np.float64)},
        epochs=epochs(10),
    )
    (found,) = audit.find(run)
    assert (found["kind"], found["step"], found["epoch"]) == ("loss_spike_after_lr_change", 34, 3)
    assert "steps 2-30" in found["message"]


def test_findings_are_json_ready():
    run = constant_run(50)
    for f in audit.find(run):
        for value in f.values():
            assert value is None or isinstance(value, (str, int)) and not isinstance(value, bool)
            assert not (isinstance(value, float) and math.isnan(value))


def test_a_schedule_decaying_every_epoch_is_not_thrashing():
    # A stock LearningRateScheduler (not given to the logger) logs an
    # lr_change every epoch; the noisy metric stalls now and then.
    val = [1.0, 0.9, 0.95, 0.8, 0.85, 0.7, 0.75, 0.74, 0.6, 0.5, 0.4, 0.3]
    lrs = [1e-3 * 0.9**e for e in range(13)]
    events = [
        {
            "kind": "lr_change",
            "epoch": e,
            "step": 10 * (e + 1),
            "old_lr": lrs[e],
            "new_lr": lrs[e + 1],
        }
        for e in range(12)
    ]
    s = np.arange(1, 121)
    actual = np.array([lrs[(i - 1) // 10] for i in s])
    run = RunData(
        optimizers={"sgd": lr_rows(s, 1e-3, actual)},
        epochs=epochs(12, val_loss=val),
        events=events,
    )
    assert audit.find(run) == []
