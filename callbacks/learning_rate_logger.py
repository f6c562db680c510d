"""`LearningRateLogger`: planned and actual learning rate at every step."""

import functools
import os
import time
import warnings
import weakref

import numpy as np
from keras.callbacks import Callback
from tb_lr_plugin.callbacks import optimizers as opt_lib
from tb_lr_plugin.callbacks.plateau_scheduled import PlateauScheduledMixin

from tb_lr_plugin import metadata, storage
from tb_lr_plugin.remote_writer import writer_for

# model -> the loggers attached to it, so that this package's other
# callbacks can record their decisions through them. Weak, and kept off the
# model itself so that Keras's attribute tracking and saving never see it.
_LOGGERS = weakref.WeakKeyDictionary()


def loggers_for(model):
    """Returns the active `LearningRateLogger`s attached to `model`."""
    try:
        return [lg for lg in _LOGGERS.get(model, ()) if lg._writer is not None]
    except TypeError:
        return []


def _never_raises(method):
    """A logger must not stop training: the first error is warned about
    and the logger switches itself off."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if self._disabled:
            return None
        try:
            return method(self, *args, **kwargs)
        except Exception as e:  # noqa: BLE001 - see the docstring
            self._disabled = True
            warnings.warn(
                f"LearningRateLogger stopped recording after an error in "
                f"{method.__name__}: {e!r}. Training is not affected.",
                RuntimeWarning,
                stacklevel=2,
            )
            return None

    return wrapper


class LearningRateLoggerMixin:
    """Records the planned and the actual learning rate for TensorBoard.

    One line in `callbacks=[...]` records, for every optimizer update, what
    the plan prescribes (a constant, the optimizer's `LearningRateSchedule`,
    or the `schedule` function you pass here) and what the optimizer really
    used, plus the loss to read them against, and every change of the LR
    that no schedule explains (e.g. by `keras.callbacks.ReduceLROnPlateau`).
    Open TensorBoard on the parent directory and pick the "Learning Rate"
    tab.

    The hot path stays cheap: nothing is converted or synchronised per step;
    the schedule is evaluated once per flush over all the steps since the
    last one, and the learning-rate variable is read once per epoch.

    Example:

    ```python
    from tb_lr_plugin.callbacks import LearningRateLogger

    model.fit(x, y, epochs=20, validation_split=0.2,
              callbacks=[LearningRateLogger("logs/run1")])
    ```

    Args:
      log_dir: directory for the event files (the TensorBoard run). Use the
        same directory as `keras.callbacks.TensorBoard` to see its scalars
        in the tab too.
      update_freq: `"batch"` (default) records every step; `"epoch"`
        records the last step of each epoch.
      schedule: optional `LearningRateScheduler`-style function
        `(epoch, lr) -> lr` (or `(epoch) -> lr`) that drives the LR, so the
        tab can show its plan.
      flush_secs: longest time records stay in memory. They are also
        written at every epoch end and when training ends.
      log_loss: also record the per-step `loss` log and the epoch logs.
    """

    _api = None  # the Keras served: set by the concrete class

    def __init__(self, log_dir, update_freq="batch", schedule=None, flush_secs=5.0, log_loss=True):
        super().__init__()
        if not isinstance(log_dir, (str, bytes)) and not hasattr(log_dir, "__fspath__"):
            raise ValueError(f"`log_dir` must be a path. Received log_dir={log_dir!r}")
        if update_freq not in ("batch", "epoch"):
            raise ValueError(
                f'`update_freq` must be "batch" or "epoch". Received update_freq={update_freq!r}'
            )
        if schedule is not None and not callable(schedule):
            raise ValueError(f"`schedule` must be callable. Received schedule={schedule!r}")
        if not isinstance(flush_secs, (int, float)) or not flush_secs > 0:
            raise ValueError(
                f"`flush_secs` must be a positive number. Received flush_secs={flush_secs!r}"
            )
        storage.check(log_dir)  # a URL is never taken for a local folder
        self.log_dir = log_dir
        self.update_freq = update_freq
        self.schedule = schedule
        self.flush_secs = float(flush_secs)
        self.log_loss = bool(log_loss)
        # Set for JAX/torch, whose Keras may run batch-end hooks in a thread
        # pool: `on_train_batch_end` only appends.
        self.async_safe = True
        # tf_keras then hands the batch logs over as tensors, unsynced.
        self._supports_tf_logs = True
        self._writer = None
        self._disabled = False
        self._initial_lr = {}  # name -> the constant plan
        self._planned_by_epoch = {}  # schedule function plan
        self._reset_fit_state()

    def _reset_fit_state(self):
        self._optimizer = None
        self._opts = []
        self._fresh_initial = []  # names whose constant plan this fit set
        self._done = 0  # updates done, as last counted
        self._rows_done = 0  # last step whose LR rows were written
        self._epoch = 0
        self._epoch_base = 0
        self._epoch_lr = {}  # name -> LR variable value used in this epoch
        self._epoch_factor = {}  # name -> PlateauScheduled factor in this epoch
        self._last_lr = {}
        self._explained = []  # (name, float32 new lr) announced by our callbacks
        self._prescribed = {}  # name -> what our LearningRateScheduler set
        self._need_lr_read = False
        self._session_pending = False
        self._echo = False  # another logger of this fit writes this log_dir
        self._loss_steps, self._loss_values = [], []
        self._last_flush = time.monotonic()

    def set_model(self, model):
        self._api.check_model(self, model)
        super().set_model(model)

    # -- what other callbacks of this package call -------------------------

    def record_event(self, event, explains=None):
        """Records an event; `explains=(optimizer, new_lr)` marks the LR
        change it caused as explained, so no `lr_change` repeats it."""
        if self._writer is None:
            return
        if not self._echo:
            self._writer.add_json(metadata.KIND_EVENTS, metadata.TAG_EVENTS, [event], event["step"])
        if explains is not None:
            self._explained.append((explains[0], np.float32(explains[1])))

    def set_planned(self, optimizer, lr):
        """Sets the plan from this epoch on (called by our `LearningRateScheduler`,
        whose prescription is the plan)."""
        self._prescribed[optimizer] = float(lr)

    def record_plateau(self, item):
        if self._writer is not None and not self._echo:
            self._writer.add_json(metadata.KIND_PLATEAU, metadata.TAG_PLATEAU, [item], item["step"])

    @property
    def steps_done(self):
        """Updates done so far, as counted without a device sync."""
        return self._done

    # -- Keras hooks -------------------------------------------------------

    @_never_raises
    def on_train_begin(self, logs=None):
        self._finish_interrupted_fit()
        self._reset_fit_state()
        if not self._api.is_chief():
            return
        self._optimizer = self.model.optimizer
        self._opts = self._api.named_optimizers(self._optimizer)
        if not self._opts:
            warnings.warn("LearningRateLogger: the model has no optimizer.", stacklevel=2)
            return
        if self._writer is None or self._writer.closed:
            self._writer = writer_for(self.log_dir)
        registered = _LOGGERS.setdefault(self.model, [])
        # Loggers of one fit sharing a log_dir all write the LR and loss
        # rows (they read back once per step); events and the session only
        # the first, or the run would hold each twice.
        self._echo = any(_same_fit_and_dir(other, self) for other in registered)
        if self not in registered:  # an interrupted fit left it registered
            registered.append(self)
        self._done = self._rows_done = self._api.read_iterations(self.model.optimizer)
        self._fresh_initial = [n for n, _ in self._opts if n not in self._initial_lr]
        for name, opt in self._opts:
            if not self._api.is_schedule(self._api.lr_object(opt)):
                lr = self._api.read_lr(opt)
                self._initial_lr.setdefault(name, lr)
                self._last_lr[name] = lr
        self._session_pending = True

    @_never_raises
    def on_epoch_begin(self, epoch, logs=None):
        if self._writer is None:
            return
        self._epoch = epoch
        if self._session_pending:
            self._session_pending = False
            self._catch_up_with_a_restore()
            self._write_session(epoch)
        self._epoch_base = self._done
        self._need_lr_read = True
        if self.schedule is not None:
            self._plan_epoch(epoch)

    @_never_raises
    def on_train_batch_begin(self, batch, logs=None):
        if self._writer is None:
            return
        if self._need_lr_read:
            # After every on_epoch_begin hook ran, before the first update:
            # the value this epoch's updates use.
            self._need_lr_read = False
            self._read_epoch_lr(self._epoch)
        self._done = self._epoch_base + batch
        if time.monotonic() - self._last_flush > self.flush_secs:
            self._flush()

    def on_train_batch_end(self, batch, logs=None):
        # The only per-step work: two appends, no conversion, no sync.
        if self.log_loss and self._writer is not None and logs and "loss" in logs:
            self._loss_steps.append(self._epoch_base + batch + 1)
            self._loss_values.append(logs["loss"])

    @_never_raises
    def on_epoch_end(self, epoch, logs=None):
        if self._writer is None:
            return
        if self._need_lr_read:  # an epoch with no batch
            self._need_lr_read = False
            self._read_epoch_lr(epoch)
        self._done = self._api.read_iterations(self.model.optimizer)
        if self.log_loss and logs:
            numeric = {k: _to_float(v) for k, v in logs.items()}
            numeric = {k: v for k, v in numeric.items() if v is not None}
            item = {"epoch": epoch, "step": self._done, "logs": numeric}
            self._writer.add_json(metadata.KIND_EPOCHS, metadata.TAG_EPOCHS, [item], self._done)
        self._flush(epoch_end=True)

    @_never_raises
    def on_train_end(self, logs=None):
        if self._writer is None:
            return
        # A change made by the last epoch's callbacks shows only now.
        self._detect_changes(
            self._epoch,
            {
                n: self._api.read_lr(o)
                for n, o in self._opts
                if not self._api.is_schedule(self._api.lr_object(o))
            },
        )
        self._flush()
        self._writer.close()
        registered = _LOGGERS.get(self.model, [])
        if self in registered:
            registered.remove(self)

    # -- internals ---------------------------------------------------------

    def _finish_interrupted_fit(self):
        """Writes what a fit that ended without `on_train_end` recorded.

        An exception (a `KeyboardInterrupt` in a notebook) skips
        `on_train_end`; when `fit` is called again, the rows of the updates
        made since the last flush are written before the new fit starts.
        """
        if not self._opts or self._writer is None or self._writer.closed:
            return
        done = self._api.read_iterations(self._optimizer)
        if done >= self._rows_done:
            self._done = done
        self._flush()

    def _catch_up_with_a_restore(self):
        """Re-reads the step counter once all `on_train_begin` hooks ran.

        `keras.callbacks.BackupAndRestore` listed after this logger restores
        the optimizer in its own `on_train_begin`, after ours: the counter
        (and the constant LRs) read there are then those of the fresh
        optimizer, and the session would claim a restart from step 0.
        """
        done = self._api.read_iterations(self.model.optimizer)
        if done == self._done:
            return
        self._done = self._rows_done = done
        for name, opt in self._opts:
            if not self._api.is_schedule(self._api.lr_object(opt)):
                lr = self._api.read_lr(opt)
                self._last_lr[name] = lr
                if name in self._fresh_initial:
                    self._initial_lr[name] = lr

    def _write_session(self, epoch):
        if self._echo:
            return
        item = {
            "start_step": self._done,
            "initial_epoch": epoch,
            "epochs": (self.params or {}).get("epochs"),
            "steps_per_epoch": (self.params or {}).get("steps"),
            "update_freq": self.update_freq,
            "time": time.time(),
            "optimizers": [
                {
                    "name": name,
                    "class": type(opt).__name__,
                    "plan": {"type": "function", "name": getattr(self.schedule, "__name__", "")}
                    if self.schedule is not None
                    else self._api.describe(self._api.lr_object(opt)),
                    "initial_lr": self._initial_lr.get(name),
                }
                for name, opt in self._opts
            ],
        }
        self._writer.add_json(metadata.KIND_SESSION, metadata.TAG_SESSION, [item], self._done)

    def _plan_epoch(self, epoch):
        if epoch in self._planned_by_epoch:
            return
        previous = self._planned_by_epoch.get(epoch - 1)
        for name, _ in self._opts:
            lr = previous[name] if previous else self._initial_lr.get(name)
            if lr is None:
                continue
            self._planned_by_epoch.setdefault(epoch, {})[name] = _call_schedule(
                self.schedule, epoch, lr
            )

    def _read_epoch_lr(self, epoch):
        values = {}
        for name, opt in self._opts:
            holder = self._api.lr_object(opt)
            if isinstance(holder, PlateauScheduledMixin):
                self._epoch_factor[name] = self._api.read_float(holder.plateau_factor)
            elif not self._api.is_schedule(holder):
                values[name] = self._api.read_lr(opt)
        # A change seen before this epoch's first update happened at the
        # boundary after the previous epoch (or before the first one).
        plan = self._planned_by_epoch.get(epoch, {}) if self.schedule is not None else {}
        self._detect_changes(max(epoch - 1, 0) if self._rows_done else epoch, values, plan)
        self._epoch_lr = values

    def _detect_changes(self, epoch, values, plan=None):
        """Records an `lr_change` for each change that nothing explains: no
        event of ours announced it, and it is not the `schedule=` plan."""
        explained = self._explained
        # What our callbacks announced explains this boundary only.
        self._explained = []
        for name, lr in values.items():
            old = self._last_lr.get(name)
            self._last_lr[name] = lr
            if old is None or np.float32(old) == np.float32(lr):
                continue
            if (name, np.float32(lr)) in explained:
                continue
            if plan and name in plan and np.float32(plan[name]) == np.float32(lr):
                continue
            event = {
                "kind": metadata.EVENT_LR_CHANGE,
                "epoch": epoch,
                "step": self._done,
                "optimizer": name,
                "old_lr": old,
                "new_lr": lr,
            }
            if not self._echo:
                self._writer.add_json(
                    metadata.KIND_EVENTS, metadata.TAG_EVENTS, [event], self._done
                )

    def _lr_rows(self, steps):
        for name, opt in self._opts:
            holder = self._api.lr_object(opt)
            base = None
            if isinstance(holder, PlateauScheduledMixin):
                # The factor in force during this epoch (it changes at epoch
                # ends), times the base schedule: the product in float32.
                base = self._api.evaluate_schedule(holder.base_schedule, steps - 1)
                factor = np.float32(self._epoch_factor.get(name, 1.0))
                actual = (base.astype(np.float32) * factor).astype(np.float64)
            elif self._api.is_schedule(holder):
                actual = self._api.evaluate_schedule(holder, steps - 1)
            else:
                actual = np.full(len(steps), self._epoch_lr.get(name, np.nan))
            if name in self._prescribed:
                planned = np.full(len(steps), self._prescribed[name])
            elif self.schedule is not None:
                plan = self._planned_by_epoch.get(self._epoch, {}).get(name, np.nan)
                planned = np.full(len(steps), plan)
            elif base is not None:
                planned = base
            elif self._api.is_schedule(holder):
                planned = actual
            else:
                planned = np.full(len(steps), self._initial_lr.get(name, np.nan))
            rows = np.stack([steps.astype(np.float64), planned, actual], axis=1)
            self._writer.add_array(metadata.KIND_LR, metadata.lr_tag(name), rows, optimizer=name)

    def _flush(self, epoch_end=False):
        self._last_flush = time.monotonic()
        if self._done > self._rows_done and (self.update_freq == "batch" or epoch_end):
            if self.update_freq == "batch":
                steps = np.arange(self._rows_done + 1, self._done + 1, dtype=np.int64)
            else:
                steps = np.array([self._done], dtype=np.int64)
            self._lr_rows(steps)
            self._rows_done = self._done
        if self._loss_steps:
            n = len(self._loss_steps)
            steps, values = self._loss_steps[:n], self._loss_values[:n]
            del self._loss_steps[:n], self._loss_values[:n]
            values = [_to_float(v) for v in values]
            rows = np.array(
                [(s, np.nan if v is None else v) for s, v in zip(steps, values, strict=True)],
                dtype=np.float64,
            )
            # Keras reports a short last execution (steps_per_execution > 1)
            # with the end index it would have had.
            np.minimum(rows[:, 0], self._done, out=rows[:, 0])
            self._writer.add_array(
                metadata.KIND_BATCH, metadata.batch_tag("loss"), rows, metric="loss"
            )
        self._writer.flush()


class LearningRateLogger(LearningRateLoggerMixin, Callback):
    __doc__ = LearningRateLoggerMixin.__doc__
    _api = opt_lib.KERAS


def _same_fit_and_dir(first, logger):
    """True if `first`, an earlier logger, writes events for `logger`'s fit
    to `logger`'s directory (Keras gives the callbacks of one fit one
    `params` dict)."""
    return (
        first is not logger
        and first._writer is not None
        and not first._echo
        and bool(logger.params)
        and first.params is logger.params
        and _real_dir(first.log_dir) == _real_dir(logger.log_dir)
    )


def _real_dir(path):
    return os.path.realpath(os.fsdecode(os.fspath(path)))


def _to_float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _call_schedule(fn, epoch, lr):
    try:
        value = fn(epoch, lr)
    except TypeError:
        value = fn(epoch)
    # Rounded as the optimizer's float32 variable holds it, epoch by epoch,
    # so the chained plan is the one a scheduler really produces.
    return float(np.float32(np.asarray(value)))
