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

from tb_lr_plugin.sources import scalar_run

SOURCE = "scalars"
DEFAULT_LR_TAG = r"(?i)(^|[/_.-])(lr|learning[_-]?rate)$"
DEFAULT_LOSS_TAG = r"(?i)^((train|training|batch)[/_])?loss(_step)?$"
DEFAULT_MONITOR_TAG = r"(?i)^(val|valid|validation|eval|test)[/_]loss(_epoch)?$"

LR = re.compile(DEFAULT_LR_TAG)
LOSS = re.compile(DEFAULT_LOSS_TAG)
MONITOR = re.compile(DEFAULT_MONITOR_TAG)

LIMITS = (
    "steps as the script logged them; no epochs",
    "scheduler decisions and plateau state not recorded",
)

# The flags, as `tensorboard --lr_tag` and `tb-lr-audit --lr-tag` spell them.
FLAGS = {
    "lr_tag": (DEFAULT_LR_TAG, "Regular expression of the scalar tags that hold a learning rate."),
    "loss_tag": (DEFAULT_LOSS_TAG, "Regular expression of the scalar tag of the training loss."),
}


@dataclasses.dataclass(frozen=True)
class Options:
    """Compiled patterns (see `options()`)."""

    lr: re.Pattern = LR
    loss: re.Pattern = LOSS
    monitor: re.Pattern = MONITOR


DEFAULTS = Options()


def options(lr_tag=None, loss_tag=None):
    """Compiles user patterns (`None` keeps a default).

    Raises:
      ValueError: a pattern is not a regular expression, with its text.
    """
    try:
        return Options(
            lr=re.compile(lr_tag) if lr_tag else LR,
            loss=re.compile(loss_tag) if loss_tag else LOSS,
        )
    except re.error as e:
        raise ValueError(f"Not a regular expression: {e.pattern!r} ({e})") from None


def matches(tags, opts=DEFAULTS):
    """True when a run's own scalars hold a tag matching the LR pattern."""
    return any(opts.lr.search(t) for t in tags.get("", ()))


def read(scalars, opts=DEFAULTS):
    """A `ScalarRun` of the matched tags, at the steps they were logged.

    Args:
      scalars: `{"": {tag: float64 [n, 2]}}` step, value.
      opts: `Options`.

    Returns:
      A `scalar_run.ScalarRun`.
    """
    own = scalars.get("", {})
    run = scalar_run.ScalarRun(source=SOURCE, limits=list(LIMITS))
    for tag, points in sorted(own.items()):
        series = scalar_run.rows(points)
        if opts.lr.search(tag):
            run.optimizers[tag] = scalar_run.lr_series(series)
            run.tags[tag] = tag
        elif opts.loss.search(tag) and "loss" not in run.batch:
            run.batch["loss"] = series
            run.tags["loss"] = tag
    table = scalar_run.EpochTable({})
    run.events = scalar_run.infer_events(run.optimizers, table, SOURCE)
    return run
