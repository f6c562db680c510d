"""Keras 2 (`tf.keras` up to 2.15, and `tf_keras`): its `TensorBoard` callback.

The files are laid out as Keras 3's (see `keras_logs`): `<run>/train` and
`<run>/validation`, `epoch_<metric>` at `step=epoch`, `batch_<metric>` at
the 1-based update count. What differs is the LR:

- `train/epoch_lr`: `ReduceLROnPlateau` and `LearningRateScheduler` put
  `logs["lr"]` at the end of each epoch, so `TensorBoard` (listed after
  them) logs it. The value is the LR the epoch trained with
  (`ReduceLROnPlateau` writes it before it reduces), so the point goes to
  the epoch's first update, and a change between epochs `e - 1` and `e`
  was decided at the end of `e - 1`. Only decisions set it, so every
  change is an event.
- `train/epoch_learning_rate`: written when the optimizer has a
  `LearningRateSchedule` (the schedule at `optimizer.iterations`), in the
  same form as Keras 3's, which reads it.

tf_keras 2.21 writes `batch_*` only when `write_steps_per_second=True` (or
while profiling), even with `update_freq="batch"`.
"""

import numpy as np

from tb_lr_plugin import keras_logs
from tb_lr_plugin.sources import scalar_run

SOURCE = "keras2"
LR_TAG = "epoch_lr"
LIMITS = ("epoch resolution only", "plateau state not recorded")
NO_STEPS = "no step axis: epochs only (log with validation or write_steps_per_second)"


def matches(tags):
    """True when Keras 2's `epoch_lr` is in the run's `train` scalars."""
    return LR_TAG in tags.get(keras_logs.TRAIN, ())


def _on_steps(series, table):
    """Epoch-indexed LR points moved to each epoch's first update."""
    starts = [table.start_of(int(e)) for e in series[:, 0]]
    keep = np.array([s is not None for s in starts], dtype=bool)
    out = series[keep].copy()
    out[:, 0] = [s for s in starts if s is not None]
    return out


def read(scalars, options=None):
    """A `ScalarRun` from Keras 2's `train` and `validation` scalars.

    Args:
      scalars: `{"train": {tag: [n, 2]}, "validation": {...}}` step, value.
      options: unused (the pattern source's options).

    Returns:
      A `scalar_run.ScalarRun`.
    """
    keras = {k: v for k, v in scalars.items() if k in keras_logs.SPLITS}
    ends = keras_logs.epoch_end_steps(keras)
    table = scalar_run.EpochTable(ends)
    lr = scalar_run.lr_series(keras[keras_logs.TRAIN][LR_TAG])
    run = scalar_run.ScalarRun(source=SOURCE, limits=list(LIMITS), monitor="val_loss")
    metrics = {
        name: {int(e): float(v) for e, v in series}
        for name, series in keras_logs.epoch_series(keras).items()
        if name != "lr"
    }
    if "val_loss" not in metrics:
        run.monitor = "loss" if "loss" in metrics else None
    if ends:
        run.optimizers["lr"] = _on_steps(lr, table)
        run.batch = keras_logs.batch_series(keras)
        run.epochs = scalar_run.epoch_items(table, metrics)
        run.events = scalar_run.infer_events(run.optimizers, table, SOURCE, every_change=True)
    else:
        run.limits.append(NO_STEPS)
        run.axis = "epoch"
        run.optimizers["lr"] = lr
        run.epochs = [
            {"epoch": e, "step": e, "logs": {n: v[e] for n, v in metrics.items() if e in v}}
            for e in sorted({e for v in metrics.values() for e in v})
        ]
        run.events = [
            dict(ev, epoch=ev["step"], step=None)
            for ev in scalar_run.infer_events(
                {"lr": lr}, scalar_run.EpochTable({}), SOURCE, every_change=True
            )
        ]
    run.tags["lr"] = keras_logs.TRAIN + "/" + LR_TAG
    return run
