"""The step hook's rows, turned into columns in bulk.

The hook of `recorder.OptimizerRecorder` keeps one tuple per optimizer
step: `(epoch, lasts, item_0, item_1, ...)`, where `epoch` is the
scheduler's `last_epoch`, `lasts` the `_last_lr` of the schedulers, one after the other in one tuple
that may have set the LRs, and `item_g` group g's `(lr, *hyperparameters)`
as read from its dict (`betas` as a pair), or its bare `lr` when no
hyperparameter is recorded. Nothing is converted there: the hook runs
between a backward and the next forward, when every Python operation costs
several times what a micro-benchmark gives it. This module converts a
list of rows at once, with numpy.
"""

import math
import operator

import numpy as np
import torch

NAN = float("nan")
_EPOCH = operator.itemgetter(0)
_ITEMS = operator.itemgetter(slice(2, None))


def hparam_columns(layout):
    """The hyperparameter columns of a layout: `(group, key, index or -1)`.

    Args:
      layout: per group, the hyperparameter keys read after `lr`.

    Returns:
      One `(group index, key, index in the pair or -1)` per column.
    """
    return [
        (gi, key, idx)
        for gi, keys in enumerate(layout)
        for key in keys
        for idx in ((0, 1) if key == "betas" else (-1,))
    ]


def columns(rows, layout, exact_types=True):
    """Converts rows to arrays.

    Args:
      rows: the hook's tuples (see the module docstring).
      layout: per recorded group, the hyperparameter keys after `lr`.
      exact_types: the rows hold host numbers only (no tensors, no missing
        groups): numpy converts them in one pass.

    Returns:
      `(epochs, actual, hparams)`: int64 `[n]`, float64 `[n, groups]`,
      float64 `[n, hparam columns]`.
    """
    n, width = len(rows), len(layout)
    epochs = np.fromiter(map(_EPOCH, rows), dtype=np.int64, count=n)
    ncols = len(hparam_columns(layout))
    if exact_types:
        fast = _columns_fast(rows, layout, ncols)
        if fast is not None:
            return (epochs, *fast)
    actual = np.full((n, width), np.nan)
    hps = np.full((n, ncols), np.nan)
    for i, row in enumerate(rows):
        actual[i], hps[i] = _flat(row[2:], layout, ncols)
    return epochs, actual, hps


def _columns_fast(rows, layout, ncols):
    keys = len(layout[0]) if layout else 0
    if any(len(k) != keys for k in layout):
        return None
    items = list(map(_ITEMS, rows))
    try:
        if any("betas" in k for k in layout):
            return _columns_objects(items, layout, ncols)
        # Flat tuples of numbers: numpy reads them in one C pass.
        values = np.array(items, dtype=np.float64)
    except (TypeError, ValueError):  # a tensor on a device, a missing key: row by row
        return None
    n, width = len(rows), len(layout)
    if values.shape != ((n, width, keys + 1) if keys else (n, width)):
        return None
    if not keys:
        return values, np.zeros((n, 0))
    return values[:, :, 0].copy(), values[:, :, 1:].reshape(n, ncols)


def _columns_objects(items, layout, ncols):
    """The fast path's conversion when a group's `betas` nests a pair."""
    n, width, keys = len(items), len(layout), len(layout[0])
    obj = np.array(items, dtype=object)
    if obj.shape != (n, width, keys + 1):
        return None
    lrs = obj[:, :, 0]
    if not set(map(type, lrs.ravel().tolist())) <= {float, int}:
        return None  # a tensor LR, read by `number`
    parts = []
    for gi, group_keys in enumerate(layout):
        for ki, key in enumerate(group_keys, 1):
            column = obj[:, gi, ki]
            if key == "betas":
                parts.append(np.array(column.tolist(), dtype=np.float64).reshape(-1, 2))
            else:
                parts.append(column.astype(np.float64)[:, None])
    return lrs.astype(np.float64), np.concatenate(parts, axis=1).reshape(n, ncols)


def _flat(items, layout, ncols):
    lrs, hps = [NAN] * len(layout), []
    for gi, keys in enumerate(layout):
        item = items[gi] if gi < len(items) else None
        values = item if isinstance(item, tuple) else (item,)
        lrs[gi] = number(values[0])
        for ki, key in enumerate(keys, 1):
            value = values[ki] if ki < len(values) else None
            if key == "betas":
                pair = (
                    value if isinstance(value, (tuple, list)) and len(value) >= 2 else (None,) * 2
                )
                hps.extend((number(pair[0]), number(pair[1])))
            else:
                hps.append(number(value))
    return lrs, (hps + [NAN] * ncols)[:ncols]


def number(value):
    """A float from a host number or a tensor (read now); NaN otherwise."""
    try:
        if isinstance(value, torch.Tensor):
            return float(value.detach())
        return NAN if value is None else float(value)
    except (TypeError, ValueError, RuntimeError):
        return NAN


def changes(rows, actual, first_step, before):
    """The LR changes no scheduler made (a `group["lr"] = ...`).

    Args:
      rows: the hook's tuples, whose `lasts` say what the schedulers set.
      actual: their LRs, float64 `[n, groups]`.
      first_step: the optimizer step of the first row (1-based).
      before: the LRs of the step before the first row, or `None`.

    Returns:
      `(changes, last)`: a list of `(steps done, group, old LR, new LR)`,
      and the LRs of the last row (the next call's `before`).
    """
    if not len(actual):
        return [], before
    prev = np.empty_like(actual)
    prev[1:] = actual[:-1]
    prev[0] = before if before is not None else actual[0]
    same = (prev == actual) | (np.isnan(prev) & np.isnan(actual))
    changed = np.flatnonzero(~same.all(axis=1))
    if before is None:
        changed = changed[changed > 0]
    explained = _explained(rows, actual, changed)
    width = actual.shape[1]
    found = []
    for i in changed[~explained].tolist():
        now, old = actual[i].tolist(), prev[i].tolist()
        lasts = _split(rows[i][1], width)
        for gi, (a, b) in enumerate(zip(old, now, strict=False)):
            if a == b or (math.isnan(a) and math.isnan(b)):
                continue
            if any(number(last[gi]) == b for last in lasts):
                continue
            found.append((first_step + i - 1, gi, a, b))
    return found, actual[-1].tolist()


def _explained(rows, actual, changed):
    """Which of the `changed` rows one scheduler's `_last_lr` explains
    whole (every LR of the step as that scheduler set it)."""
    explained = np.zeros(len(changed), dtype=bool)
    width = actual.shape[1]
    picked = [rows[i][1] for i in changed.tolist()]
    if not picked or not width:
        return explained
    try:
        lasts = np.array(picked, dtype=np.float64)
    except (TypeError, ValueError):  # schedulers came or went, a tensor on a device
        return explained
    if lasts.ndim != 2 or lasts.shape[1] % width:
        return explained
    lasts = lasts.reshape(len(picked), -1, width)
    return (lasts == actual[changed][:, None, :]).all(axis=2).any(axis=1)


def _split(lasts, width):
    """The flat `lasts` of a row, one tuple per scheduler."""
    if not width or len(lasts) % width:
        return []
    return [lasts[k : k + width] for k in range(0, len(lasts), width)]
