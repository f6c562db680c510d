"""Series helpers the scalar source adapters share (pure: arrays in, values out).

The adapters put every series on our step axis (1-based: the point at
step `s` is the LR update `s` used), build the epoch table from what the
framework logs, and infer the `lr_change` events here, the same way for
every source.

Inferring events: a source that records no decisions still shows them as
changes of the logged LR. Every change between two logged points is an
`lr_change` event, except changes that are part of a schedule: three or
more changes at consecutive logged points (a warmup, a decay, a cycle) are
the schedule at work, not decisions. The event's step is the number of
updates done when it happened: the end of an epoch between the two
points when there is one (schedulers and plateau callbacks act there),
else the step before the first point with the new value.
"""

import numpy as np

from tb_lr_plugin import metadata
from tb_lr_plugin.sources import keras3

# Changes at this many consecutive logged points or more are a schedule.
SCHEDULE_RUN = 3


def rows(arr):
    """A float64 `[n, 2]` step, value array sorted by step, last write per step."""
    return keras3.series(arr)


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
      optimizers: `{name: [n, 2]}` step, LR.
      table: an `EpochTable`.
      source: the source name the events carry.
      every_change: count every change (the source logs the LR only when
        decisions set it, as Keras 2's `epoch_lr`).

    Returns:
      Event dicts sorted by step, then optimizer.
    """
    events = []
    for name, series in optimizers.items():
        found = keras3.lr_changes(series)
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
                    "old_lr": float(series[i - 1, 1]),
                    "new_lr": float(series[i, 1]),
                    "source": source,
                }
            )
    events.sort(key=lambda e: (e["step"], e["optimizer"]))
    return events


def by_epoch(points, table):
    """`[n, 2]` epoch, value of a metric logged at epoch ends (last per epoch)."""
    out = {}
    for step, value in rows(points):
        epoch = table.epoch_of(step)
        if epoch is not None:
            out[epoch] = float(value)
    return np.array(sorted(out.items()), dtype=np.float64).reshape(-1, 2)
