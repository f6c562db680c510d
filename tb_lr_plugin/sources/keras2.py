"""Keras 2 (`tf.keras` up to 2.15, and `tf_keras`): its `TensorBoard` callback.

The files are laid out as Keras 3's (see `keras3`): `<run>/train` and
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

from tb_lr_plugin import sources
from tb_lr_plugin.sources import keras3, scalar_series

NAME = "keras2"
SPLITS = keras3.SPLITS
LR_TAG = "epoch_lr"
UNKNOWN = (
    sources.UNKNOWN_PLANNED,
    sources.UNKNOWN_STEP_LR,
    sources.UNKNOWN_DECISIONS,
    sources.UNKNOWN_PLATEAU,
)
wants = keras3.wants


def lists_lr(split, tags, options=None):
    """True for a `train` sub-run that lists Keras 2's `epoch_lr`."""
    return split == SPLITS[0] and LR_TAG in tags


def _on_steps(series, table):
    """Epoch-indexed LR points moved to each epoch's first update."""
    starts = [table.start_of(int(e)) for e in series[:, 0]]
    keep = np.array([s is not None for s in starts], dtype=bool)
    out = series[keep].copy()
    out[:, 0] = [s for s in starts if s is not None]
    return out


def read(scalars, options=None):
    """The source-adapter reading (see `tb_lr_plugin.sources`).

    Args:
      scalars: `{"train": {tag: [n, 2]}, "validation": {...}}` step, value.
      options: unused (the pattern source's options).

    Returns:
      A `sources.SourceRun`, or `None` without `epoch_lr`.
    """
    keras = {split: dict(scalars.get(split) or {}) for split in SPLITS}
    if not lists_lr(SPLITS[0], keras[SPLITS[0]]):
        return None
    ends = keras3.epoch_end_steps(keras)
    table = scalar_series.EpochTable(ends)
    lr = scalar_series.rows(keras[SPLITS[0]][LR_TAG])
    metrics = {k: v for k, v in keras3.epoch_series(keras).items() if k != "lr"}
    run = sources.SourceRun(
        source=NAME,
        lr={"lr": _on_steps(lr, table) if ends else lr},
        per_step=bool(ends),
        loss=metrics,
        batch=keras3.batch_series(keras),
        epoch_ends=ends,
        unknown=UNKNOWN if ends else (*UNKNOWN, sources.UNKNOWN_STEPS),
        scalars=keras,
        monitor="val_loss" if "val_loss" in metrics else None,
        tags={"lr": f"{SPLITS[0]}/{LR_TAG}"},
    )
    if ends:
        run.events = scalar_series.infer_events(run.lr, table, NAME, every_change=True)
    else:
        # Epochs are the axis: the change after epoch `e - 1` is at epoch `e - 1`.
        found = scalar_series.infer_events({"lr": lr}, table, NAME, every_change=True)
        run.events = [dict(e, epoch=e["step"], step=None) for e in found]
    return run
