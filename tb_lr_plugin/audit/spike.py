"""The rule about LR increases: `loss_spike_after_lr_change`."""

import math

import numpy as np

from tb_lr_plugin import formatting as fmt
from tb_lr_plugin.audit.finding import (
    LOSS_SPIKE_AFTER_LR_CHANGE,
    WARNING,
    Finding,
    epoch_word,
)
from tb_lr_plugin.audit.view import LR_RTOL
from tb_lr_plugin.sources import keras3

# loss_spike_after_lr_change, per step: within SPIKE_WINDOW_STEPS steps
# after the LR rose, the batch loss became NaN/inf or exceeded
# SPIKE_RATIO_STEP times the median of the SPIKE_REFERENCE_STEPS steps
# before it. Per epoch (no batch loss): the epoch loss of the first two
# epochs trained with the higher LR became NaN/inf or exceeded
# SPIKE_RATIO_EPOCH times the epoch before.
SPIKE_WINDOW_STEPS = 20
SPIKE_REFERENCE_STEPS = 20
SPIKE_RATIO_STEP = 3.0
SPIKE_RATIO_EPOCH = 1.5


def _increase_points(view):
    """The LR's rises: a jump, or a ramp such as a warmup, up to its end.

    Returns:
      Sorted `(start, end, old_lr, new_lr, first_epoch)`. From per-step
      data, `start` is the first update at a raised LR and `end` the first
      at the top of the rise (`first_epoch` None); from Keras's epoch LRs,
      `start`/`end` are None and `first_epoch` is the first epoch trained
      at the new LR.
    """
    points = set()
    for rows in view.run.optimizers.values():
        finite = np.isfinite(rows[:, 2])
        rows = rows if finite.all() else rows[finite]  # a row mask copies slowly
        if len(rows) < 2:
            continue
        actual = rows[:, 2]
        atol = LR_RTOL * float(np.abs(actual).max())
        up = actual[1:] > actual[:-1] + LR_RTOL * np.abs(actual[:-1]) + atol
        for i in np.flatnonzero(up) + 1:
            if i + 1 < len(rows) and up[i]:
                continue  # still rising
            j = i - 1
            while j > 0 and up[j - 1]:
                j -= 1
            start, end = int(rows[j + 1, 0]), int(rows[i, 0])
            points.add((start, end, float(actual[j]), float(actual[i]), None))
    if view.fallback:
        for ev in view.events:
            old, new = ev.get("old_lr"), ev.get("new_lr")
            if fmt.is_finite(old) and fmt.is_finite(new) and new > old * (1 + LR_RTOL):
                # Under "after" the new value first shows at the epoch it is
                # attributed to; under "during" the epoch after.
                first = ev["epoch"] + (0 if view.timing == keras3.TIMING_AFTER else 1)
                points.add((None, None, float(old), float(new), first))
    return sorted(points, key=lambda p: (p[0] is None, p[0] or 0, p[4] or 0))


def loss_spike(view):
    points = _increase_points(view)
    if not points:
        return []
    loss = view.batch_loss()
    findings = []
    seen = set()
    for start, end, old, new, first_epoch in points:
        spike = None
        covered = False
        if start is not None and len(loss):
            window = (loss[:, 0] > start) & (loss[:, 0] <= end + SPIKE_WINDOW_STEPS)
            covered = bool(window.any())
            if covered:
                spike = _step_spike(loss, start, end)
        if not covered:
            if first_epoch is None:
                first_epoch = view.epoch_of_step(start)
            spike = _epoch_spike(view, first_epoch)
        if spike is None:
            continue
        at_step, at_epoch, what = spike
        if at_epoch is None:
            at_epoch = view.epoch_of_step(at_step)
        if (at_step, at_epoch) in seen:
            continue
        seen.add((at_step, at_epoch))
        if start is None:
            where = f"the start of {epoch_word(first_epoch)}"
        elif start == end:
            where = f"step {start}"
        else:
            where = f"steps {start}-{end}"
        findings.append(
            Finding.at(
                LOSS_SPIKE_AFTER_LR_CHANGE,
                WARNING,
                at_epoch,
                at_step,
                f"The loss {what}, right after the LR rose from {fmt.lr(old)} to "
                f"{fmt.lr(new)} at {where}: the new LR is probably too high for this model.",
            )
        )
    return findings


def _step_spike(loss, start, end):
    """Per-step check of one rise; `(step, None, what)` or None.

    The batch loss at step `s` is computed before update `s`, so the first
    loss the raised LR can affect is at `start + 1`.
    """
    steps, values = loss[:, 0], loss[:, 1]
    ref = values[(steps <= start) & (steps > start - SPIKE_REFERENCE_STEPS)]
    if not len(ref) or not np.isfinite(ref).all():
        return None  # no reference, or the loss had already gone bad
    window = np.flatnonzero((steps > start) & (steps <= end + SPIKE_WINDOW_STEPS))
    if not len(window):
        return None
    reference = float(np.median(ref))
    vals = values[window]
    bad = ~np.isfinite(vals)
    if reference > 0:
        bad |= vals > SPIKE_RATIO_STEP * reference
    if not bad.any():
        return None
    i = window[np.flatnonzero(bad)[0]]
    step = int(steps[i])
    if not math.isfinite(values[i]):
        return step, None, f"became {values[i]} at step {step}"
    return (
        step,
        None,
        f"rose from {fmt.number(reference)} to {fmt.number(values[i])} at step {step}",
    )


def _epoch_spike(view, first):
    """Epoch-level check: `first` is the first epoch trained at the new LR."""
    losses = view.metric("loss")
    if not losses or first is None:
        return None
    before = [e for e in losses if e < first]
    if not before:
        return None
    reference = losses[before[-1]]
    for epoch in (first, first + 1):
        value = losses.get(epoch)
        if value is None:
            continue
        if not math.isfinite(value):
            return (view.epoch_ends.get(epoch), epoch, f"became {value} in {epoch_word(epoch)}")
        if math.isfinite(reference) and reference > 0 and value > SPIKE_RATIO_EPOCH * reference:
            return (
                view.epoch_ends.get(epoch),
                epoch,
                f"rose from {fmt.number(reference)} to {fmt.number(value)} in {epoch_word(epoch)}",
            )
    return None
