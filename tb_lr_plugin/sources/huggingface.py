"""Hugging Face `Trainer` with `report_to="tensorboard"`.

One run per logging directory (`TENSORBOARD_LOGGING_DIR`, by default
`<output_dir>/runs/<date>_<host>`), every scalar at `step=global_step`,
the updates done (transformers 5.24):

- `train/learning_rate`: the LR the update at that step used, every
  `logging_steps` updates;
- `train/loss`, `train/grad_norm`;
- `train/epoch`: updates done / updates per epoch, a fraction;
- `eval/loss` and the other `eval/<metric>` at each evaluation, which
  is what `lr_scheduler_type="reduce_lr_on_plateau"` steps on
  (`metric_for_best_model`, `eval_loss` by default).

The steps are already ours (1-based update counts). An epoch ends at the
last logged step whose `train/epoch` has not passed the next whole number.
"""

import math

import numpy as np

from tb_lr_plugin import sources
from tb_lr_plugin.sources import scalar_series

NAME = "huggingface"
SPLITS = ()
LR_TAG = "train/learning_rate"
EPOCH_TAG = "train/epoch"
LOSS_TAG = "train/loss"
EVAL_PREFIX = "eval/"
MONITOR = "eval_loss"
# `eval/` scalars that time the evaluation rather than measure the model.
_TIMINGS = ("runtime", "samples_per_second", "steps_per_second")
UNKNOWN = (sources.UNKNOWN_PLANNED, sources.UNKNOWN_DECISIONS, sources.UNKNOWN_PLATEAU)


def wants(tag):
    """The `Trainer`'s `train/` and `eval/` scalars."""
    return tag.startswith(("train/", EVAL_PREFIX))


def lists_lr(split, tags, options=None):
    """True for a run folder with `train/learning_rate` and `train/epoch`."""
    return split == sources.OWN and LR_TAG in tags and EPOCH_TAG in tags


def _epoch_table(points):
    """Epoch `e` ends at the last step whose `train/epoch` is at most `e + 1`."""
    ends = {}
    for step, epoch in scalar_series.rows(points):
        if np.isfinite(epoch) and epoch > 0:
            index = math.ceil(epoch) - 1
            ends[index] = max(ends.get(index, 0), int(step))
    return scalar_series.EpochTable(ends)


def read(scalars, options=None):
    """Reads the `Trainer`'s scalars (see `tb_lr_plugin.sources` for the interface).

    Args:
      scalars: the run's own scalars under `"."`, as step, value rows.
      options: not used here.

    Returns:
      A `sources.SourceRun`, or `None` when the `Trainer`'s tags are missing.
    """
    own = scalars.get(sources.OWN, {})
    if not lists_lr(sources.OWN, own):
        return None
    table = _epoch_table(own[EPOCH_TAG])
    run = sources.SourceRun(
        source=NAME,
        lr={"learning_rate": scalar_series.rows(own[LR_TAG])},
        per_step=True,
        unknown=UNKNOWN,
        scalars=scalars,
        monitor=MONITOR,
        tags={"learning_rate": LR_TAG},
    )
    if LOSS_TAG in own:
        run.batch["loss"] = scalar_series.rows(own[LOSS_TAG])
        run.tags["loss"] = LOSS_TAG
    for tag, points in sorted(own.items()):
        if tag.startswith(EVAL_PREFIX) and not tag.endswith(_TIMINGS):
            run.loss["eval_" + tag[len(EVAL_PREFIX) :]] = scalar_series.by_epoch(points, table)
    run.epoch_ends = table.ends
    run.events = scalar_series.infer_events(run.lr, table, NAME)
    return run
