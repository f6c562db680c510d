"""What a torch LR scheduler prescribes, step by step, with no intervention.

The plan of a parameter group is the LR its scheduler would set if nothing
else touched the optimizer (no `ReduceLROnPlateau`, no manual assignment).
Three ways to know it, chosen per scheduler when logging starts:

- `constant`: no scheduler (or only `ReduceLROnPlateau`): the LR each group
  had when logging started.
- `closed_form`: schedulers for which torch has a formula of the epoch
  (`_get_closed_form_lr`: `StepLR`, `MultiStepLR`, `ConstantLR`,
  `LinearLR`, `ExponentialLR`, `CosineAnnealingLR`, `PolynomialLR`; and
  `LambdaLR`, whose `get_lr` is `base_lr * lr_lambda(epoch)`), evaluated on
  a frozen copy at each epoch.
- `replay`: every other scheduler (`OneCycleLR`, `CyclicLR`,
  `SequentialLR`, `ChainedScheduler`, `MultiplicativeLR`,
  `CosineAnnealingWarmRestarts`, your own): a copy of the schedulers over a
  copy of the optimizer without its parameters or state is stepped forward
  to the epochs the training reached. The copy is what the scheduler would
  have done untouched, so its LR is the plan exactly.
"""

import collections
import copy
import warnings

import numpy as np
import torch
from torch.optim import lr_scheduler as sched_lib

CLOSED_FORM = (
    sched_lib.StepLR,
    sched_lib.MultiStepLR,
    sched_lib.ConstantLR,
    sched_lib.LinearLR,
    sched_lib.ExponentialLR,
    sched_lib.CosineAnnealingLR,
    sched_lib.PolynomialLR,
    sched_lib.LambdaLR,
)


def epoch_source(scheduler):
    """The scheduler whose `last_epoch` counts the steps of `scheduler`.

    `ChainedScheduler` does not advance its own `last_epoch`; its first
    member does.
    """
    while isinstance(scheduler, sched_lib.ChainedScheduler) and scheduler._schedulers:
        scheduler = scheduler._schedulers[0]
    return scheduler


def method_for(schedulers):
    """Returns `"constant"`, `"closed_form"` or `"replay"` for `schedulers`."""
    if not schedulers:
        return "constant"
    if len(schedulers) == 1 and type(schedulers[0]) in CLOSED_FORM:
        return "closed_form"
    return "replay"


class Plan:
    """The planned LR of every parameter group, by scheduler epoch.

    Args:
      optimizer: the `torch.optim.Optimizer`.
      schedulers: the LR schedulers driving it, stepped together (a
        `ReduceLROnPlateau` among them is left out: it is the intervention).

    Example:
      >>> plan = Plan(optimizer, [scheduler])
      >>> plan.values(np.array([0, 0, 1]))  # float64 [3, n_groups]
    """

    def __init__(self, optimizer, schedulers):
        self.schedulers = [s for s in schedulers if not isinstance(s, sched_lib.ReduceLROnPlateau)]
        self.method = method_for(self.schedulers)
        self.constant = [_to_float(g["lr"]) for g in optimizer.param_groups]
        self._cache = collections.OrderedDict()
        if self.method == "closed_form":
            self._frozen = copy.copy(self.schedulers[0])
        elif self.method == "replay":
            self._replica = _detached_copy(self.schedulers, optimizer)
            self._replica_epoch = epoch_source(self._replica[0]).last_epoch
            self._cache[self._replica_epoch] = self._replica_lrs()

    @property
    def described(self):
        """The plan as the `session` record states it."""
        if not self.schedulers:
            return {"type": "constant", "method": "constant"}
        return {
            "type": "+".join(type(s).__name__ for s in self.schedulers),
            "method": self.method,
        }

    def values(self, epochs):
        """The plan at each of `epochs` (ints): float64 `[len(epochs), groups]`."""
        groups = len(self.constant)
        if self.method == "constant":
            return np.tile(np.asarray(self.constant, dtype=np.float64), (len(epochs), 1))
        out = np.full((len(epochs), groups), np.nan)
        unique, inverse = np.unique(np.asarray(epochs, dtype=np.int64), return_inverse=True)
        with warnings.catch_warnings():
            # torch warns when get_lr runs outside step(): here it must.
            warnings.simplefilter("ignore")
            rows = [self._at(int(e)) for e in unique]
        for i, row in enumerate(rows):
            if row is not None:
                out[inverse == i, : len(row)] = row[:groups]
        self._forget_before(int(unique[-1]) if len(unique) else None)
        return out

    def _at(self, epoch):
        if epoch in self._cache:
            return self._cache[epoch]
        if self.method == "closed_form":
            row = self._closed_form(epoch)
        else:
            row = self._replay_to(epoch)
        if row is not None:
            self._cache[epoch] = row
        return row

    def _closed_form(self, epoch):
        frozen = self._frozen
        frozen.last_epoch = epoch
        if hasattr(frozen, "_get_closed_form_lr"):
            return [_to_float(v) for v in frozen._get_closed_form_lr()]
        return [_to_float(v) for v in frozen.get_lr()]

    def _replay_to(self, epoch):
        if epoch < self._replica_epoch:
            return None  # `step(epoch)` went back before what was kept
        while self._replica_epoch < epoch:
            for s in self._replica:
                s.step()
            self._replica_epoch = epoch_source(self._replica[0]).last_epoch
            self._cache[self._replica_epoch] = self._replica_lrs()
        return self._cache.get(epoch)

    def _replica_lrs(self):
        return [_to_float(g["lr"]) for g in self._replica[0].optimizer.param_groups]

    def _forget_before(self, epoch):
        """Keeps the cache small: epochs only grow in a training."""
        if epoch is None:
            return
        while len(self._cache) > 1 and next(iter(self._cache)) < epoch:
            self._cache.popitem(last=False)


def _detached_copy(schedulers, optimizer):
    """Deep-copies `schedulers` and the optimizer they hold (`optimizer`, or
    a wrapper of it), minus the weights.

    The parameters become empty tensors and the optimizer's state and hooks
    empty: the copy costs a few kilobytes whatever the model's size.
    """
    memo = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            memo[id(p)] = torch.empty(0)
    memo[id(optimizer.state)] = collections.defaultdict(dict)
    for name, value in vars(optimizer).items():
        if "hook" in name and isinstance(value, dict):
            memo[id(value)] = collections.OrderedDict()
    return copy.deepcopy(list(schedulers), memo)


def _to_float(value):
    return float(value.detach()) if isinstance(value, torch.Tensor) else float(value)
