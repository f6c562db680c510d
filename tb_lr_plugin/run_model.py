"""What a run is: the one model the plugin, the CLI and the audit share.

The transports (`reader.py` for the plugin, `loader.py` for the CLI) list
and read; this module decides everything else, once:

- which runs exist: a run of our records, or the parent of a source's
  sub-runs (Keras's `<run>/train`, `<run>/validation`, see `sibling` and
  `parent_of`);
- which scalars to read (`sources.wants`);
- its `source`: our records when they hold a learning rate
  (`has_own_lr`), else the first source adapter that claims its scalars
  (`tb_lr_plugin.sources`), else our records (an LR range test alone);
- its epoch table (where each epoch ends on the step axis) and `axis`;
- its LR series per optimizer, and the events to show, in one order.

Example:
  >>> import numpy as np
  >>> from tb_lr_plugin import run_data
  >>> lr = np.array([[0, 1e-3], [1, 1e-3], [2, 5e-4]])
  >>> run = build("exp", run_data.RunData(), {"train": {"epoch_learning_rate": lr}})
  >>> run.source, run.axis, [e["kind"] for e in run.events()]
  ('keras', 'epoch', ['lr_change'])
"""

import dataclasses
import math

import numpy as np

from tb_lr_plugin import run_data, sources
from tb_lr_plugin.sources import keras3, records

SOURCE_LOGGER = records.NAME
SOURCE_KERAS = keras3.NAME
AXIS_STEP = "step"
AXIS_EPOCH = "epoch"
KERAS_TRAIN, KERAS_VALIDATION = keras3.SPLITS


def sibling(run, split):
    """The sub-run `split` of `run` (`"train"` of `"."` is `"train"`)."""
    return split if run in ("", ".") else f"{run}/{split}"


def siblings(run):
    """Every sub-run of `run` a source reads."""
    return [sibling(run, split) for split in sources.splits()]


def parent_of(name):
    """`(run, split)` when `name` is a source's sub-run of `run`, else `None`."""
    head, _, tail = name.rpartition("/")
    if tail in sources.splits():
        return (head or ".", tail)
    return None


def wants_scalar(tag):
    """True when a source reads the scalar `tag` (the transports' filter)."""
    return sources.wants(tag)


def lists_lr(split, tags):
    """True when a sub-run's listed scalar `tags` can hold a learning rate."""
    return split == KERAS_TRAIN and any(t.startswith(keras3.LR_TAG) for t in tags)


def has_own_lr(data):
    """True when our records of a run hold a learning rate or its decisions."""
    return bool(data.optimizers or data.events or data.epochs or data.plateau)


def event_order(event):
    """The order events are shown in: by step, then epoch; unknown last."""
    step = event.get("step")
    step = step if isinstance(step, (int, float)) else math.inf
    epoch = event.get("epoch")
    epoch = epoch if isinstance(epoch, (int, float)) else math.inf
    return (step, epoch)


@dataclasses.dataclass
class Run:
    """One run, as every reader and the audit see it.

    Attributes:
      run: the run name (`.` for the logdir itself).
      source: `"logger"` (our records) or a source adapter's `NAME`.
      data: the `run_data.RunData` of our records (empty if none).
      keras: `{"train": {tag: float64 [n, 2]}, "validation": {...}}` of
        step and value, as Keras wrote them (`epoch_*` at step = epoch).
      scalar: the `sources.SourceRun` the run is served from, or `None`
        when it is served from our records.
      optimizers: `{name: float64 [n, 3]}` step, planned, actual; from a
        scalar source, planned is NaN.
      epoch: int64 array of epochs; `step`: the step of each epoch's last
        update (for `axis == "epoch"`, the epoch itself).
      axis: `"step"`, or `"epoch"` when epochs cannot be placed on steps.
      epoch_ends: `{epoch: step}`, the same table as a dict.
    """

    run: str
    source: str
    data: run_data.RunData
    keras: dict
    scalar: sources.SourceRun | None
    optimizers: dict
    epoch: np.ndarray
    step: np.ndarray
    axis: str
    epoch_ends: dict

    @property
    def name(self):
        """The run name (`run`), as the CLI's loader called it."""
        return self.run

    @property
    def timing(self):
        """When the scalar source read the LR (`None` for our records)."""
        return self.scalar.timing if self.scalar is not None else None

    def raw_events(self):
        """The run's events in the source's order (what the audit reads)."""
        return self.scalar.events if self.scalar is not None else self.data.events

    def events(self):
        """The events to show, in `event_order`."""
        return sorted(self.raw_events(), key=event_order)

    def epoch_steps(self, epochs):
        """Maps epoch numbers to steps; unknown epochs give -1."""
        epochs = np.asarray(epochs, dtype=np.float64)
        if not len(self.epoch):
            return np.full(len(epochs), -1, dtype=np.int64)
        pos = np.clip(np.searchsorted(self.epoch, epochs), 0, len(self.epoch) - 1)
        hit = self.epoch[pos] == epochs
        return np.where(hit, self.step[pos], -1)

    @property
    def last_step(self):
        if self.axis == AXIS_EPOCH:
            return None
        last = [int(rows[-1, 0]) for rows in self.optimizers.values() if len(rows)]
        last += [int(rows[-1, 0]) for rows in self.data.batch.values() if len(rows)]
        if len(self.step):
            last.append(int(self.step.max()))
        return max(last) if last else None


def split_scalars(keras):
    """`keras` with every split present (`{"train": {}, "validation": {}}`)."""
    keras = keras or {}
    return {split: dict(keras.get(split) or {}) for split in keras3.SPLITS}


def build(name, data, keras, cls=Run, **extra):
    """The `Run` of `name` from its records and its sources' scalars.

    Args:
      name: the run name.
      data: the `run_data.RunData` of our records.
      keras: `{split: {tag: float64 [n, 2]}}` of the run's sub-runs, or
        `None`.
      cls: `Run` or a subclass; `extra` its further fields.

    Returns:
      A `cls`. Whether it has anything to show is `has_data(run)`.
    """
    keras = split_scalars(keras)
    scalar = sources.read(keras)
    served = None if has_own_lr(data) else scalar
    ends = _own_epoch_ends(data) or (scalar.epoch_ends if scalar is not None else {})
    epoch, step, axis = _epoch_table(ends, data, keras)
    if served is None:
        optimizers = data.optimizers
    else:
        optimizers = _scalar_optimizers(served, epoch, step, axis)
    return cls(
        run=name,
        source=SOURCE_LOGGER if served is None else served.source,
        data=data,
        keras=keras,
        scalar=served,
        optimizers=optimizers,
        epoch=epoch,
        step=step,
        axis=axis,
        epoch_ends=dict(zip(epoch.tolist(), step.tolist(), strict=True))
        if axis == AXIS_STEP
        else {},
        **extra,
    )


def has_data(run):
    """True when a run has something of ours or an LR from a source."""
    return run.scalar is not None or not run.data.empty


def _own_epoch_ends(data):
    ends = {}
    for item in list(data.plateau) + list(data.epochs):
        epoch, step = item.get("epoch"), item.get("step")
        if isinstance(epoch, int) and isinstance(step, (int, float)) and math.isfinite(step):
            ends[epoch] = int(step)
    return dict(sorted(ends.items()))


def _epoch_table(ends, data, keras):
    """`(epoch, step, axis)`: where each epoch ends on the step axis.

    From our records; failing them, from the source's scalars; failing
    both, epochs are their own axis.
    """
    if ends:
        arr = np.array(list(ends.items()), dtype=np.float64)
        return arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), AXIS_STEP
    if data.optimizers or data.batch:
        # Our rows are on the step axis even before the first epoch ends
        # (a live first epoch, or a file cut before its `epochs` record).
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), AXIS_STEP
    epochs = sorted(
        {
            int(e)
            for split in keras.values()
            for tag, rows in split.items()
            if tag.startswith("epoch_")
            for e in rows[:, 0]
        }
    )
    arr = np.array(epochs, dtype=np.int64)
    return arr, arr.copy(), AXIS_EPOCH


def _scalar_optimizers(served, epoch, step, axis):
    """A source's LR series as `[n, 3]` step, planned (NaN), actual."""
    result = {}
    for name, rows in served.lr.items():
        epochs = rows[:, 0]
        if axis == AXIS_EPOCH or served.per_step:
            steps = epochs
        else:
            pos = np.clip(np.searchsorted(epoch, epochs), 0, max(len(epoch) - 1, 0))
            hit = (epoch[pos] == epochs) if len(epoch) else np.zeros(len(epochs), bool)
            steps = np.where(hit, step[pos] if len(step) else 0, -1)
        keep = steps >= 0
        out = np.stack([steps[keep], np.full(keep.sum(), np.nan), rows[keep, 1]], axis=1)
        result[name] = out.astype(np.float64)
    return result


# Scalars that are no loss to overlay (the LR itself, Keras's throughput).
_NOT_LOSS = ("learning_rate", "steps_per_second")


def loss_series(run):
    """The run's loss and metric series to overlay, ours first, then Keras's.

    Returns:
      `(name, source, resolution, x, values)` tuples: `resolution` is
      `"step"` (x: steps) or `"epoch"` (x: epochs); a Keras series whose
      name one of ours already has is left out.
    """
    out, names = [], set()

    def add(name, source, resolution, x, values):
        names.add(name)
        out.append((name, source, resolution, x, values))

    if run.axis == AXIS_STEP:
        for metric, rows in sorted(run.data.batch.items()):
            add("batch_" + metric, SOURCE_LOGGER, "step", rows[:, 0], rows[:, 1])
    for name, (epochs, values) in sorted(_logger_epoch_logs(run.data.epochs).items()):
        add(name, SOURCE_LOGGER, "epoch", epochs, values)
    for split, prefix in ((KERAS_TRAIN, ""), (KERAS_VALIDATION, "val_")):
        for tag, rows in sorted(run.keras[split].items()):
            if any(skip in tag for skip in _NOT_LOSS):
                continue
            on_steps = run.axis == AXIS_STEP
            if split == KERAS_TRAIN and tag.startswith("batch_") and on_steps:
                if tag not in names:
                    add(tag, SOURCE_KERAS, "step", rows[:, 0], rows[:, 1])
            elif tag.startswith("epoch_"):
                name = prefix + tag[len("epoch_") :]
                if name not in names:
                    add(name, SOURCE_KERAS, "epoch", rows[:, 0], rows[:, 1])
            elif split == KERAS_VALIDATION and tag.startswith("evaluation_") and on_steps:
                add(tag, SOURCE_KERAS, "step", rows[:, 0], rows[:, 1])
    return out


def monitor(data):
    """The metric our plateau callback monitored, or `None`."""
    for item in reversed(data.plateau):
        if isinstance(item.get("monitor"), str):
            return item["monitor"]
    for event in reversed(data.events):
        if isinstance(event.get("monitor"), str):
            return event["monitor"]
    return None


def _logger_epoch_logs(epochs):
    """`{name: (epochs, values)}` from the logger's per-epoch `logs`."""
    series = {}
    for item in epochs:
        epoch = item.get("epoch")
        logs = item.get("logs")
        if not isinstance(epoch, (int, float)) or not isinstance(logs, dict):
            continue
        for name, value in logs.items():
            if any(skip in name for skip in _NOT_LOSS):
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                value = float(value)
            elif value is None:
                value = float("nan")
            else:
                continue
            series.setdefault(name, ([], []))
            series[name][0].append(epoch)
            series[name][1].append(value)
    return {
        name: (np.asarray(e, dtype=np.float64), np.asarray(v, dtype=np.float64))
        for name, (e, v) in series.items()
    }
