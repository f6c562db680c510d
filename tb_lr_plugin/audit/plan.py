"""Rules about the plan: `plan_deviation` (the actual LR left the planned
one unexplained) and `scheduler_conflict` (a schedule undid a reduction).
"""

import math

import numpy as np

from tb_lr_plugin import formatting as fmt
from tb_lr_plugin import metadata
from tb_lr_plugin.audit import wording
from tb_lr_plugin.audit.finding import (
    INFO,
    PLAN_DEVIATION,
    SCHEDULER_CONFLICT,
    WARNING,
    Finding,
    epoch_word,
)
from tb_lr_plugin.audit.view import EXPLAINING_EVENTS, LR_RTOL


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
        if ev.get("kind") not in EXPLAINING_EVENTS or not fmt.is_finite(ev.get("step")):
            continue
        if ev.get("optimizer") not in (None, optimizer):
            continue
        by_step.setdefault(float(ev["step"]), ([], []))[0].append(ev)
    for session in run.sessions[1:]:
        start = session.get("start_step")
        if fmt.is_finite(start):
            by_step.setdefault(float(start), ([], []))[1].append(session)
    return [(s, evs, bool(sessions)) for s, (evs, sessions) in sorted(by_step.items())]


def _first_ratios(planned, actual, atol):
    """`ratio(lo, hi)`: actual / planned at the first row of `[lo, hi)` whose
    planned LR is not zero, or `None` (one scan of the rows for all calls)."""
    nonzero = np.flatnonzero(np.abs(planned) > atol)

    def ratio(lo, hi):
        p = int(np.searchsorted(nonzero, lo))
        if p == len(nonzero) or nonzero[p] >= hi:
            return None
        i = nonzero[p]
        return float(actual[i] / planned[i])

    return ratio


def _claim_holds(events, actual_first, planned_first, k_prev, atol):
    """Whether the LR after `events` is what they say it became."""
    claims = [
        (e.get("old_lr"), e.get("new_lr"))
        for e in events
        if fmt.is_finite(e.get("old_lr")) and fmt.is_finite(e.get("new_lr"))
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
        finite = np.isfinite(rows[:, 1]) & np.isfinite(rows[:, 2])
        rows = rows if finite.all() else rows[finite]  # a row mask copies slowly
        if not (rows[1:, 0] >= rows[:-1, 0]).all():
            # Sorted (as the run model keeps them), each stretch is a slice.
            rows = rows[np.argsort(rows[:, 0], kind="stable")]
        if len(rows):
            label = name if len(run.optimizers) > 1 else None
            findings += _deviations(view, label, rows, _boundaries(run, name))
    return findings


def _deviations(view, label, rows, bounds):
    """`plan_deviation` of one optimizer: the first one per planned stretch.

    A stretch is the rows after one boundary up to and with the next one's
    step; `rows` are sorted by step.
    """
    steps, planned, actual = rows[:, 0], rows[:, 1], rows[:, 2]
    atol = LR_RTOL * float(max(np.abs(planned).max(), np.abs(actual).max()))
    edges = [-math.inf] + [b[0] for b in bounds] + [math.inf]
    cuts = np.searchsorted(steps, edges, side="right").tolist()
    ratio = _first_ratios(planned, actual, atol)
    k = 1.0
    found = []
    for j in range(len(edges) - 1):
        lo, hi = cuts[j], cuts[j + 1]
        if lo == hi:
            continue
        if j > 0:
            k, override = _after_boundary(
                bounds[j - 1], planned[lo], actual[lo], ratio(lo, hi), k, atol
            )
            if override:
                step = int(steps[lo])
                message = wording.plan_overridden(step, label, actual[lo], override)
                found.append(_deviation(view, step, message))
                continue
        ok = _close(actual[lo:hi], k * planned[lo:hi], atol)
        # A row at exactly an event's step may already carry the new LR.
        edge = int(np.searchsorted(steps, edges[j + 1])) if j + 2 < len(edges) else hi
        k_next = ratio(hi, len(steps)) if edge < hi else None
        if k_next is not None:
            ok[edge - lo :] |= _close(actual[edge:hi], k_next * planned[edge:hi], atol)
        bad = np.flatnonzero(~ok)
        if len(bad):
            i = lo + int(bad[0])
            step = int(steps[i])
            message = wording.plan_left(step, label, actual[i], planned[i], k, len(bad), hi - lo)
            found.append(_deviation(view, step, message))
    return found


def _after_boundary(bound, planned_first, actual_first, k_new, k, atol):
    """`(k, override)` after an event or a new session: the ratio of actual to
    planned from there on (`k_new`, from the stretch's first row with a
    planned LR), and what the LR should have been if it was not."""
    _, evs, session = bound
    explained = bool(evs) and _claim_holds(evs, actual_first, planned_first, k, atol)
    if session and k_new is not None:
        # A new fit may carry the ratio on or re-base its plan.
        explained |= _same_ratio(k_new, k) or _same_ratio(k_new, 1.0)
    if explained:
        return (k_new if k_new is not None else k), None
    return k, (_describe(evs) if evs else "resuming the training")


def _deviation(view, step, message):
    return Finding.at(PLAN_DEVIATION, WARNING, view.epoch_of_step(step), step, message)


def _describe(events):
    ev = events[-1]
    what = {
        "reduction": "ReduceLROnPlateau",
        "scheduler": "the LearningRateScheduler",
        "lr_change": "the LR change",
    }.get(ev.get("kind"), "the event")
    return f"{what} at {epoch_word(ev.get('epoch'))} ({fmt.lr(ev.get('new_lr'))})"


def scheduler_conflict(view):
    """Which callback won when a scheduler and plateau reductions both set the LR.

    A reduction followed, at the same step, by a `scheduler` event that sets
    another LR was undone before any update used it: the scheduler won. A
    reduction that stays in effect while a scheduler keeps acting leaves the
    actual LR below the scheduler's plan: ReduceLROnPlateau won.
    """
    findings = []
    events = [e for e in view.run.events if fmt.is_finite(e.get("step"))]
    optimizers = sorted(
        {e.get("optimizer") for e in events if e.get("kind") == metadata.EVENT_SCHEDULER}, key=str
    )
    for name in optimizers:
        mine = [e for e in events if e.get("optimizer") in (None, name)]
        reductions = [e for e in mine if e.get("kind") == metadata.EVENT_REDUCTION]
        if not reductions:
            continue
        undone = _undone(mine, reductions)
        first = (undone or reductions)[0]
        label = f" ({name})" if name else ""
        if undone:
            epochs = sorted({e.get("epoch") for e in undone} - {None})
            message = wording.scheduler_won(label, len(undone), len(reductions), epochs)
            findings.append(
                Finding.at(
                    SCHEDULER_CONFLICT,
                    WARNING,
                    first.get("epoch"),
                    first.get("step"),
                    message,
                    reductions=len(reductions),
                    undone=len(undone),
                )
            )
            continue
        rows = view.run.optimizers.get(name)
        last = rows[-1] if rows is not None and len(rows) else None
        if last is None or not (fmt.is_finite(last[1]) and fmt.is_finite(last[2])):
            continue
        if last[2] < last[1] * (1 - 4 * LR_RTOL):
            findings.append(
                Finding.at(
                    SCHEDULER_CONFLICT,
                    INFO,
                    first.get("epoch"),
                    first.get("step"),
                    wording.plateau_won(label, len(reductions), last[2], last[1]),
                    reductions=len(reductions),
                )
            )
    return findings


def _undone(events, reductions):
    """The reductions a `scheduler` event at the same step put back.

    Undone: the scheduler set the LR back to (or above) where the reduction
    started, instead of building on the reduced LR.
    """
    undone = []
    for red in reductions:
        after = [
            e
            for e in events
            if e.get("kind") == metadata.EVENT_SCHEDULER
            and e["step"] == red["step"]
            and events.index(e) > events.index(red)
        ]
        if (
            after
            and fmt.is_finite(after[-1].get("new_lr"))
            and fmt.is_finite(red.get("old_lr"))
            and (after[-1]["new_lr"] >= red["old_lr"] * (1 - 4 * LR_RTOL))
        ):
            undone.append(red)
    return undone
