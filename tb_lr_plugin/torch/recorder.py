"""Per-step recording of one torch optimizer's parameter groups.

The hot path is a step post-hook (`Optimizer.register_step_post_hook`)
that appends the groups' `lr` (Python floats, host values: no device sync)
and the scheduler's epoch counter. Conversion, the plan and the writing
happen once per flush, over every step since the previous one.
"""

import array
import os

import numpy as np
import torch

from tb_lr_plugin import metadata
from tb_lr_plugin.torch import plan as plan_lib

# Group keys recorded besides the LR, and the series each one gives.
_MOMENTUM_KEYS = ("momentum", "betas")
_WEIGHT_DECAY_KEYS = ("weight_decay",)


def is_rank_zero():
    """True unless this is a non-zero rank of a distributed run.

    Under `torchrun` the rank is known from the environment before
    `init_process_group`; afterwards `torch.distributed` says.
    """
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return int(os.environ.get("RANK", "0") or 0) == 0


def unwrap_optimizer(optimizer):
    """The torch optimizer inside a wrapper (accelerate's
    `AcceleratedOptimizer`, Lightning's `LightningOptimizer`)."""
    for _ in range(4):
        inner = getattr(optimizer, "optimizer", None)
        if not isinstance(inner, torch.optim.Optimizer):
            break
        optimizer = inner
    return optimizer


def group_names(optimizer, prefix=""):
    """Series names: each group's `name` key, else `pg0`, `pg1`, ..."""
    names = []
    for i, group in enumerate(optimizer.param_groups):
        name = group.get("name")
        names.append(prefix + (name if isinstance(name, str) and name else f"pg{i}"))
    return names


def _value(v):
    return float(v.detach()) if isinstance(v, torch.Tensor) else float(v)


class OptimizerRecorder:
    """Records the LR (and hyperparameters) of every step of one optimizer.

    Args:
      optimizer: the `torch.optim.Optimizer` to watch.
      schedulers: the LR schedulers stepping it (for the plan).
      writer: the `EventWriter` rows go to.
      prefix: put before each group's name (for models with several
        optimizers).
      start_step: optimizer steps already done (on a resume).
      log_momentum: record `momentum` / `betas` of the groups that have them.
      log_weight_decay: record `weight_decay` of the groups that have it.
      on_step: called after every recorded step (the owner's flush timer).
    """

    def __init__(
        self,
        optimizer,
        schedulers,
        writer,
        prefix="",
        start_step=0,
        log_momentum=True,
        log_weight_decay=True,
        on_step=None,
    ):
        self.optimizer = optimizer
        self.prefix = prefix
        self.plan = plan_lib.Plan(optimizer, schedulers)
        source = self.plan.schedulers[0] if self.plan.schedulers else None
        self._source = plan_lib.epoch_source(source) if source is not None else None
        self._writer = writer
        self.steps = int(start_step)
        self._written = self.steps
        keys = (_MOMENTUM_KEYS if log_momentum else ()) + (
            _WEIGHT_DECAY_KEYS if log_weight_decay else ()
        )
        self._groups = len(optimizer.param_groups)
        # (group index, key, index in the tuple or -1): one column each.
        self._hp_cols = [
            (gi, key, idx)
            for gi, g in enumerate(optimizer.param_groups)
            for key in keys
            if key in g
            for idx in ((0, 1) if key == "betas" else (-1,))
        ]
        # Flat arrays, not lists of lists: appends stay as cheap, and the
        # garbage collector has nothing to walk however long the buffer.
        self._lr_buf, self._hp_buf = array.array("d"), array.array("d")
        self._epoch_buf = array.array("q")
        self._odd_lrs = {}  # row -> LRs that are not plain floats (tensors)
        self._on_step = on_step
        # What explains a change of a group's LR: a scheduler that set it
        # (its `_last_lr`, ReduceLROnPlateau's too). Anything else (a
        # `group["lr"] = ...`) becomes an `lr_change` event.
        self._schedulers = list(schedulers)
        self._last_lrs = None
        self._changes = []  # (steps done, group index, old LR, new LR)
        self.failed = None
        self._handle = optimizer.register_step_post_hook(self._after_step)

    @property
    def names(self):
        return group_names(self.optimizer, self.prefix)

    def _after_step(self, optimizer, args, kwargs):
        # The only per-step work: a few appends of host values.
        try:
            groups = optimizer.param_groups
            self.steps += 1
            lrs = [g["lr"] for g in groups]
            if len(lrs) == self._groups and all(type(v) is float for v in lrs):
                self._lr_buf.extend(lrs)
                if lrs != self._last_lrs:
                    self._note_changes(lrs)  # every step under most schedules: keep it short
            else:
                # A tensor LR is updated in place by the schedulers: keep
                # this step's value (a copy on its device, no sync).
                row = len(self._lr_buf) // self._groups
                self._odd_lrs[row] = [
                    v.detach().clone() if isinstance(v, torch.Tensor) else v for v in lrs
                ]
                self._lr_buf.extend([np.nan] * self._groups)
            if self._source is not None:
                self._epoch_buf.append(self._source.last_epoch)
            if self._hp_cols:
                self._hp_buf.extend(_hparams(groups, self._hp_cols))
            if self._on_step is not None:
                self._on_step()
        except Exception as e:  # noqa: BLE001 - a logger never stops training
            self.failed = e
            self.remove()

    def _note_changes(self, lrs):
        """Keeps the changes since the previous step that no scheduler
        made (rare: only runs when an LR differs from the step before)."""
        old, self._last_lrs = self._last_lrs, lrs
        if old is None:
            return
        set_by = [getattr(s, "_last_lr", None) for s in self._schedulers]
        if lrs in set_by:
            return  # one scheduler set them all: the usual case
        for i, (before, now) in enumerate(zip(old, lrs, strict=False)):
            if before == now or any(_holds(last, i, now) for last in set_by):
                continue
            self._changes.append((self.steps - 1, i, before, now))

    def explain_with(self, scheduler):
        """Counts the LRs `scheduler` sets as explained (no `lr_change`)."""
        if not any(s is scheduler for s in self._schedulers):
            self._schedulers.append(scheduler)

    def remove(self):
        """Stops watching the optimizer."""
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def flush(self, last_only=False):
        """Hands the buffered steps to the writer (the last one only, for
        per-epoch logging)."""
        width = self._groups
        n = len(self._lr_buf) // width
        if not n:
            return
        actual = np.frombuffer(self._lr_buf, dtype=np.float64).reshape(n, width).copy()
        epochs = np.frombuffer(self._epoch_buf, dtype=np.int64).copy()
        hps = np.frombuffer(self._hp_buf, dtype=np.float64).reshape(n, -1).copy()
        odd, self._odd_lrs = self._odd_lrs, {}
        self._lr_buf, self._hp_buf = array.array("d"), array.array("d")
        self._epoch_buf = array.array("q")
        for row, values in odd.items():
            actual[row, :] = [_value(v) for v in values[:width]] + [np.nan] * (width - len(values))
        self._flush_changes()
        first = self._written + 1
        self._written += n
        steps = np.arange(first, first + n, dtype=np.float64)
        keep = slice(n - 1, n) if last_only else slice(0, n)
        steps, actual, hps = steps[keep], actual[keep], hps[keep]
        if self._source is not None and len(epochs) == n:
            planned = self.plan.values(epochs[keep])
        else:
            planned = self.plan.values(np.zeros(len(steps), dtype=np.int64))
        planned = _pad(planned, width)
        names = self.names[:width]
        for gi, name in enumerate(names):
            rows = np.stack([steps, planned[:, gi], actual[:, gi]], axis=1)
            self._writer.add_array(metadata.KIND_LR, metadata.lr_tag(name), rows, optimizer=name)
        self._write_hparams(steps, hps, names)

    def _flush_changes(self):
        changes, self._changes = self._changes, []
        if not changes:
            return
        names = self.names
        events = [
            metadata.event_item(
                metadata.EVENT_LR_CHANGE,
                None,  # a plain loop has no epochs the logger knows of
                step,
                optimizer=names[gi] if gi < len(names) else f"{self.prefix}pg{gi}",
                old_lr=old,
                new_lr=new,
                framework="torch",
            )
            for step, gi, old, new in changes
        ]
        self._writer.add_json(metadata.KIND_EVENTS, metadata.TAG_EVENTS, events, events[0]["step"])

    def _write_hparams(self, steps, hps, names):
        for ci, (gi, key, idx) in enumerate(self._hp_cols):
            if gi >= len(names):
                continue
            hparam = key if idx < 0 else f"beta{idx + 1}"
            rows = np.stack([steps, hps[:, ci]], axis=1)
            self._writer.add_array(
                metadata.KIND_HPARAM,
                metadata.hparam_tag(names[gi], hparam),
                rows,
                group=names[gi],
                hparam=hparam,
            )


def _holds(last_lrs, i, lr):
    return isinstance(last_lrs, list) and i < len(last_lrs) and last_lrs[i] == lr


def _hparams(groups, cols):
    try:
        return [groups[gi][key] if idx < 0 else groups[gi][key][idx] for gi, key, idx in cols]
    except (IndexError, KeyError, TypeError):
        return [np.nan] * len(cols)  # the groups changed under us


def _pad(values, width):
    if values.shape[1] >= width:
        return values[:, :width]
    out = np.full((values.shape[0], width), np.nan)
    out[:, : values.shape[1]] = values
    return out
