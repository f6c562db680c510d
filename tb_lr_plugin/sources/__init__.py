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

Adding a source (Keras 2, Lightning, Hugging Face, plain scalars): one
module here with the four names above, listed in `ADAPTERS` in the order
it should be tried, and a test over logs the real library wrote.

Example:
  >>> import numpy as np
  >>> from tb_lr_plugin import sources
  >>> lr = np.array([[0, 1e-3], [1, 1e-3], [2, 5e-4]])
  >>> got = sources.read({"train": {"epoch_learning_rate": lr}})
  >>> got.source, list(got.lr), [e["epoch"] for e in got.events]
  ('keras', ['learning_rate'], [2])
"""

import dataclasses

# What a source cannot know (`SourceRun.unknown`).
UNKNOWN_PLANNED = "planned"  # the LR the plan prescribed: only the LR used
UNKNOWN_STEPS = "steps"  # where epochs end on the step axis
UNKNOWN_DECISIONS = "decisions"  # why the LR changed: changes are inferred


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


def _adapters():
    from tb_lr_plugin.sources import keras3

    return (keras3,)


def splits():
    """Every sub-run suffix some adapter reads (`("train", "validation")`)."""
    return tuple(dict.fromkeys(s for a in _adapters() for s in a.SPLITS))


def wants(tag):
    """True when some adapter reads the scalar `tag`."""
    return any(a.wants(tag) for a in _adapters())


def read(scalars):
    """The first adapter's reading of `scalars`, or `None`.

    Args:
      scalars: `{split: {tag: float64 [n, 2]}}` as in the module docstring.

    Returns:
      A `SourceRun`, or `None` when no adapter finds a learning rate.
    """
    for adapter in _adapters():
        got = adapter.read(scalars or {})
        if got is not None:
            return got
    return None
