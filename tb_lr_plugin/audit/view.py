"""What the rules read: a `run_model.Run` seen as epochs, metrics and events."""

import math

import numpy as np

from tb_lr_plugin import formatting, metadata, run_model
from tb_lr_plugin.sources import keras3

# Two learning rates are equal when they differ by at most this much
# relative to the larger, plus LR_RTOL times the run's peak LR (so values
# near zero at the end of a decay compare sensibly).
LR_RTOL = metadata.LR_RTOL

# Events that explain a change of the actual LR.
EXPLAINING_EVENTS = (metadata.EVENT_REDUCTION, metadata.EVENT_LR_CHANGE, metadata.EVENT_SCHEDULER)


class View:
    """What the findings read, from our records or from Keras's scalars."""

    def __init__(self, model):
        self.run = model.data
        self.keras = model.keras
        self.fallback = model.source != run_model.SOURCE_LOGGER
        self.timing = model.timing
        self.epoch_ends = model.epoch_ends
        self._end_epochs = np.array(list(self.epoch_ends), dtype=np.int64)
        self._end_steps = np.array(list(self.epoch_ends.values()), dtype=np.float64)
        self.events = model.raw_events()
        self.keras_epochs = keras3.epoch_series(self.keras)
        self._metrics = {}

    def epoch_of_step(self, step):
        """The epoch that contains update `step` (None if unknown)."""
        if step is None or not len(self._end_steps):
            return None
        i = int(np.searchsorted(self._end_steps, step, side="left"))
        if i < len(self._end_epochs):
            return int(self._end_epochs[i])
        return int(self._end_epochs[-1]) + 1

    def metric(self, name):
        """`{epoch: value}` of an epoch metric (`loss`, `val_loss`, ...)."""
        if name not in self._metrics:
            self._metrics[name] = self._read_metric(name)
        return self._metrics[name]

    def _read_metric(self, name):
        out = {}
        series = self.keras_epochs.get(name)
        if series is not None:
            out.update({int(e): float(v) for e, v in series})
        for item in self.run.epochs:
            logs = item.get("logs")
            if isinstance(logs, dict) and name in logs and isinstance(item.get("epoch"), int):
                value = logs[name]
                out[item["epoch"]] = float(value) if formatting.is_number(value) else math.nan
        for item in self.run.plateau:
            if item.get("monitor") == name and isinstance(item.get("epoch"), int):
                if formatting.is_number(item.get("value")):
                    out[item["epoch"]] = float(item["value"])
        return dict(sorted(out.items()))

    def batch_loss(self):
        """float64 `[n, 2]` of step, batch loss (ours, else Keras's)."""
        rows = self.run.batch.get("loss")
        if rows is not None and len(rows):
            return rows
        series = keras3.batch_series(self.keras).get("loss")
        return series if series is not None else np.zeros((0, 2))
