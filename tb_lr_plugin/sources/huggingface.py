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

from tb_lr_plugin.sources import scalar_run

SOURCE = "huggingface"
LR_TAG = "train/learning_rate"
EPOCH_TAG = "train/epoch"
LOSS_TAG = "train/loss"
EVAL_PREFIX = "eval/"
MONITOR = "eval_loss"
LIMITS = (
    "LR every logging_steps updates",
    "epoch ends only as exact as logging_steps",
    "scheduler decisions and plateau state not recorded",
)


def matches(tags):
    """True when the run's own scalars are the `Trainer`'s."""
    own = tags.get("", ())
    return LR_TAG in own and EPOCH_TAG in own


def _epoch_table(points):
    ends = {}
    for step, epoch in scalar_run.rows(points):
        if np.isfinite(epoch) and epoch > 0:
            index = math.ceil(epoch) - 1
            ends[index] = max(ends.get(index, 0), int(step))
    return scalar_run.EpochTable(ends)


def read(scalars, options=None):
    """A `ScalarRun` from the `Trainer`'s scalars.

    Args:
      scalars: `{"": {tag: float64 [n, 2]}}` step, value.
      options: unused (the pattern source's options).

    Returns:
      A `scalar_run.ScalarRun`.
    """
    own = scalars.get("", {})
    table = _epoch_table(own.get(EPOCH_TAG, np.zeros((0, 2))))
    run = scalar_run.ScalarRun(source=SOURCE, limits=list(LIMITS), monitor=MONITOR)
    run.optimizers["learning_rate"] = scalar_run.lr_series(own[LR_TAG])
    run.tags["learning_rate"] = LR_TAG
    if LOSS_TAG in own:
        run.batch["loss"] = scalar_run.rows(own[LOSS_TAG])
        run.tags["loss"] = LOSS_TAG
    metrics = {
        "eval_" + tag[len(EVAL_PREFIX) :]: scalar_run.by_epoch(points, table)
        for tag, points in own.items()
        if tag.startswith(EVAL_PREFIX)
    }
    run.epochs = scalar_run.epoch_items(table, {k: v for k, v in metrics.items() if v})
    run.events = scalar_run.infer_events(run.optimizers, table, SOURCE)
    return run
