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
        """The plan at each of `epochs` (ints): float64 `[len(epochs), groups]`.

        A flush asks for every step since the last one, so this runs over
        whole arrays: a numpy formula for the closed forms torch states,
        one evaluation per distinct epoch otherwise.
        """
        groups = len(self.constant)
        epochs = np.asarray(epochs, dtype=np.int64)
        if self.method == "constant" or not len(epochs):
            return np.tile(np.asarray(self.constant, dtype=np.float64), (len(epochs), 1))
        unique, inverse = np.unique(epochs, return_inverse=True)
        table = _closed_form_many(self._frozen, unique) if self.method == "closed_form" else None
        if table is None:
            table = np.full((len(unique), groups), np.nan)
            with warnings.catch_warnings():
                # torch warns when get_lr runs outside step(): here it must.
                warnings.simplefilter("ignore")
                for i, e in enumerate(unique.tolist()):
                    row = self._at(e)
                    if row is not None:
                        table[i, : len(row)] = row[:groups]
            self._forget_before(int(unique[-1]))
        return _fit(table, groups)[inverse.reshape(-1)]

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


def _closed_form_many(s, epochs):
    """torch's `_get_closed_form_lr` of `s` at every one of `epochs`, as
    numpy: float64 `[len(epochs), groups]`, or `None` for a class it does
    not cover (`LambdaLR`: a Python function of the epoch)."""
    e = epochs.astype(np.float64)[:, None]
    base = np.asarray([_to_float(b) for b in s.base_lrs], dtype=np.float64)[None, :]
    kind = type(s)
    if kind is sched_lib.StepLR:
        return base * s.gamma ** (epochs[:, None] // s.step_size)
    if kind is sched_lib.MultiStepLR:
        milestones = np.asarray(sorted(s.milestones.elements()), dtype=np.int64)
        passed = np.searchsorted(milestones, epochs, side="right")[:, None]
        return base * s.gamma**passed
    if kind is sched_lib.ExponentialLR:
        return base * s.gamma**e
    if kind is sched_lib.CosineAnnealingLR:
        return s.eta_min + (base - s.eta_min) * (1 + np.cos(np.pi * e / s.T_max)) / 2
    if kind is sched_lib.ConstantLR:
        return base * (s.factor + (e >= s.total_iters) * (1 - s.factor))
    if kind is sched_lib.LinearLR:
        done = np.minimum(s.total_iters, e) / s.total_iters
        return base * (s.start_factor + (s.end_factor - s.start_factor) * done)
    if kind is sched_lib.PolynomialLR:
        return base * (1.0 - np.minimum(s.total_iters, e) / s.total_iters) ** s.power
    return None


def _fit(table, groups):
    if table.shape[1] == groups:
        return table
    out = np.full((table.shape[0], groups), np.nan)
    width = min(groups, table.shape[1])
    out[:, :width] = table[:, :width]
    return out


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
