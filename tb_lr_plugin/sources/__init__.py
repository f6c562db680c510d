"""Sources: what wrote a run, and how to read its learning rate from it.

A *source adapter* turns what one framework logs into the run model's
terms. The two transports (`reader.py` through TensorBoard's data
provider, `loader.py` over event files for the CLI) only list and read
plain scalars; the run model (`run_model.py`) hands each run's scalars to
the adapters and keeps the first one that claims them. Our own records
(`records.py`) are the first source and win whenever they hold an LR;
the rest fill in runs our callbacks did not write.

An adapter is a module in this package with:

- `NAME`: the `source` the `runs` route reports (`"keras"`).
- `SPLITS`: the sub-runs it reads beside the run itself, as run-name
  suffixes (Keras: `("train", "validation")`; `()` for a framework that
  writes everything into the run's own folder). The run itself is `"."`.
- `wants(tag) -> bool`: which scalar tags the transports must read for
  it. Called on every listed tag, so it must be cheap and pure.
- `read(scalars) -> SourceRun | None`: `scalars` is
  `{split: {tag: float64 [n, 2]}}` (columns step and value, in the order
  written, duplicates possible) with `split` one of `"."` and `SPLITS`;
  `None` when the scalars hold no learning rate this source knows.

- `lists_lr(split, tags, options) -> bool`: whether a sub-run whose
  listed scalar tags are `tags` makes its run one of this source's; the
  transports use it to find runs before reading anything.

`read` and `lists_lr` also take `options`, the pattern source's
`patterns.Options` (the user's `--lr-tag`, `--loss-tag`), or `None`.

The sources, in the order they are tried: `keras3`, `keras2`,
`lightning`, `huggingface`, `patterns` (any other scalars). Adding one:
a module here with the names above, listed in `_adapters()`, and a test
over logs the real library wrote (tests/framework_logs.py).

Example:
  >>> import numpy as np
  >>> from tb_lr_plugin import sources
  >>> lr = np.array([[0, 1e-3], [1, 1e-3], [2, 5e-4]])
  >>> got = sources.read({"train": {"epoch_learning_rate": lr}})
  >>> got.source, list(got.lr), [e["epoch"] for e in got.events]
  ('keras', ['learning_rate'], [2])
"""

import dataclasses

# What a source cannot know (`SourceRun.unknown`), and how the runs list
# and the tab say it.
UNKNOWN_PLANNED = "planned"  # the LR the plan prescribed: only the LR used
UNKNOWN_STEPS = "steps"  # where epochs end on the step axis
UNKNOWN_DECISIONS = "decisions"  # why the LR changed: changes are inferred
UNKNOWN_PLATEAU = "plateau"  # a plateau callback's state (wait, best, patience)
UNKNOWN_STEP_LR = "step_lr"  # the LR between epoch ends: epoch resolution only
UNKNOWN_EPOCHS = "epochs"  # where epochs end at all
UNKNOWN_TEXT = {
    UNKNOWN_PLANNED: "planned LR not recorded",
    UNKNOWN_STEPS: "epochs not placed on steps",
    UNKNOWN_DECISIONS: "LR changes inferred from the data",
    UNKNOWN_PLATEAU: "plateau state not recorded",
    UNKNOWN_STEP_LR: "epoch resolution only",
    UNKNOWN_EPOCHS: "no epochs: steps as logged",
}
# The run's own folder, as a split: Lightning, Hugging Face and plain
# scalars write everything there.
OWN = "."


@dataclasses.dataclass
class SourceRun:
    """One run's learning-rate data as a source adapter read it.

    Attributes:
      source: the adapter's `NAME`.
      lr: `{series name: float64 [n, 2]}` of epoch (or step when
        `per_step`), LR actually used; one series per optimizer or
        parameter group, named as the framework names it.
      per_step: True when `lr`'s first column is the optimizer step.
      loss: `{metric name: float64 [n, 2]}` of epoch, value, named as in
        Keras's `logs` (`loss`, `val_loss`).
      epoch_ends: `{epoch: step}` of the step at each epoch's end, where
        the logs can tell (empty otherwise).
      events: inferred `lr_change` event dicts (the contract's fields),
        sorted by epoch.
      unknown: what the logs cannot tell, from the `UNKNOWN_*` names.
      timing: source-specific note on when the LR was read (Keras:
        `"after"` or `"during"` the epoch-end callbacks), or `None`.
      scalars: the `{split: {tag: rows}}` the adapter read.
      batch: `{metric: float64 [n, 2]}` of step, value: per-update metrics
        (the training loss) on our step axis.
      hyper: `{series name: {param: float64 [n, 2]}}` of step, value: the
        hyperparameters logged beside an LR series (`momentum`, which is
        Adam's `betas[0]`, and `weight_decay`).
      monitor: the `loss` name a plateau callback would watch
        (`val_loss`, `eval_loss`), or `None` for the audit's default.
      tags: `{series name: scalar tag}` the series came from.
    """

    source: str
    lr: dict
    per_step: bool = False
    loss: dict = dataclasses.field(default_factory=dict)
    epoch_ends: dict = dataclasses.field(default_factory=dict)
    events: list = dataclasses.field(default_factory=list)
    unknown: tuple = ()
    timing: str | None = None
    scalars: dict = dataclasses.field(default_factory=dict)
    batch: dict = dataclasses.field(default_factory=dict)
    hyper: dict = dataclasses.field(default_factory=dict)
    monitor: str | None = None
    tags: dict = dataclasses.field(default_factory=dict)

    @property
    def limits(self):
        """What the source cannot know, in the words the tab shows."""
        return [UNKNOWN_TEXT[u] for u in self.unknown]


def _adapters():
    from tb_lr_plugin.sources import huggingface, keras2, keras3, lightning, patterns

    return (keras3, keras2, lightning, huggingface, patterns)


def lists_lr(split, tags, options=None):
    """True when a sub-run's listed scalar `tags` can hold an LR of some source.

    Args:
      split: `OWN` or a source's split name (`"train"`).
      tags: the scalar tags listed for it.
      options: `patterns.Options` (the user's `--lr-tag`), or `None`.
    """
    return any(a.lists_lr(split, tags, options) for a in _adapters())


def splits():
    """Every sub-run suffix some adapter reads (`("train", "validation")`)."""
    return tuple(dict.fromkeys(s for a in _adapters() for s in a.SPLITS))


def wants(tag):
    """True when some adapter reads the scalar `tag`."""
    return any(a.wants(tag) for a in _adapters())


def read(scalars, options=None):
    """The first adapter's reading of `scalars`, or `None`.

    Args:
      scalars: `{split: {tag: float64 [n, 2]}}` as in the module docstring.
      options: `patterns.Options` (the user's `--lr-tag`, `--loss-tag`), or
        `None` for the defaults.

    Returns:
      A `SourceRun`, or `None` when no adapter finds a learning rate.
    """
    for adapter in _adapters():
        got = adapter.read(scalars or {}, options)
        if got is not None:
            return got
    return None
