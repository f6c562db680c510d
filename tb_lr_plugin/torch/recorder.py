"""Per-step recording of one torch optimizer's parameter groups.

The hot path is a step post-hook (`Optimizer.register_step_post_hook`)
that appends the groups' `lr` (Python floats, host values: no device sync)
and the scheduler's epoch counter. Conversion, the plan and the writing
happen once per flush, over every step since the previous one.
"""

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
        self._hp_keys = tuple(k for k in keys if any(k in g for g in optimizer.param_groups))
        self._lrs, self._epochs, self._hps = [], [], []
        self._on_step = on_step
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
            if type(lrs[0]) is not float:
                # A tensor LR is updated in place by the schedulers: keep
                # this step's value (a copy on its device, no sync).
                lrs = [v.detach().clone() if isinstance(v, torch.Tensor) else v for v in lrs]
            self._lrs.append(lrs)
            if self._source is not None:
                self._epochs.append(self._source.last_epoch)
            if self._hp_keys:
                self._hps.append([[g.get(k) for k in self._hp_keys] for g in groups])
            if self._on_step is not None:
                self._on_step()
        except Exception as e:  # noqa: BLE001 - a logger never stops training
            self.failed = e
            self.remove()

    def remove(self):
        """Stops watching the optimizer."""
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def flush(self, last_only=False):
        """Hands the buffered steps to the writer (the last one only, for
        per-epoch logging)."""
        n = len(self._lrs)
        if not n:
            return
        lrs, self._lrs = self._lrs, []
        epochs, self._epochs = self._epochs, []
        hps, self._hps = self._hps, []
        first = self._written + 1
        self._written += n
        steps = np.arange(first, first + n, dtype=np.float64)
        if last_only:
            steps, lrs, epochs, hps = steps[-1:], lrs[-1:], epochs[-1:], hps[-1:]
        names = self.names
        width = max(len(names), max(len(r) for r in lrs))
        actual = _table(lrs, width)
        if self._source is not None and len(epochs) == len(lrs):
            planned = self.plan.values(np.asarray(epochs, dtype=np.int64))
        else:
            planned = self.plan.values(np.zeros(len(lrs), dtype=np.int64))
        planned = _pad(planned, width)
        for gi, name in enumerate(names):
            rows = np.stack([steps, planned[:, gi], actual[:, gi]], axis=1)
            self._writer.add_array(metadata.KIND_LR, metadata.lr_tag(name), rows, optimizer=name)
        if hps:
            self._flush_hparams(steps, hps, names)

    def _flush_hparams(self, steps, hps, names):
        for gi, name in enumerate(names):
            for ki, key in enumerate(self._hp_keys):
                raw = [r[gi][ki] if gi < len(r) else None for r in hps]
                if all(v is None for v in raw):
                    continue
                if key == "betas":
                    series = {
                        "beta1": [_beta(v, 0) for v in raw],
                        "beta2": [_beta(v, 1) for v in raw],
                    }
                else:
                    series = {key: [np.nan if v is None else _value(v) for v in raw]}
                for hparam, values in series.items():
                    rows = np.stack([steps, np.asarray(values, dtype=np.float64)], axis=1)
                    self._writer.add_array(
                        metadata.KIND_HPARAM,
                        metadata.hparam_tag(name, hparam),
                        rows,
                        group=name,
                        hparam=hparam,
                    )


def _beta(betas, i):
    if betas is None or len(betas) <= i:
        return np.nan
    return _value(betas[i])


def _table(rows, width):
    if all(type(v) is float for r in rows for v in r) and all(len(r) == width for r in rows):
        return np.asarray(rows, dtype=np.float64)
    out = np.full((len(rows), width), np.nan)
    for i, r in enumerate(rows):
        out[i, : len(r)] = [_value(v) for v in r]
    return out


def _pad(values, width):
    if values.shape[1] >= width:
        return values[:, :width]
    out = np.full((values.shape[0], width), np.nan)
    out[:, : values.shape[1]] = values
    return out
