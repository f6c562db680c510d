"""Any other scalars: the LR and the loss found by a name pattern.

For plain `torch.utils.tensorboard.SummaryWriter` scripts (and anything
else that logs its LR as a scalar), a run is every directory with a scalar
tag that matches the LR pattern. The defaults cover the common names: a
tag that ends in `lr` or `learning_rate` after a `/`, `_`, `.` or `-`
(`lr`, `LR`, `learning_rate`, `train/lr`, `optim/learning-rate`), and a
loss named `loss`, `train/loss` or `train_loss`. A user names any other with
`tb-lr-audit --lr-tag REGEX --loss-tag REGEX`, or the same flags of
`tensorboard` (`--lr_tag`, `--loss_tag`, defined by the plugin's loader).
Patterns are Python regular expressions matched with `re.search`.

Steps are taken as the script logged them; nothing says where epochs
end, so events carry `epoch: null`.
"""

import dataclasses
import re

from tb_lr_plugin import sources
from tb_lr_plugin.sources import scalar_series

NAME = "scalars"
SPLITS = ()
DEFAULT_LR_TAG = r"(?i)^(?!(epoch|batch)_)(.*[/_.-])?(lr|learning[_-]?rate)$"
DEFAULT_LOSS_TAG = r"(?i)^((train|training|batch)[/_])?loss(_step)?$"
DEFAULT_MONITOR_TAG = r"(?i)^(val|valid|validation|eval|test)[/_]loss(_epoch)?$"

LR = re.compile(DEFAULT_LR_TAG)
LOSS = re.compile(DEFAULT_LOSS_TAG)
MONITOR = re.compile(DEFAULT_MONITOR_TAG)
UNKNOWN = (sources.UNKNOWN_PLANNED, sources.UNKNOWN_EPOCHS, sources.UNKNOWN_DECISIONS)

# The flags: `tensorboard --lr_tag`, `tb-lr-audit --lr-tag` (help, default).
FLAGS = {
    "lr_tag": ("Regular expression (re.search) of the scalar tags holding an LR.", DEFAULT_LR_TAG),
    "loss_tag": ("Regular expression of the scalar tag of the training loss.", DEFAULT_LOSS_TAG),
}


@dataclasses.dataclass(frozen=True)
class Options:
    """The compiled patterns (see `options()`)."""

    lr: re.Pattern = LR
    loss: re.Pattern = LOSS


DEFAULTS = Options()


def options(lr_tag=None, loss_tag=None):
    """Compiles a user's patterns (`None` or `""` keeps a default).

    Raises:
      ValueError: a pattern is not a regular expression.
    """
    try:
        return Options(
            lr=re.compile(lr_tag) if lr_tag else LR,
            loss=re.compile(loss_tag) if loss_tag else LOSS,
        )
    except re.error as e:
        raise ValueError(f"not a regular expression: {e.pattern!r} ({e})") from None


def wants(tag):
    """Every scalar: the user's patterns decide which are read as what."""
    return True


def lists_lr(split, tags, options=None):
    """True for a run folder with a scalar tag that matches the LR pattern."""
    lr = (options or DEFAULTS).lr
    return split == sources.OWN and any(lr.search(t) for t in tags)


def read(scalars, options=None):
    """The source-adapter reading (see `tb_lr_plugin.sources`).

    Args:
      scalars: `{".": {tag: float64 [n, 2]}}` step, value.
      options: `Options`, or `None` for the defaults.

    Returns:
      A `sources.SourceRun` with one LR series per matching tag, or `None`.
    """
    opts = options or DEFAULTS
    own = scalars.get(sources.OWN, {})
    run = sources.SourceRun(source=NAME, lr={}, per_step=True, unknown=UNKNOWN, scalars=scalars)
    for tag, points in sorted(own.items()):
        if opts.lr.search(tag):
            run.lr[tag] = scalar_series.rows(points)
            run.tags[tag] = tag
        elif opts.loss.search(tag) and "loss" not in run.batch:
            run.batch["loss"] = scalar_series.rows(points)
            run.tags["loss"] = tag
    if not run.lr:
        return None
    run.events = scalar_series.infer_events(run.lr, scalar_series.EpochTable({}), NAME)
    return run
