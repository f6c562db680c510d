"""Per-step recording of one torch optimizer's parameter groups.

The hot path is a step post-hook (`Optimizer.register_step_post_hook`)
that keeps one tuple of the groups' `lr` and hyperparameters (host values:
no device sync) and the scheduler's epoch counter. Conversion (every 1,024
steps, `rows.py`), the plan and the writing happen in bulk.
"""

import itertools
import math
import operator
import os
import time

import numpy as np
import torch

from tb_lr_plugin import metadata
from tb_lr_plugin.torch import plan as plan_lib
from tb_lr_plugin.torch import rows as rows_lib

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
      on_step: called after a step once `time.monotonic()` passes
        `deadline` (the owner's flush timer; it moves the deadline).
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
        self._source = plan_lib.epoch_source(source) if source is not None else _NO_EPOCH
        self._writer = writer
        self.steps = int(start_step)
        self._written = self.steps
        keys = (_MOMENTUM_KEYS if log_momentum else ()) + (
            _WEIGHT_DECAY_KEYS if log_weight_decay else ()
        )
        groups = optimizer.param_groups
        self._layout = [tuple(k for k in keys if k in g) for g in groups]
        self._hp_cols = rows_lib.hparam_columns(self._layout)
        # One C-level read of every group's values a step, while the groups
        # look as they did at the start (same keys, host-float LRs).
        same = all(k == self._layout[0] for k in self._layout)
        floats = all(type(g["lr"]) is float for g in groups)
        self._get = (
            operator.itemgetter("lr", *self._layout[0]) if same and floats and groups else None
        )
        self._rows = []  # the hook's tuples since the last conversion
        self._exact = True  # no slow-path row among them
        self._chunks = []  # converted (epochs, actual, hparams) since the last flush
        self._on_step = on_step
        self.deadline = math.inf
        # What explains a change of a group's LR: a scheduler that set it
        # (its `_last_lr`, ReduceLROnPlateau's too). Anything else (a
        # `group["lr"] = ...`) becomes an `lr_change` event.
        self._schedulers = list(schedulers)
        self._explainers = [s for s in self._schedulers if hasattr(s, "_last_lr")]
        self._last_lrs = None
        self._changes = []  # (steps done, group index, old LR, new LR)
        self.failed = None
        self._handle = optimizer.register_step_post_hook(self._after_step)

    @property
    def names(self):
        return group_names(self.optimizer, self.prefix)

    def _after_step(self, optimizer, args, kwargs):
        # The only per-step work: one tuple of C-level reads, converted in
        # bulk later. It runs between a backward and the next forward, with
        # cold caches, where each Python operation costs several times what
        # a micro-benchmark says. The row holds floats and tuples of floats
        # only, one level deep (the schedulers' `_last_lr` lists are copied
        # into one tuple), so the garbage collector untracks it in its
        # youngest generations: a long buffer never reaches a full pass.
        try:
            if self._get is not None:
                try:
                    row = (
                        self._source.last_epoch,
                        tuple(_chain(map(_LAST_LR, self._explainers))),
                        *map(self._get, optimizer.param_groups),
                    )
                except (TypeError, KeyError, AttributeError):  # a group changed
                    self._get = None
            if self._get is None:
                row = self._slow_row(optimizer.param_groups)
            self._rows.append(row)
            self.steps += 1
            if len(self._rows) >= _CHUNK:
                self._convert()
            if _monotonic() > self.deadline and self._on_step is not None:
                self._on_step()
        except Exception as e:  # noqa: BLE001 - a logger never stops training
            self.failed = e
            self.remove()

    def _slow_row(self, groups):
        """The row of a step whose groups changed shape or hold tensors: a
        tensor (updated in place by the schedulers) is copied on its device,
        never read here (no sync)."""
        self._exact = False
        items = []
        for gi, g in enumerate(groups[: len(self._layout)]):
            values = [_keep(g.get("lr"))] + [_keep(g.get(k)) for k in self._layout[gi]]
            items.append(tuple(values) if self._layout[gi] else values[0])
        width = len(self._layout)
        lasts = []
        for sched in self._explainers:
            last = getattr(sched, "_last_lr", None)
            if isinstance(last, (list, tuple)) and len(last) == width:
                lasts.extend(_keep(v) for v in last)
            else:
                lasts.extend([None] * width)  # explains nothing
        return (getattr(self._source, "last_epoch", 0), tuple(lasts), *items)

    def _convert(self):
        """Turns the rows kept so far into arrays (every `_CHUNK` steps, so
        that the garbage collector never walks a long list)."""
        rows, exact = self._rows, self._exact
        self._rows, self._exact = [], True
        if not rows:
            return
        epochs, actual, hps = rows_lib.columns(rows, self._layout, exact)
        if any(type(g["lr"]) is not float for g in self.optimizer.param_groups):
            # An LR became a tensor: copy it at each step from now on (the
            # steps since it did were read now).
            self._get = None
        first = self._written + sum(len(c[0]) for c in self._chunks) + 1
        found, self._last_lrs = rows_lib.changes(rows, actual, first, self._last_lrs)
        self._changes.extend(found)
        self._chunks.append((epochs, actual, hps))

    def explain_with(self, scheduler):
        """Counts the LRs `scheduler` sets as explained (no `lr_change`)."""
        if not any(s is scheduler for s in self._schedulers):
            self._convert()  # rows keep one `lasts` layout
            self._schedulers.append(scheduler)
            if hasattr(scheduler, "_last_lr"):
                self._explainers.append(scheduler)

    def remove(self):
        """Stops watching the optimizer."""
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def flush(self, last_only=False):
        """Hands the buffered steps to the writer (the last one only, for
        per-epoch logging)."""
        self._convert()
        chunks, self._chunks = self._chunks, []
        if not chunks:
            return
        epochs = np.concatenate([c[0] for c in chunks])
        actual = np.concatenate([c[1] for c in chunks])
        hps = np.concatenate([c[2] for c in chunks])
        width, n = len(self._layout), len(epochs)
        self._flush_changes()
        first = self._written + 1
        self._written += n
        steps = np.arange(first, first + n, dtype=np.float64)
        keep = slice(n - 1, n) if last_only else slice(0, n)
        steps, actual, hps = steps[keep], actual[keep], hps[keep]
        if self._source is not _NO_EPOCH:
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


def _keep(value):
    return value.detach().clone() if isinstance(value, torch.Tensor) else value


class _NoEpoch:
    last_epoch = 0


_NO_EPOCH = _NoEpoch()
_LAST_LR = operator.attrgetter("_last_lr")
_chain = itertools.chain.from_iterable
_monotonic = time.monotonic
# Rows converted to arrays every this many steps.
_CHUNK = 1024


def _pad(values, width):
    if values.shape[1] >= width:
        return values[:, :width]
    out = np.full((values.shape[0], width), np.nan)
    out[:, : values.shape[1]] = values
    return out
