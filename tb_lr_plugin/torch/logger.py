"""`LearningRateLogger`: planned and actual LR of a plain torch loop."""

import array
import atexit
import math
import time
import warnings
import weakref

import numpy as np
import torch
from torch.optim import lr_scheduler as sched_lib

from tb_lr_plugin import metadata
from tb_lr_plugin.event_writer import EventWriter
from tb_lr_plugin.torch import plateau as plateau_lib
from tb_lr_plugin.torch import recorder as recorder_lib


def _as_list(value):
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


class LearningRateLogger:
    """Records every optimizer step's planned and actual LR for TensorBoard.

    No call per step is needed: a step post-hook on the optimizer records
    each `optimizer.step()`, one series per parameter group (the group's
    `name`, else `pg0`, `pg1`, ...), with its momentum or betas and weight
    decay. Each `scheduler.step(metric)` of a `ReduceLROnPlateau` among the
    schedulers is recorded with torch's state and decision. Only rank 0 of a
    distributed run writes. Open TensorBoard on the parent directory and
    pick the "Learning Rate" tab.

    Example:

    ```python
    from tb_lr_plugin.torch import LearningRateLogger

    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=1000)
    with LearningRateLogger("logs/run1", opt, sched) as lr_log:
        for x, y in data:
            loss = loss_fn(model(x), y)
            opt.zero_grad(); loss.backward(); opt.step(); sched.step()
            lr_log.log_loss(loss)  # optional; never synchronises
    ```

    Args:
      log_dir: directory for the event files (the TensorBoard run).
      optimizer: the `torch.optim.Optimizer`, or a list of them (series
        are then named `opt<k>/<group>`).
      scheduler: the LR scheduler(s) stepping the optimizer(s): one, a
        list, or `None`. `ReduceLROnPlateau` may be among them.
      monitor: the name of the metric passed to `ReduceLROnPlateau.step`.
      log_momentum: record `momentum` / `betas` where the groups have them.
      log_weight_decay: record `weight_decay` where the groups have it.
      flush_secs: longest time records stay in memory; they are also
        written at each `ReduceLROnPlateau` step and at `close()`.
      start_step: optimizer steps already done (when resuming).
    """

    def __init__(
        self,
        log_dir,
        optimizer,
        scheduler=None,
        monitor="val_loss",
        log_momentum=True,
        log_weight_decay=True,
        flush_secs=5.0,
        start_step=0,
    ):
        optimizers = [recorder_lib.unwrap_optimizer(o) for o in _as_list(optimizer)]
        if not optimizers or not all(isinstance(o, torch.optim.Optimizer) for o in optimizers):
            raise ValueError(f"`optimizer` must be a torch.optim.Optimizer. Received {optimizer!r}")
        if not isinstance(flush_secs, (int, float)) or not flush_secs > 0:
            raise ValueError(f"`flush_secs` must be a positive number. Received {flush_secs!r}")
        self.log_dir = log_dir
        self.flush_secs = float(flush_secs)
        self.active = recorder_lib.is_rank_zero()
        self.recorders, self.plateaus = [], []
        self._loss_rows = array.array("d")  # step, value, step, value, ...
        self._loss_pending, self._loss_steps = [], array.array("d")  # tensors not yet read
        self._warned = False
        self.last_only = False  # per-epoch logging (Lightning's "epoch")
        if not self.active:
            return
        self._writer = EventWriter(log_dir)
        self._first = None  # the first optimizer's recorder: `steps`
        schedulers = _as_list(scheduler)
        for k, opt in enumerate(optimizers):
            mine = [
                s
                for s in schedulers
                if recorder_lib.unwrap_optimizer(getattr(s, "optimizer", None)) is opt
            ]
            self.recorders.append(
                recorder_lib.OptimizerRecorder(
                    opt,
                    mine,
                    self._writer,
                    prefix=f"opt{k}/" if len(optimizers) > 1 else "",
                    start_step=start_step,
                    log_momentum=log_momentum,
                    log_weight_decay=log_weight_decay,
                    on_step=self._maybe_flush,
                )
            )
        self._first = self.recorders[0]
        for s in schedulers:
            if isinstance(s, sched_lib.ReduceLROnPlateau):
                self.watch_plateau(s, monitor)
        self._write_session(start_step)
        self.flush()
        _open_loggers.add(self)

    # -- public ------------------------------------------------------------

    @property
    def steps(self):
        """Optimizer steps done (of the first optimizer)."""
        return self.recorders[0].steps if self.recorders else 0

    def log_loss(self, value, step=None):
        """Records the training loss of a step (default: the last one done).

        A CPU tensor is read at once (there is no device to wait for). A
        device tensor is kept detached, as it is (no sync, no copy kernel),
        and all of them are read at once per flush or 1,024 steps.
        """
        if not self.active:
            return
        step = self._first.steps if step is None else int(step)
        if not isinstance(value, torch.Tensor):
            self._loss_rows.extend((step, _nan_or_float(value)))
            return
        if value.is_cpu:
            # A host tensor has nothing to wait for: read it now (cheaper than
            # keeping it, and nothing to stack at the flush).
            try:
                self._loss_rows.extend((step, value.item()))
            except (RuntimeError, ValueError):  # not one element
                self._loss_rows.extend((step, np.nan))
            return
        self._loss_pending.append(value.detach())
        self._loss_steps.append(step)
        if len(self._loss_pending) >= _LOSS_BUFFER:
            self._drain_loss()

    def _drain_loss(self):
        pending, steps = self._loss_pending, self._loss_steps
        if not pending:
            return
        self._loss_pending, self._loss_steps = [], array.array("d")
        try:
            values = torch.stack(pending).double().cpu().numpy()  # the one sync
        except RuntimeError:  # not all of one shape, or on several devices
            values = np.asarray([_nan_or_float(v) for v in pending])
        if values.shape != (len(steps),):
            values = np.asarray([_nan_or_float(v) for v in pending])
        rows = np.column_stack([np.frombuffer(steps, dtype=np.float64), values])
        self._loss_rows.frombytes(rows.tobytes())

    def log_epoch(self, logs, epoch, step=None):
        """Records epoch metrics (`{"val_loss": 0.3, ...}`) for the tab's
        loss overlay and the audit. Called once per epoch."""
        if not self.active:
            return
        values = {k: _float(v) for k, v in dict(logs).items()}
        item = metadata.epoch_item(
            int(epoch),
            self.steps if step is None else int(step),
            {k: v for k, v in values.items() if v is not None},
        )
        self._sink(metadata.KIND_EPOCHS, metadata.TAG_EPOCHS, [item], item["step"])

    def watch_plateau(self, scheduler, monitor, epoch=None, write_epochs=True):
        """Records the decisions of a `ReduceLROnPlateau` on one of the
        logged optimizers."""
        inner = recorder_lib.unwrap_optimizer(scheduler.optimizer)
        rec = next((r for r in self.recorders if r.optimizer is inner), None)
        if not self.active or rec is None:
            return
        rec.explain_with(scheduler)
        self.plateaus.append(
            plateau_lib.PlateauRecorder(
                scheduler,
                monitor,
                names=lambda: rec.names,
                steps=lambda: rec.steps,
                sink=self._sink,
                epoch=epoch,
                write_epochs=write_epochs,
                on_record=self.flush,
            )
        )

    def flush(self):
        """Writes everything recorded so far. Never raises."""
        if not self.active or self._writer.closed:
            return
        for rec in self.recorders:
            rec.deadline = time.monotonic() + self.flush_secs
        try:
            for rec in self.recorders:
                rec.flush(last_only=self.last_only)
            self._flush_loss()
        except Exception as e:  # noqa: BLE001 - a logger never stops training
            self._warn(e)
        self._writer.flush()
        for part in self.recorders + self.plateaus:
            if part.failed is not None:
                self._warn(part.failed)

    def close(self):
        """Writes what is left and stops recording. Never raises."""
        if not self.active or self._writer.closed:
            return
        self.flush()
        for part in self.recorders + self.plateaus:
            part.remove()
        self._writer.close()
        _open_loggers.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- internals ---------------------------------------------------------

    def _maybe_flush(self):
        """A recorder's deadline passed: flush (per-step logging) or wait
        for the epoch's end (per-epoch logging flushes the last step)."""
        if self.last_only:
            for rec in self.recorders:
                rec.deadline = math.inf
            return
        self.flush()

    def _sink(self, kind, tag, items, step):
        self._writer.add_json(kind, tag, items, step)

    def _flush_loss(self):
        self._drain_loss()
        if not self._loss_rows:
            return
        rows = np.frombuffer(self._loss_rows, dtype=np.float64).reshape(-1, 2).copy()
        self._loss_rows = array.array("d")
        self._writer.add_array(metadata.KIND_BATCH, metadata.batch_tag("loss"), rows, metric="loss")

    def _write_session(self, start_step):
        groups = []
        for rec in self.recorders:
            for name, lr in zip(rec.names, rec.plan.constant, strict=False):
                groups.append(
                    {
                        "name": name,
                        "class": type(rec.optimizer).__name__,
                        "plan": rec.plan.described,
                        "initial_lr": lr,
                    }
                )
        item = metadata.session_item(
            int(start_step),
            initial_epoch=0,
            epochs=None,
            steps_per_epoch=None,
            update_freq="batch",
            time=time.time(),
            framework="torch",
            framework_version=torch.__version__,
            optimizers=groups,
        )
        self._sink(metadata.KIND_SESSION, metadata.TAG_SESSION, [item], int(start_step))

    def _warn(self, error):
        if not self._warned:
            self._warned = True
            warnings.warn(
                f"LearningRateLogger could not record: {error!r}. Training is not affected.",
                RuntimeWarning,
                stacklevel=3,
            )


_LOSS_BUFFER = 1024


def _float(value):
    try:
        return float(value.detach()) if isinstance(value, torch.Tensor) else float(value)
    except (TypeError, ValueError, RuntimeError):
        return None


def _nan_or_float(value):
    v = _float(value)
    return np.nan if v is None else v


# Loggers not closed when the interpreter exits are flushed then.
_open_loggers = weakref.WeakSet()


@atexit.register
def _flush_open_loggers():
    for lg in list(_open_loggers):
        lg.close()
