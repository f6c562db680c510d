"""What a source adapter gives: a run's scalars turned into run data.

An adapter reads one framework's tag conventions and returns a
`ScalarRun`: the LR per optimizer or parameter group on our step axis
(1-based: the point at step `s` is the LR update `s` used), the loss, where
each epoch ends, the epoch metrics (the monitored one included), the
hyperparameters logged beside the LR (momentum, betas, weight decay), and
the `lr_change` events inferred from the data. Everything here is pure:
arrays in, values out.

Inferring events: a source that records no decisions still shows them as
changes of the logged LR. Every change between two logged points is an
`lr_change` event, except changes that are part of a schedule: three or
more changes at consecutive logged points (a warmup, a decay, a cycle) are
the schedule at work, not decisions. The event's step is the number of
updates done when it happened: the end of an epoch between the two
points when there is one (schedulers and plateau callbacks act there),
else the step before the first point with the new value.
"""

import dataclasses

import numpy as np

from tb_lr_plugin import metadata

# Relative change of a float32 LR below which two points count as equal.
LR_RTOL = 16 * float(np.finfo(np.float32).eps)

# Changes at this many consecutive logged points or more are a schedule.
SCHEDULE_RUN = 3


@dataclasses.dataclass
class ScalarRun:
    """One run as an adapter reads it.

    Attributes:
      source: the source's name (`"lightning"`, `"huggingface"`, ...).
      limits: what the source cannot know, in words the tab shows.
      optimizers: `{name: float64 [n, 3]}` step, planned (NaN: no plan is
        logged), actual.
      hyper: `{name: {param: float64 [n, 2]}}` step, value, for the
        hyperparameters logged beside an LR series (`momentum`,
        `weight_decay`).
      batch: `{metric: float64 [n, 2]}` step, value (the loss per update).
      epochs: `[{"epoch", "step", "logs": {...}}]` as our `epochs` records.
      events: inferred `lr_change` event dicts, sorted by step.
      monitor: the name (in `logs`) of the metric a plateau callback would
        watch, or `None`.
      tags: `{series: tag}`: the scalar tag each series came from.
    """

    source: str
    limits: list = dataclasses.field(default_factory=list)
    optimizers: dict = dataclasses.field(default_factory=dict)
    hyper: dict = dataclasses.field(default_factory=dict)
    batch: dict = dataclasses.field(default_factory=dict)
    epochs: list = dataclasses.field(default_factory=list)
    events: list = dataclasses.field(default_factory=list)
    monitor: str = None
    tags: dict = dataclasses.field(default_factory=dict)


def rows(arr):
    """A float64 `[n, 2]` step, value array sorted by step, last write per step."""
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] < 2 or not len(arr):
        return np.zeros((0, 2))
    arr = arr[np.isfinite(arr[:, 0]), :2]
    rev = arr[::-1]
    _, idx = np.unique(rev[:, 0], return_index=True)
    return rev[idx]


def lr_series(points):
    """`[n, 2]` step, LR as `[n, 3]` step, planned (NaN), actual."""
    points = rows(points)
    return np.stack([points[:, 0], np.full(len(points), np.nan), points[:, 1]], axis=1)


def shift(points, by):
    """The same points `by` steps later (a framework's 0-based step to ours)."""
    out = np.array(points, dtype=np.float64, copy=True)
    out[:, 0] += by
    return out


class EpochTable:
    """Where epochs end on the step axis: `{epoch: step of its last update}`."""

    def __init__(self, ends):
        self.ends = dict(sorted((int(e), int(s)) for e, s in ends.items()))
        self._epochs = np.array(list(self.ends), dtype=np.int64)
        self._steps = np.array(list(self.ends.values()), dtype=np.float64)

    def epoch_of(self, step):
        """The epoch that holds update `step`, or `None` if unknown."""
        if step is None or not len(self._steps):
            return None
        i = int(np.searchsorted(self._steps, step, side="left"))
        if i < len(self._epochs):
            return int(self._epochs[i])
        return int(self._epochs[-1]) + 1

    def end_between(self, first, last):
        """The last epoch end in `[first, last)`, or `None`."""
        lo = np.searchsorted(self._steps, first, side="left")
        hi = np.searchsorted(self._steps, last, side="left")
        return int(self._steps[hi - 1]) if hi > lo else None

    def start_of(self, epoch):
        """The first update of `epoch` (1 for the first epoch), or `None`."""
        if epoch == (self._epochs[0] if len(self._epochs) else None):
            return 1
        prev = self.ends.get(int(epoch) - 1)
        return None if prev is None else prev + 1


def changes(values):
    """Indices `i >= 1` where `values[i]` differs from `values[i - 1]`."""
    values = np.asarray(values, dtype=np.float64)
    prev, cur = values[:-1], values[1:]
    changed = np.abs(cur - prev) > LR_RTOL * np.maximum(np.abs(cur), np.abs(prev))
    changed |= np.isfinite(cur) != np.isfinite(prev)
    return [int(i) + 1 for i in np.flatnonzero(changed)]


def unscheduled(indices):
    """Drops the changes that are runs of `SCHEDULE_RUN` consecutive points."""
    out, run = [], []
    for i in [*indices, None]:
        if run and i is not None and i == run[-1] + 1:
            run.append(i)
            continue
        if len(run) < SCHEDULE_RUN:
            out += run
        run = [i]
    return out


def infer_events(optimizers, table, source, every_change=False):
    """`lr_change` events for the LR changes of `optimizers`.

    Args:
      optimizers: `{name: [n, 3]}` step, planned, actual.
      table: an `EpochTable`.
      source: the source name the events carry.
      every_change: count every change (the source logs the LR only when
        decisions set it, as Keras 2's `epoch_lr`).

    Returns:
      Event dicts sorted by step, then optimizer.
    """
    events = []
    for name, series in optimizers.items():
        found = changes(series[:, 2])
        for i in found if every_change else unscheduled(found):
            first, last = series[i - 1, 0], series[i, 0]
            step = table.end_between(first, last)
            step = int(last) - 1 if step is None else step
            events.append(
                {
                    "kind": metadata.EVENT_LR_CHANGE,
                    "epoch": table.epoch_of(step),
                    "step": step,
                    "optimizer": name,
                    "old_lr": float(series[i - 1, 2]),
                    "new_lr": float(series[i, 2]),
                    "source": source,
                }
            )
    events.sort(key=lambda e: (e["step"], e["optimizer"]))
    return events


def epoch_items(table, metrics):
    """Our `epochs` items from an epoch table and `{name: {epoch: value}}`."""
    out = []
    for epoch, step in table.ends.items():
        logs = {n: v[epoch] for n, v in metrics.items() if epoch in v}
        out.append({"epoch": epoch, "step": step, "logs": logs})
    return out


def by_epoch(points, table):
    """`{epoch: value}` of a metric logged at epoch ends (last per epoch)."""
    out = {}
    for step, value in rows(points):
        epoch = table.epoch_of(step)
        if epoch is not None:
            out[epoch] = float(value)
    return out
