"""Suggesting a learning rate from an LR range test (pure numpy).

The range test raises the LR exponentially, one step at a time, and
records the loss at each. Two classic readings of that curve:

- `steepest`: where the smoothed loss falls fastest against log(LR);
- `valley`: the longest stretch over which the loss keeps decreasing,
  read halfway down it (fastai's rule; less sensitive to noise).

`LearningRateFinder` (the callback) and the readers (tab, CLI) use the same
functions, so every place shows the same figure.
"""

import numpy as np

from tb_lr_plugin import formatting


def smooth(losses, beta=0.98):
    """Bias-corrected exponential moving average of `losses`.

    Example:
      >>> smooth([2.0, 2.0, 2.0]).round(12).tolist()
      [2.0, 2.0, 2.0]
    """
    losses = np.asarray(losses, dtype=np.float64)
    out = np.empty_like(losses)
    avg = 0.0
    for i, loss in enumerate(losses):
        avg = beta * avg + (1 - beta) * loss
        out[i] = avg / (1 - beta ** (i + 1))
    return out


def steepest(lrs, losses, skip_start=None, skip_end=None):
    """The LR where the smoothed loss decreases fastest (per log LR).

    Args:
      lrs: the learning rates of the ramp, increasing.
      losses: the smoothed loss at each.
      skip_start, skip_end: points ignored at both ends, where the moving
        average is still warming up and where the loss explodes. By default
        a tenth of the ramp at the start (at most 10, as fastai) and 5 at
        the end, fewer for short ramps.

    Returns:
      A float, or `None` when the ramp is too short.
    """
    lrs, losses = _finite_points(lrs, losses)
    if skip_start is None:
        skip_start = min(10, len(lrs) // 10)
    if skip_end is None:
        skip_end = min(5, len(lrs) // 10)
    if len(lrs) < skip_start + skip_end + 3:
        return None
    grads = np.gradient(losses, np.log(lrs))
    window = slice(skip_start, len(lrs) - skip_end)
    return float(lrs[window][int(np.argmin(grads[window]))])


def valley(lrs, losses):
    """The LR halfway down the longest decreasing stretch of the loss.

    Returns:
      A float, or `None` when the ramp is too short.
    """
    lrs, losses = _finite_points(lrs, losses)
    n = len(losses)
    if n < 3:
        return None
    # Longest decreasing subsequence ending at each point (n is small).
    lds = np.ones(n, dtype=int)
    for i in range(1, n):
        earlier = np.nonzero(losses[:i] > losses[i])[0]
        if len(earlier):
            lds[i] = lds[earlier].max() + 1
    end = int(np.argmax(lds))
    start = end - int(lds[end]) + 1
    sections = (end - start) / 3
    return float(lrs[start + int(sections) + int(sections / 2)])


def _finite_points(lrs, losses):
    lrs = np.asarray(lrs, dtype=np.float64)
    losses = np.asarray(losses, dtype=np.float64)
    keep = np.isfinite(lrs) & np.isfinite(losses) & (lrs > 0)
    return lrs[keep], losses[keep]


def range_tests(items):
    """The range tests of a run, checked and made ready to show.

    The one reading of `finder` records that the plugin's `finder` route
    and `tb-lr-audit` share. Each item keeps what `LearningRateFinder`
    recorded; `lr`, `loss` and `smoothed` become aligned lists (points
    whose LR is not a positive number are dropped; a missing or non-finite
    loss is `None`), and a suggestion that is missing (a record written by
    something else) is recomputed from the smoothed curve. Items without an
    `lr` list are skipped.

    Args:
      items: `RunData.finder`, the recorded items in write order.

    Returns:
      A list of dicts with at least `lr`, `loss`, `smoothed`, `steepest`,
      `valley`, `min_lr`, `max_lr`, `num_steps`, `step` and `time`.

    Example:
      >>> item = {"lr": [1e-3, 1e-2, 1e-1], "loss": [1.0, 0.5, 0.2], "step": 0}
      >>> test = range_tests([item])[0]
      >>> test["smoothed"] == smooth([1.0, 0.5, 0.2]).tolist(), test["valley"]
      (True, 0.001)
    """
    tests = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("lr"), list):
            continue
        lrs = item["lr"]
        keep = [i for i, lr in enumerate(lrs) if formatting.is_finite(lr) and lr > 0]
        loss = _aligned(item.get("loss"), len(lrs))
        smoothed = item.get("smoothed")
        if not (isinstance(smoothed, list) and len(smoothed) == len(lrs)):
            beta = item.get("smoothing")
            beta = beta if formatting.is_finite(beta) and 0 <= beta < 1 else 0.98
            values = [np.nan if v is None else v for v in loss]
            smoothed = smooth(values, beta).tolist() if values else []
        smoothed = _aligned(smoothed, len(lrs))
        test = dict(item)
        test["lr"] = [float(lrs[i]) for i in keep]
        test["loss"] = [loss[i] for i in keep]
        test["smoothed"] = [smoothed[i] for i in keep]
        for rule in (steepest, valley):
            name = rule.__name__
            if not formatting.is_finite(item.get(name)):
                curve = [np.nan if v is None else v for v in test["smoothed"]]
                test[name] = rule(test["lr"], curve) if test["lr"] else None
        for name in ("min_lr", "max_lr", "num_steps", "step", "time"):
            test[name] = item.get(name) if formatting.is_finite(item.get(name)) else None
        tests.append(test)
    return tests


def _aligned(values, n):
    """`values` as `n` floats or `None`s (missing or non-finite -> None)."""
    values = values if isinstance(values, list) else []
    out = [float(v) if formatting.is_finite(v) else None for v in values[:n]]
    return out + [None] * (n - len(out))
