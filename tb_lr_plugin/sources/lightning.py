"""PyTorch Lightning: `LearningRateMonitor` with `TensorBoardLogger`.

Each `lightning_logs/version_N` directory is a run, with all its scalars
in one place (Lightning 2.6):

- `lr-<Optimizer>` (one parameter group), `lr-<Optimizer>/pg1`, `/pg2`,
  ... (several; 1-based), `lr-<Optimizer>-<n>` for a second optimizer of
  the same class, or the scheduler's `name`;
- `<that>-momentum` (SGD's momentum, Adam's `betas[0]`) with
  `log_momentum=True`, `<that>-weight_decay` with `log_weight_decay=True`;
- `epoch`: the 0-based epoch, logged with every other metric;
- the module's own `self.log` names (`train_loss`, `val_loss`, ...).

Steps are `trainer.global_step`, the updates done so far: the LR at step
`k` is the one update `k + 1` uses, and a metric logged in the `k + 1`-th
`training_step` is at `k`. So every point moves one step up onto our axis.
"""

import re

import numpy as np

from tb_lr_plugin.sources import patterns, scalar_run

SOURCE = "lightning"
EPOCH_TAG = "epoch"
HYPER_SUFFIXES = ("momentum", "weight_decay")

_LR_RE = re.compile(r"^lr-(?P<name>.+?)(?:-(?P<hyper>momentum|weight_decay))?$")
LIMITS = (
    "LR at the resolution LearningRateMonitor logged it",
    "scheduler decisions and plateau state not recorded",
)


def matches(tags):
    """True when the run's own scalars hold `LearningRateMonitor` tags."""
    own = tags.get("", ())
    return EPOCH_TAG in own and any(_LR_RE.match(t) for t in own)


def wanted(tag):
    """True for the tags this adapter reads (every scalar of the run)."""
    return True


def _epoch_table(points):
    """Epoch end steps from the `epoch` scalar: the last step of each epoch."""
    ends = {}
    for step, epoch in scalar_run.rows(points):
        if np.isfinite(epoch):
            ends[int(epoch)] = max(ends.get(int(epoch), 0), int(step) + 1)
    return scalar_run.EpochTable(ends)


def read(scalars, options=None):
    """A `ScalarRun` from the run's scalars.

    Args:
      scalars: `{"": {tag: float64 [n, 2]}}` step, value.
      options: unused (the pattern source's options).

    Returns:
      A `scalar_run.ScalarRun`.
    """
    own = scalars.get("", {})
    table = _epoch_table(own.get(EPOCH_TAG, np.zeros((0, 2))))
    run = scalar_run.ScalarRun(source=SOURCE, limits=list(LIMITS))
    metrics = {}
    for tag, points in sorted(own.items()):
        match = _LR_RE.match(tag)
        series = scalar_run.shift(scalar_run.rows(points), 1)
        if match and match.group("hyper"):
            run.hyper.setdefault(match.group("name"), {})[match.group("hyper")] = series
        elif match:
            run.optimizers[match.group("name")] = scalar_run.lr_series(series)
            run.tags[match.group("name")] = tag
        elif patterns.LOSS.search(tag) and "loss" not in run.batch:
            run.batch["loss"] = series
            run.tags["loss"] = tag
        elif tag != EPOCH_TAG and len(series) <= len(table.ends):
            metrics[tag] = scalar_run.by_epoch(series, table)
    run.hyper = {k: v for k, v in run.hyper.items() if k in run.optimizers}
    run.monitor = next((t for t in sorted(metrics) if patterns.MONITOR.search(t)), None)
    run.epochs = scalar_run.epoch_items(table, {k: v for k, v in metrics.items() if v})
    run.events = scalar_run.infer_events(run.optimizers, table, SOURCE)
    return run
