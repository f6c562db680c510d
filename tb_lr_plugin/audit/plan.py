"""Rules about the plan: `plan_deviation` (the actual LR left the planned
one unexplained) and `scheduler_conflict` (a schedule undid a reduction).
"""

import math

import numpy as np

from tb_lr_plugin import formatting
from tb_lr_plugin.audit.finding import (
    INFO,
    PLAN_DEVIATION,
    SCHEDULER_CONFLICT,
    WARNING,
    Finding,
    epoch_word,
)
from tb_lr_plugin.audit.view import EXPLAINING_EVENTS, LR_RTOL

fmt_lr = formatting.lr
_fmt = formatting.number
_finite = formatting.is_finite
_number = formatting.is_number


def _close(a, b, atol):
    return np.abs(a - b) <= LR_RTOL * np.maximum(np.abs(a), np.abs(b)) + atol


def _boundaries(run, optimizer):
    """Steps where the ratio actual/planned may legitimately change.

    Returns:
      Sorted `(step, events, session)`: the LR-changing events at that step
      (for this optimizer or for all), and whether a new `fit` started there.
    """
    by_step = {}
    for ev in run.events:
        if ev.get("kind") not in EXPLAINING_EVENTS or not _finite(ev.get("step")):
            continue
        if ev.get("optimizer") not in (None, optimizer):
            continue
        by_step.setdefault(float(ev["step"]), ([], []))[0].append(ev)
    for session in run.sessions[1:]:
        start = session.get("start_step")
        if _finite(start):
            by_step.setdefault(float(start), ([], []))[1].append(session)
    return [(s, evs, bool(sessions)) for s, (evs, sessions) in sorted(by_step.items())]


def _ratio_at(planned, actual, atol):
    nz = np.flatnonzero(np.abs(planned) > atol)
    if not len(nz):
        return None
    i = nz[0]
    return float(actual[i] / planned[i])


def _claim_holds(events, actual_first, planned_first, k_prev, atol):
    """Whether the LR after `events` is what they say it became."""
    claims = [
        (e.get("old_lr"), e.get("new_lr"))
        for e in events
        if _finite(e.get("old_lr")) and _finite(e.get("new_lr"))
    ]
    if not claims:
        return True
    if len(claims) > 1:
        claims.append((claims[0][0], claims[-1][1]))
    for old, new in claims:
        if _close(actual_first, new, atol):
            return True
        if old > 0 and _close(actual_first, k_prev * planned_first * new / old, atol):
            return True
    return False


def _same_ratio(a, b):
    return math.isclose(a, b, rel_tol=4 * LR_RTOL)


def plan_deviation(view):
    run = view.run
    findings = []
    for name, rows in sorted(run.optimizers.items()):
        rows = rows[np.isfinite(rows[:, 1]) & np.isfinite(rows[:, 2])]
        if not len(rows):
            continue
        steps, planned, actual = rows[:, 0], rows[:, 1], rows[:, 2]
        peak = float(max(np.abs(planned).max(), np.abs(actual).max()))
        atol = LR_RTOL * peak
        bounds = _boundaries(run, name)
        edges = [-math.inf] + [b[0] for b in bounds] + [math.inf]
        k = 1.0
        for j in range(len(edges) - 1):
            lo, hi = edges[j], edges[j + 1]
            sel = np.flatnonzero((steps > lo) & (steps <= hi))
            if not len(sel):
                continue
            override = None
            first = sel[0]
            if j > 0:
                _, evs, session = bounds[j - 1]
                k_new = _ratio_at(planned[sel], actual[sel], atol)
                explained = bool(evs) and _claim_holds(evs, actual[first], planned[first], k, atol)
                if session and k_new is not None:
                    # A new fit may carry the ratio on or re-base its plan.
                    explained |= _same_ratio(k_new, k) or _same_ratio(k_new, 1.0)
                if explained:
                    k = k_new if k_new is not None else k
                elif evs:
                    override = _describe(evs)
                else:
                    override = "resuming the training"
            if override:
                step = int(steps[first])
                opt = f" of optimizer {name}" if len(run.optimizers) > 1 else ""
                findings.append(
                    Finding.at(
                        PLAN_DEVIATION,
                        WARNING,
                        view.epoch_of_step(step),
                        step,
                        f"From step {step} the LR{opt} was {fmt_lr(actual[first])}, not what "
                        f"{override} set: something overrode it (a LearningRateScheduler or a "
                        f"callback assigning the LR?).",
                    )
                )
                continue
            ok = _close(actual[sel], k * planned[sel], atol)
            # A row at exactly an event's step may already carry the new LR.
            if j + 1 < len(edges) - 1:
                at_edge = steps[sel] == hi
                if at_edge.any():
                    nxt = np.flatnonzero(steps > hi)
                    if len(nxt):
                        k_next = _ratio_at(planned[nxt], actual[nxt], atol)
                        if k_next is not None:
                            ok |= at_edge & _close(actual[sel], k_next * planned[sel], atol)
            bad = sel[~ok]
            if not len(bad):
                continue
            i = bad[0]
            step = int(steps[i])
            opt = f" of optimizer {name}" if len(run.optimizers) > 1 else ""
            ratio = f"x{actual[i] / planned[i]:.4g}" if planned[i] else "nonzero"
            findings.append(
                Finding.at(
                    PLAN_DEVIATION,
                    WARNING,
                    view.epoch_of_step(step),
                    step,
                    f"From step {step} the actual LR{opt} ({fmt_lr(actual[i])}) left the plan "
                    f"({fmt_lr(planned[i])}; {ratio} where x{k:.4g} was expected) on "
                    f"{len(bad)} of {len(sel)} steps, and no event explains it.",
                )
            )
    return findings


def _describe(events):
    ev = events[-1]
    what = {
        "reduction": "ReduceLROnPlateau",
        "scheduler": "the LearningRateScheduler",
        "lr_change": "the LR change",
    }.get(ev.get("kind"), "the event")
    return f"{what} at {epoch_word(ev.get('epoch'))} ({fmt_lr(ev.get('new_lr'))})"


def scheduler_conflict(view):
    """Which callback won when a scheduler and plateau reductions both set the LR.

    A reduction followed, at the same step, by a `scheduler` event that sets
    another LR was undone before any update used it: the scheduler won. A
    reduction that stays in effect while a scheduler keeps acting leaves the
    actual LR below the scheduler's plan: ReduceLROnPlateau won.
    """
    findings = []
    events = [e for e in view.run.events if _finite(e.get("step"))]
    optimizers = sorted(
        {e.get("optimizer") for e in events if e.get("kind") == "scheduler"}, key=str
    )
    for name in optimizers:
        mine = [e for e in events if e.get("optimizer") in (None, name)]
        reductions = [e for e in mine if e.get("kind") == "reduction"]
        if not reductions:
            continue
        undone = []
        for red in reductions:
            after = [
                e
                for e in mine
                if e.get("kind") == "scheduler"
                and e["step"] == red["step"]
                and mine.index(e) > mine.index(red)
            ]
            # Undone: the scheduler put the LR back to (or above) where the
            # reduction started, instead of building on the reduced LR.
            if (
                after
                and _finite(after[-1].get("new_lr"))
                and _finite(red.get("old_lr"))
                and (after[-1]["new_lr"] >= red["old_lr"] * (1 - 4 * LR_RTOL))
            ):
                undone.append(red)
        first = (undone or reductions)[0]
        label = f" ({name})" if name else ""
        if undone:
            epochs = [epoch_word(e) for e in sorted({e.get("epoch") for e in undone} - {None})]
            findings.append(
                Finding.at(
                    SCHEDULER_CONFLICT,
                    WARNING,
                    first.get("epoch"),
                    first.get("step"),
                    f"LearningRateScheduler won{label}: it undid {len(undone)} of "
                    f"{len(reductions)} ReduceLROnPlateau reduction(s) ({', '.join(epochs[:3])}"
                    f"{', ...' if len(epochs) > 3 else ''}) at the next epoch start, so no update "
                    f"used them; make the schedule build on the current LR (schedule(epoch, lr)) "
                    f"or drop one of the two callbacks.",
                    reductions=len(reductions),
                    undone=len(undone),
                )
            )
            continue
        rows = view.run.optimizers.get(name)
        if rows is None or not len(rows):
            continue
        last = rows[-1]
        if _finite(last[1]) and _finite(last[2]) and last[2] < last[1] * (1 - 4 * LR_RTOL):
            findings.append(
                Finding.at(
                    SCHEDULER_CONFLICT,
                    INFO,
                    first.get("epoch"),
                    first.get("step"),
                    f"ReduceLROnPlateau won{label}: its {len(reductions)} reduction(s) stay in "
                    f"effect and LearningRateScheduler builds on them, so the LR ends at "
                    f"{fmt_lr(last[2])}, {last[1] / last[2]:.3g}x below the scheduler's plan "
                    f"({fmt_lr(last[1])}).",
                    reductions=len(reductions),
                )
            )
    return findings
