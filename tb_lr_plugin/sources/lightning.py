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

from tb_lr_plugin import sources
from tb_lr_plugin.sources import patterns, scalar_series

NAME = "lightning"
SPLITS = ()
EPOCH_TAG = "epoch"

_LR_RE = re.compile(r"^lr-(?P<name>.+?)(?:-(?P<hyper>momentum|weight_decay))?$")
UNKNOWN = (sources.UNKNOWN_PLANNED, sources.UNKNOWN_DECISIONS, sources.UNKNOWN_PLATEAU)


def wants(tag):
    """Every scalar: the module's own `self.log` names are the metrics."""
    return True


def lists_lr(split, tags, options=None):
    """True for a run folder with `LearningRateMonitor`'s tags and `epoch`."""
    return split == sources.OWN and EPOCH_TAG in tags and any(_LR_RE.match(t) for t in tags)


def _epoch_table(points):
    """Epoch ends from the `epoch` scalar: one past the last step of each epoch."""
    ends = {}
    for step, epoch in scalar_series.rows(points):
        if np.isfinite(epoch):
            ends[int(epoch)] = max(ends.get(int(epoch), 0), int(step) + 1)
    return scalar_series.EpochTable(ends)


def read(scalars, options=None):
    """The source-adapter reading (see `tb_lr_plugin.sources`).

    Args:
      scalars: `{".": {tag: float64 [n, 2]}}` step, value.
      options: unused (the pattern source's options).

    Returns:
      A `sources.SourceRun`, or `None` without `LearningRateMonitor` tags.
    """
    own = scalars.get(sources.OWN, {})
    if not lists_lr(sources.OWN, own):
        return None
    table = _epoch_table(own[EPOCH_TAG])
    run = sources.SourceRun(source=NAME, lr={}, per_step=True, unknown=UNKNOWN, scalars=scalars)
    for tag, points in sorted(own.items()):
        match = _LR_RE.match(tag)
        series = scalar_series.shift(scalar_series.rows(points), 1)
        if match and match.group("hyper"):
            run.hyper.setdefault(match.group("name"), {})[match.group("hyper")] = series
        elif match:
            run.lr[match.group("name")] = series
            run.tags[match.group("name")] = tag
        elif patterns.LOSS.search(tag) and "loss" not in run.batch:
            run.batch["loss"] = series
            run.tags["loss"] = tag
        elif tag != EPOCH_TAG and len(series) <= len(table.ends):
            run.loss[tag] = scalar_series.by_epoch(series, table)
    run.hyper = {k: v for k, v in run.hyper.items() if k in run.lr}
    run.monitor = next((t for t in sorted(run.loss) if patterns.MONITOR.search(t)), None)
    run.epoch_ends = table.ends
    run.events = scalar_series.infer_events(run.lr, table, NAME)
    return run
