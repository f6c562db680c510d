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


def smooth(losses, beta=0.98):
    """Bias-corrected exponential moving average of `losses`.

    Example:
      >>> smooth([1.0, 1.0, 1.0]).tolist()
      [1.0, 1.0, 1.0]
    """
    losses = np.asarray(losses, dtype=np.float64)
    out = np.empty_like(losses)
    avg = 0.0
    for i, loss in enumerate(losses):
        avg = beta * avg + (1 - beta) * loss
        out[i] = avg / (1 - beta ** (i + 1))
    return out


def steepest(lrs, losses, skip_start=2, skip_end=2):
    """The LR where the smoothed loss decreases fastest (per log LR).

    Args:
      lrs: the learning rates of the ramp, increasing.
      losses: the smoothed loss at each.
      skip_start, skip_end: points ignored at both ends (noisy gradients).

    Returns:
      A float, or `None` when the ramp is too short.
    """
    lrs, losses = _finite(lrs, losses)
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
    lrs, losses = _finite(lrs, losses)
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


def _finite(lrs, losses):
    lrs = np.asarray(lrs, dtype=np.float64)
    losses = np.asarray(losses, dtype=np.float64)
    keep = np.isfinite(lrs) & np.isfinite(losses) & (lrs > 0)
    return lrs[keep], losses[keep]
