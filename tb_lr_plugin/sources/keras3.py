"""Source adapter: what Keras 3's `keras.callbacks.TensorBoard` wrote.

Runs that no callback of ours wrote can still be audited from the scalars
Keras's own `TensorBoard` callback logs under `<run>/train` and
`<run>/validation`:

- `train/epoch_learning_rate` (`epoch_learning_rate_<optimizer>` for
  multi-optimizer models) at `step=epoch`;
- `train/epoch_<metric>` and `validation/epoch_<metric>` at `step=epoch`;
- `train/batch_<metric>` at a 1-based batch counter (when `update_freq`
  is not `"epoch"`);
- `validation/evaluation_<metric>_vs_iterations` at
  `step=optimizer.iterations`.

Everything here is pure: the input is the `keras` dict the plugin and the
CLI both build, `{"train": {tag: float64 [n, 2]}, "validation": {...}}`
with columns step and value, and nothing is read or written.

When is the logged LR taken? Keras's `TensorBoard` callback reads the
optimizer's LR in its own `on_epoch_end`. With `ReduceLROnPlateau` listed
before it, the value logged for epoch `e` is the LR *after* the reduction
at the end of `e` (timing `"after"`); listed after it, the value is the LR
the epoch trained with (timing `"during"`). The files do not say which, so
`lr_timing()` infers it: a plateau reduction happens at an epoch whose
monitored value did not improve, and a `ReduceLROnPlateau` with some
patience and cooldown must reproduce the reductions' epochs exactly. The
timing under which the changes are consistent with that wins; when the
data cannot tell, `"after"` is assumed. See docs/audit.md.
"""

import math
import re

import numpy as np

from tb_lr_plugin import metadata, run_data, sources

NAME = "keras"
SPLITS = ("train", "validation")
LR_TAG = "epoch_learning_rate"
TIMING_AFTER = "after"
TIMING_DURING = "during"
SOURCE = "keras.callbacks.TensorBoard"

# Relative change of the logged LR below which two epochs count as equal.
LR_RTOL = metadata.LR_RTOL

# Search space of the ReduceLROnPlateau replay used to infer the timing:
# patience 1..15, cooldown 0..3, min_delta in _MIN_DELTAS (Keras's default
# is 1e-4), monitor val_loss or loss.
_MAX_PATIENCE = 15
_MAX_COOLDOWN = 3
_MIN_DELTAS = (0.0, 1e-4, 1e-3, 1e-2)

_EVAL_RE = re.compile(r"^evaluation_(.+)_vs_iterations$")
_MAX_MODE_WORDS = ("acc", "auc", "precision", "recall", "f1", "iou", "r2", "top_k")


def _series(arr):
    """Returns a float64 `[n, 2]` array sorted by step, last write per step."""
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] < 2 or not len(arr):
        return np.zeros((0, 2))
    arr = arr[:, :2]
    return run_data.last_per_step(arr[np.isfinite(arr[:, 0])])


def _tags(keras, split):
    if not keras:
        return {}
    tags = keras.get(split)
    return tags if isinstance(tags, dict) else {}


def has_lr(keras):
    """True when `keras` holds an `epoch_learning_rate` series."""
    return bool(lr_series(keras))


def lr_series(keras):
    """The epoch learning rates Keras logged.

    Args:
      keras: the `{"train": {...}, "validation": {...}}` scalars dict.

    Returns:
      `{optimizer: float64 [n, 2]}` of epoch, LR. The optimizer is `None`
      for the single-optimizer tag `epoch_learning_rate`, otherwise the
      name from `epoch_learning_rate_<name>`.
    """
    out = {}
    for tag, arr in _tags(keras, "train").items():
        if tag == LR_TAG:
            name = None
        elif tag.startswith(LR_TAG + "_"):
            name = tag[len(LR_TAG) + 1 :]
        else:
            continue
        series = _series(arr)
        if len(series):
            out[name] = series
    return out


def epoch_series(keras):
    """Epoch metrics by their `logs` name (`loss`, `val_loss`, ...).

    Returns:
      `{name: float64 [n, 2]}` of epoch, value; validation metrics get the
      `val_` prefix back, as in Keras's `logs`.
    """
    out = {}
    for split, prefix in (("train", ""), ("validation", "val_")):
        for tag, arr in _tags(keras, split).items():
            if not tag.startswith("epoch_") or tag.startswith(LR_TAG):
                continue
            name = tag[len("epoch_") :]
            if name == "steps_per_second":
                continue
            series = _series(arr)
            if len(series):
                out[prefix + name] = series
    return out


def batch_series(keras):
    """Per-batch training metrics (`batch_<metric>`) by metric name."""
    out = {}
    for tag, arr in _tags(keras, "train").items():
        if tag.startswith("batch_") and tag != "batch_steps_per_second":
            series = _series(arr)
            if len(series):
                out[tag[len("batch_") :]] = series
    return out


def epoch_end_steps(keras):
    """The optimizer step at the end of each epoch, where it can be known.

    `validation/evaluation_<m>_vs_iterations` is logged at
    `optimizer.iterations` after each validation with the same value as
    that epoch's `validation/epoch_<m>`, so matching values in order gives
    the exact step. Without validation, a `batch_*` series whose length is
    a whole number of steps per epoch gives it by counting (one `fit`
    call, every batch logged).

    Returns:
      `{epoch: step}`; empty when neither source is there.
    """
    validation = _tags(keras, "validation")
    for tag, arr in sorted(validation.items()):
        match = _EVAL_RE.match(tag)
        if not match or ("epoch_" + match.group(1)) not in validation:
            continue
        evals = _series(arr)
        epochs = _series(validation["epoch_" + match.group(1)])
        steps = _match_in_order(epochs, evals)
        if steps:
            return steps
    batches = batch_series(keras)
    losses = epoch_series(keras).get("loss")
    if batches and losses is not None and len(losses):
        counter = max(batches.values(), key=len)
        n_epochs = len(losses)
        last = int(counter[-1, 0])
        if (
            len(counter) == last
            and last % n_epochs == 0
            and np.array_equal(losses[:, 0], losses[0, 0] + np.arange(n_epochs))
        ):
            per_epoch = last // n_epochs
            first = int(losses[0, 0])
            return {first + i: (i + 1) * per_epoch for i in range(n_epochs)}
    return {}


def _match_in_order(epochs, evals):
    """Pairs each epoch value with the next evaluation point of equal value."""
    out = {}
    j = 0
    for epoch, value in epochs:
        while j < len(evals) and not _same(evals[j, 1], value):
            j += 1
        if j == len(evals):
            break
        out[int(epoch)] = int(evals[j, 0])
        j += 1
    return out if len(out) == len(epochs) else {}


def _same(a, b):
    return a == b or (math.isnan(a) and math.isnan(b))


def lr_changes(series):
    """Indices `i` (>= 1) where the LR differs from the row before."""
    lr = series[:, 1]
    prev, cur = lr[:-1], lr[1:]
    changed = np.abs(cur - prev) > LR_RTOL * np.maximum(np.abs(cur), np.abs(prev))
    changed |= np.isfinite(cur) != np.isfinite(prev)
    return [int(i) + 1 for i in np.flatnonzero(changed)]


def attributed_epoch(series, i, timing):
    """The epoch whose end a change between rows `i - 1` and `i` followed.

    Under `"after"` the value at epoch `e` is already the new LR, so the
    change came at the end of `e`; under `"during"` epoch `e` trained with
    the new LR, so the change came at the end of the epoch before it.
    """
    epoch = int(series[i, 0])
    return epoch if timing == TIMING_AFTER else int(series[i - 1, 0])


def mode_for(name):
    """`"min"` or `"max"`: how Keras's `mode="auto"` would read a metric."""
    base = name[4:] if name.startswith("val_") else name
    if "loss" in base or "error" in base:
        return "min"
    if any(word in base for word in _MAX_MODE_WORDS):
        return "max"
    return "min"


def improved(value, best, mode, min_delta=0.0):
    """Keras's `MonitorCallback._is_improvement`."""
    if best is None:
        return True
    if mode == "max":
        return value - abs(min_delta) > best
    return value + abs(min_delta) < best


def _decreases(lrs, timing):
    out = set()
    for series in lrs.values():
        for i in lr_changes(series):
            if series[i, 1] < series[i - 1, 1]:
                out.add(attributed_epoch(series, i, timing))
    return sorted(out)


def _new_best_epochs(series, mode, min_delta):
    best = None
    out = set()
    for epoch, value in series:
        if improved(value, best, mode, min_delta):
            best = value
            out.add(int(epoch))
    return out


def _replay(values, patience, cooldown, mode, min_delta):
    """Epoch indices (into `values`) where Keras's callback would reduce."""
    best, wait, counter, out = None, 0, 0, []
    for i, value in enumerate(values):
        if counter > 0:
            counter -= 1
            wait = 0
        if improved(value, best, mode, min_delta):
            best, wait = value, 0
        elif counter == 0:
            wait += 1
            if wait >= patience:
                out.append(i)
                counter, wait = cooldown, 0
    return out


def _consistent(decreases, metrics):
    """True if some ReduceLROnPlateau setting replays exactly `decreases`."""
    if not decreases:
        return False
    last = decreases[-1]
    for name, series in metrics.items():
        epochs = [int(e) for e in series[:, 0]]
        if not set(decreases) <= set(epochs):
            continue
        # Nothing after the last decrease matters: the replay stops there.
        values = [float(v) for v in series[: epochs.index(last) + 1, 1]]
        mode = mode_for(name)
        for min_delta in _MIN_DELTAS:
            for patience in range(1, min(_MAX_PATIENCE, len(values)) + 1):
                for cooldown in range(_MAX_COOLDOWN + 1):
                    got = _replay(values, patience, cooldown, mode, min_delta)
                    if [epochs[i] for i in got if epochs[i] <= last] == decreases:
                        return True
    return False


def _contradictions(decreases, metrics):
    """Fewest decreases placed at an epoch where a candidate monitor improved."""
    counts = []
    for name, series in metrics.items():
        for min_delta in _MIN_DELTAS[:2]:
            best_epochs = _new_best_epochs(series, mode_for(name), min_delta)
            counts.append(sum(1 for e in decreases if e in best_epochs))
    return min(counts) if counts else 0


def _monitor_candidates(keras):
    metrics = epoch_series(keras)
    return {n: metrics[n] for n in ("val_loss", "loss") if n in metrics}


def lr_timing(keras):
    """Infers when Keras took the logged LR (see the module docstring).

    Returns:
      `TIMING_AFTER` or `TIMING_DURING`.
    """
    lrs = lr_series(keras)
    metrics = _monitor_candidates(keras)
    after = _decreases(lrs, TIMING_AFTER)
    during = _decreases(lrs, TIMING_DURING)
    if not after:
        return TIMING_AFTER
    fits_after = _consistent(after, metrics)
    fits_during = _consistent(during, metrics)
    if fits_after != fits_during:
        return TIMING_AFTER if fits_after else TIMING_DURING
    if _contradictions(during, metrics) < _contradictions(after, metrics):
        return TIMING_DURING
    return TIMING_AFTER


def fallback_events(keras, timing=None):
    """`lr_change` events for a run written only by Keras's TensorBoard.

    Args:
      keras: the `{"train": {...}, "validation": {...}}` scalars dict.
      timing: `TIMING_AFTER`, `TIMING_DURING`, or `None` to infer it.

    Returns:
      Event dicts sorted by epoch: `kind` (`"lr_change"`), `epoch` (the
      epoch whose end the change followed, as in Keras's verbose line
      `Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to X`),
      `step` (the optimizer step then, or `None` if the logs cannot tell),
      `old_lr`, `new_lr`, `source`, and `optimizer` for multi-optimizer
      models.

    Example:
      >>> import numpy as np
      >>> lr = np.array([[0, 1e-3], [1, 1e-3], [2, 5e-4]])
      >>> [e["epoch"] for e in fallback_events({"train": {LR_TAG: lr}}, "after")]
      [2]
    """
    lrs = lr_series(keras)
    if not lrs:
        return []
    if timing is None:
        timing = lr_timing(keras)
    steps = epoch_end_steps(keras)
    events = []
    for name, series in lrs.items():
        for i in lr_changes(series):
            epoch = attributed_epoch(series, i, timing)
            event = metadata.event_item(
                metadata.EVENT_LR_CHANGE,
                epoch,
                steps.get(epoch),
                old_lr=float(series[i - 1, 1]),
                new_lr=float(series[i, 1]),
                source=SOURCE,
            )
            if name is not None:
                event["optimizer"] = name
            events.append(event)
    events.sort(key=lambda e: (e["epoch"], e.get("optimizer") or ""))
    return events


def wants(tag):
    """The scalars Keras's `TensorBoard` callback writes."""
    return (
        tag.startswith("epoch_")
        or tag.startswith("batch_")
        or (tag.startswith("evaluation_") and tag.endswith("_vs_iterations"))
    )


def optimizer_name(tag):
    """`epoch_learning_rate` -> `learning_rate`; `epoch_learning_rate_adam` -> `adam`."""
    rest = tag[len(LR_TAG) :]
    return rest[1:] if rest.startswith("_") and len(rest) > 1 else "learning_rate"


def read(scalars):
    """The source-adapter reading (see `tb_lr_plugin.sources`).

    Args:
      scalars: `{"train": {tag: rows}, "validation": {...}}`.

    Returns:
      A `sources.SourceRun`, or `None` without `epoch_learning_rate`.
    """
    keras = {split: dict(_tags(scalars, split)) for split in SPLITS}
    lrs = lr_series(keras)
    if not lrs:
        return None
    timing = lr_timing(keras)
    ends = epoch_end_steps(keras)
    unknown = (sources.UNKNOWN_PLANNED, sources.UNKNOWN_DECISIONS)
    return sources.SourceRun(
        source=NAME,
        lr={
            ("learning_rate" if k is None else k): v
            for k, v in sorted(lrs.items(), key=lambda kv: LR_TAG + "_" + (kv[0] or ""))
        },
        loss=epoch_series(keras),
        epoch_ends=ends,
        events=fallback_events(keras, timing),
        unknown=unknown if ends else (*unknown, sources.UNKNOWN_STEPS),
        timing=timing,
        scalars=keras,
    )
