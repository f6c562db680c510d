"""Display downsampling: a few thousand points that still tell the truth.

A chart a thousand pixels wide cannot show a million steps, but thinning
must not hide what the tab is for. `select()` keeps, for a series of rows
sorted by step:

- the first and the last row;
- every change point: a row whose value differs from the previous row's
  (and that previous row, so a step change is drawn as a step and not as a
  ramp). When the series changes at almost every row (a cosine decay, a
  noisy loss), only the jumps are kept: changes far larger than the
  series' typical change, and every switch between finite and non-finite;
- the rows around every given step (the events' steps);
- in equal buckets over the rest, the rows holding each column's minimum
  and maximum, so spikes stay visible.

Everything is vectorized numpy; export never goes through here.
"""

import numpy as np

DEFAULT_BUDGET = 2000

# A change this many times larger than the median change is a jump.
_JUMP_FACTOR = 10.0


def select(steps, values, *, budget=DEFAULT_BUDGET, keep_steps=()):
    """Chooses the rows to draw.

    Args:
      steps: 1-D array of steps, sorted ascending.
      values: `[n]` or `[n, k]` array of the series' values (e.g. planned
        and actual); NaN and infinities allowed.
      budget: the most rows to return (at least 16).
      keep_steps: steps whose neighbourhood must be kept (event steps).

    Returns:
      A sorted int64 array of row indices, at most `budget` long; all rows
      when there are no more than `budget`.

    Example:
      >>> import numpy as np
      >>> steps = np.arange(1, 100001)
      >>> lr = np.where(steps <= 50000, 0.1, 0.01)
      >>> idx = select(steps, lr, budget=100)
      >>> len(idx) <= 100, {49999, 50000} <= set(idx.tolist())
      (True, True)
    """
    steps = np.asarray(steps, dtype=np.float64)
    n = len(steps)
    budget = max(int(budget), 16)
    if n <= budget:
        return np.arange(n, dtype=np.int64)
    cols = np.asarray(values, dtype=np.float64).reshape(n, -1)
    # A quarter of the budget for change points, a quarter for events (two
    # or three rows each), the rest for the envelope.
    must = [np.array([0, n - 1], dtype=np.int64)]
    must.append(_change_rows(cols, budget // 8))
    must.append(_event_rows(steps, keep_steps, budget // 12))
    must = np.unique(np.concatenate(must))
    must = must[(must >= 0) & (must < n)]
    room = budget - len(must)
    buckets = max(1, room // (2 * cols.shape[1]))
    picked = np.unique(np.concatenate([must, _envelope_rows(cols, buckets)]))
    if len(picked) > budget:
        # Envelope rows that are not also mandatory go first.
        extra = np.setdiff1d(picked, must)
        picked = np.union1d(must, extra[: max(0, budget - len(must))])
    return picked.astype(np.int64)


def _change_rows(cols, cap):
    """Rows `i` (and `i - 1`) where row `i` differs from row `i - 1`."""
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.diff(cols, axis=0)
    # The usual series (finite values, finite changes): what follows, with
    # every finiteness check known to pass. One sum finds it out: it is
    # finite only when every change is.
    with np.errstate(invalid="ignore", over="ignore"):
        finite = bool(np.isfinite(diff.sum()))
    if finite:
        delta, flips = np.abs(diff), None
        changed = delta[:, 0] > 0
        for k in range(1, delta.shape[1]):
            changed |= delta[:, k] > 0
        rows = np.flatnonzero(changed)
    else:
        delta, flips, rows = _changes_with_non_finite(cols, diff)
    if len(rows) > cap:
        rows = _jumps(delta, flips, cap)
    # `rows` index the diffs: the change is between row r and row r + 1.
    return np.concatenate([rows, rows + 1]).astype(np.int64)


def _changes_with_non_finite(cols, diff):
    """`(delta, flips, rows)` of a series with a NaN, an infinity or an overflowing change."""
    finite = np.isfinite(cols)
    delta = np.abs(diff)
    flips = (finite[1:] != finite[:-1]).any(axis=1)
    changed = np.nan_to_num(delta, nan=0.0, posinf=0.0) > 0
    return delta, flips, np.flatnonzero(changed.any(axis=1) | flips)


def _jumps(delta, flips, cap):
    """The changes of a smooth or noisy series to keep: its jumps, scored
    against the median non-zero change of each column (`flips`: rows that
    switch between finite and not, always kept; `None` when there are none)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        clean = delta if flips is None else np.where(np.isfinite(delta), delta, 0.0)
        scale = np.array([_median(d[d > 0]) for d in clean.T])
        if flips is None:
            score = (delta / scale).max(axis=1) if delta.shape[1] > 1 else delta[:, 0] / scale[0]
        else:
            score = np.nanmax(np.where(np.isfinite(delta), delta / scale, 0.0), axis=1)
            score[flips] = np.inf
    rows = np.flatnonzero(score > _JUMP_FACTOR)
    if len(rows) > cap:
        rows = np.sort(rows[np.argsort(-score[rows], kind="stable")[:cap]])
    return rows


def _median(x):
    """`np.median(x)` of a 1-D float array without NaN (`inf` when empty),
    from one partition: `np.median` takes several times as long on a
    million changes.

    Example:
      >>> float(_median(np.array([4.0, 1.0, 3.0, 2.0]))), float(_median(np.zeros(0)))
      (2.5, inf)
    """
    n = len(x)
    if not n:
        return np.inf
    k = n // 2
    part = np.partition(x, k)
    # Below index k are the k smallest: their largest is the other middle value.
    return part[k] if n % 2 else (part[:k].max() + part[k]) / 2


def _event_rows(steps, keep_steps, cap):
    keep = np.asarray(list(keep_steps), dtype=np.float64).ravel()
    keep = np.unique(keep[np.isfinite(keep)])
    if not len(keep):
        return np.zeros(0, dtype=np.int64)
    if len(keep) > cap:
        keep = keep[np.linspace(0, len(keep) - 1, cap).astype(np.int64)]
    pos = np.searchsorted(steps, keep)
    rows = np.concatenate([pos - 1, pos, pos + 1])
    return np.clip(rows, 0, len(steps) - 1).astype(np.int64)


def _envelope_rows(cols, buckets):
    """The argmin and argmax row of every column in each of `buckets` bins."""
    n = len(cols)
    size = -(-n // buckets)
    buckets = -(-n // size)
    pad = buckets * size - n
    offsets = np.arange(buckets, dtype=np.int64) * size
    out = []
    for col in cols.T:
        nan = np.isnan(col)
        has_nan = bool(nan.any())
        low = np.where(nan, np.inf, col) if has_nan else col
        high = np.where(nan, -np.inf, col) if has_nan else col
        if pad:
            low = np.pad(low, (0, pad), constant_values=np.inf)
            high = np.pad(high, (0, pad), constant_values=-np.inf)
        out.append(offsets + low.reshape(buckets, size).argmin(axis=1))
        out.append(offsets + high.reshape(buckets, size).argmax(axis=1))
    rows = np.concatenate(out)
    return rows[rows < n]
