"""`LearningRateScheduler`: Keras's callback, auditable, and tensor-tolerant."""

import functools
import warnings

import keras
import numpy as np
from tb_lr_plugin.callbacks import optimizers as opt_lib
from tb_lr_plugin.callbacks.learning_rate_logger import loggers_for

from tb_lr_plugin import metadata


class LearningRateSchedulerMixin:
    """Sets the learning rate at each epoch start, and records it as the plan.

    A drop-in for `keras.callbacks.LearningRateScheduler`: the same
    arguments and the same learning rates. In addition:
    - the schedule may return a tensor or a numpy scalar (Keras 3 rejects
      `lr * tf.math.exp(-0.1)` with "should be a float");
    - its plan is the *planned* LR recorded by the `LearningRateLogger` of
      the same `fit` call: the schedule chained on its own outputs from the
      LR at the start of training, i.e. what it prescribes with no
      intervention. When something else changes the LR (a
      `ReduceLROnPlateau`, a manual assignment), planned and actual diverge
      and the audit says which callback won. (The schedule is therefore
      called twice per epoch: once on the actual LR, as Keras does, and
      once on the plan.)
    - every change it makes is a `scheduler` event.

    Example:

    ```python
    import tensorflow as tf
    from tb_lr_plugin.callbacks import LearningRateLogger, LearningRateScheduler

    def scheduler(epoch, lr):
        if epoch < 10:
            return lr
        else:
            return lr * tf.math.exp(-0.1)

    model.fit(x, y, epochs=15, callbacks=[
        LearningRateScheduler(scheduler), LearningRateLogger("logs/run1")])
    ```

    Args:
      schedule: a function `(epoch, lr) -> lr` (or `(epoch) -> lr`), epoch
        0-based, returning a number, numpy scalar or scalar tensor.
      verbose: 1 prints Keras's line at every epoch.
    """

    _api = None  # the Keras served: set by the concrete class

    def __init__(self, schedule, verbose=0):
        if not callable(schedule):
            raise ValueError(f"`schedule` must be callable. Received schedule={schedule!r}")
        # Keras's code calls the schedule, sets and prints; this wrapper only
        # turns a tensor or numpy result into the float Keras insists on.
        super().__init__(functools.partial(_call, self._api, schedule), verbose=verbose)
        self.user_schedule = schedule
        self._plan = {}  # optimizer name -> planned LR of the last epoch

    def set_model(self, model):
        self._api.check_model(self, model)
        super().set_model(model)

    def on_epoch_begin(self, epoch, logs=None):
        optimizers = self._api.named_optimizers(self.model.optimizer)
        before = [self._api.read_lr(o) for _, o in optimizers]
        super().on_epoch_begin(epoch, logs)
        try:
            self._record(epoch, optimizers, before)
        except Exception as e:  # noqa: BLE001 - recording must not stop training
            warnings.warn(f"LearningRateScheduler could not record: {e!r}", stacklevel=2)

    def _record(self, epoch, optimizers, before):
        loggers = loggers_for(self.model)
        if not loggers:
            return
        step = self._api.read_iterations(self.model.optimizer)
        for (name, opt), old in zip(optimizers, before, strict=True):
            new = self._api.read_lr(opt)  # what Keras's code set, as float32 holds it
            plan = _call(self._api, self.user_schedule, epoch, self._plan.get(name, old))
            planned = float(np.float32(plan))
            self._plan[name] = planned
            for logger in loggers:
                logger.set_planned(name, planned)
                if np.float32(old) != np.float32(new):
                    event = {
                        "kind": metadata.EVENT_SCHEDULER,
                        "epoch": epoch,
                        "step": step,
                        "optimizer": name,
                        "old_lr": old,
                        "new_lr": new,
                    }
                    logger.record_event(event, explains=(name, new))


class LearningRateScheduler(LearningRateSchedulerMixin, keras.callbacks.LearningRateScheduler):
    __doc__ = LearningRateSchedulerMixin.__doc__
    _api = opt_lib.KERAS


def _call(api, schedule, epoch, lr=None):
    """Calls `schedule(epoch, lr)` (or `schedule(epoch)`), as a float."""
    try:
        return _as_float(api, schedule(epoch, lr))
    except TypeError:
        return _as_float(api, schedule(epoch))


def _as_float(api, value):
    """The schedule's result as a Python float, or Keras's own error."""
    try:
        array = np.asarray(api.ops.convert_to_numpy(value), dtype=np.float64)
        if array.size == 1 and not isinstance(value, bool):
            return float(array.reshape(()))
    except (TypeError, ValueError):
        pass
    raise ValueError(f"The output of the `schedule` function should be a float. Got: {value}")
