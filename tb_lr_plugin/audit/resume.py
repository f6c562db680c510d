"""The rule about resumed trainings: `schedule_restart`."""

import math

from tb_lr_plugin import formatting as fmt
from tb_lr_plugin.audit.finding import (
    INFO,
    SCHEDULE_RESTART,
    WARNING,
    Finding,
    epoch_word,
)
from tb_lr_plugin.audit.view import EXPLAINING_EVENTS

# schedule_restart: after a resume the LR is above where the run left off
# (following its plan) by more than this factor.
RESTART_JUMP = 1.001


def schedule_restart(view):
    run = view.run
    findings = []
    for i, session in enumerate(run.sessions):
        start = session.get("start_step")
        initial = session.get("initial_epoch")
        if not fmt.is_finite(start):
            continue
        start = int(start)
        initial = int(initial) if fmt.is_finite(initial) else 0
        if initial > 0 and start < initial:
            warmup = _warmup_note(run, start)
            findings.append(
                Finding.at(
                    SCHEDULE_RESTART,
                    WARNING,
                    initial,
                    start,
                    f"Training resumed at {epoch_word(initial)} (initial_epoch={initial}) but "
                    f"the optimizer's step counter started over at {start}, so step-based "
                    f"schedules restarted{warmup}; restore the optimizer with the model "
                    f"(model.save / keras.models.load_model).",
                )
            )
            continue
        if i == 0:
            continue
        if start == 0:
            findings.append(
                Finding.at(
                    SCHEDULE_RESTART,
                    INFO,
                    initial,
                    0,
                    "A new fit started over from step 0 in this run's directory; the records "
                    "of the earlier fit are superseded.",
                )
            )
            continue
        for name, rows in sorted(run.optimizers.items()):
            jump = _lr_jump(rows, start, _lr_events(run, name))
            if jump is None:
                continue
            before, after, step = jump
            opt = f" of optimizer {name}" if len(run.optimizers) > 1 else ""
            findings.append(
                Finding.at(
                    SCHEDULE_RESTART,
                    WARNING,
                    view.epoch_of_step(step),
                    step,
                    f"When training resumed at step {start}, the LR{opt} jumped back up from "
                    f"{fmt.lr(before)} to {fmt.lr(after)}: the optimizer's LR was not "
                    f"restored, undoing earlier reductions.",
                )
            )
    return findings


def _lr_events(run, optimizer):
    return [
        e
        for e in run.events
        if e.get("kind") in EXPLAINING_EVENTS
        and e.get("optimizer") in (None, optimizer)
        and fmt.is_finite(e.get("step"))
        and fmt.is_finite(e.get("new_lr"))
    ]


def _lr_jump(rows, start, events):
    """`(before, after, step)` if the LR rose above where the run left off."""
    before = rows[rows[:, 0] <= start]
    after = rows[rows[:, 0] > start]
    if not len(before) or not len(after):
        return None
    last, p0, a0 = before[-1]
    step, p1, a1 = after[0]
    # A change made after the last update (a reduction at the end of the
    # previous fit's last epoch) is where the run really left off.
    for ev in events:
        if last <= ev["step"] <= start:
            a0 = ev["new_lr"]
    if not all(math.isfinite(x) for x in (p0, a0, p1, a1)) or p0 <= 0:
        return None
    # Higher than where it left off, and higher than its plan continued.
    expected = a0 / p0 * p1
    if a1 > a0 * RESTART_JUMP and a1 > expected * RESTART_JUMP:
        return float(a0), float(a1), int(step)
    return None


def _warmup_note(run, start):
    for rows in run.optimizers.values():
        after = rows[rows[:, 0] > start]
        if len(after) > 2 and after[0, 1] < after[:, 1].max() * 0.5:
            return " (the warmup ran again)"
    return ""
