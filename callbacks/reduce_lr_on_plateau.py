"""`ReduceLROnPlateau`: Keras's callback, with every decision recorded."""

import warnings

import keras
import numpy as np
from tb_lr_plugin.callbacks import optimizers as opt_lib
from tb_lr_plugin.callbacks.learning_rate_logger import loggers_for
from tb_lr_plugin.callbacks.plateau_scheduled import PlateauScheduledMixin

from tb_lr_plugin import metadata, storage
from tb_lr_plugin.remote_writer import writer_for


class ReduceLROnPlateauMixin:
    """Reduce the learning rate on a plateau, and record why and when.

    A drop-in for `keras.callbacks.ReduceLROnPlateau`: the same arguments,
    and the same decisions (Keras's own code takes them). In addition, every
    epoch's state is recorded (monitored value, best, wait vs patience,
    cooldown counter, LR), and events for every reduction, every cooldown
    start and end, and every plateau ignored because the LR is already at
    `min_lr`. Records go through the `LearningRateLogger` of the same
    `fit` call, or to `log_dir` when there is none.

    Unlike Keras's, it also works when the optimizer's learning rate is a
    schedule wrapped in `PlateauScheduled`: a reduction then multiplies the
    schedule's `plateau_factor` (the LR becomes `max(lr * factor, min_lr)`
    at that step, and the schedule goes on from there).

    Example:

    ```python
    from tb_lr_plugin.callbacks import LearningRateLogger, ReduceLROnPlateau

    model.fit(x, y, validation_split=0.2, epochs=50, callbacks=[
        ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=3, verbose=1),
        LearningRateLogger("logs/run1"),
    ])
    ```

    Args:
      monitor: the metric to watch, e.g. `"val_loss"`.
      factor: the LR is multiplied by it on a plateau (`0 < factor < 1`).
      patience: epochs without improvement before a reduction.
      verbose: 1 prints Keras's line for every reduction.
      mode: `"auto"`, `"min"` or `"max"`.
      min_delta: smallest change that counts as an improvement.
      cooldown: epochs to wait after a reduction before counting again.
      min_lr: the LR is never reduced below this.
      log_dir: where to write when no `LearningRateLogger` is in the same
        `fit` call. Optional.
    """

    _api = None  # the Keras served: set by the concrete class

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        verbose=0,
        mode="auto",
        min_delta=1e-4,
        cooldown=0,
        min_lr=0.0,
        log_dir=None,
        **kwargs,
    ):
        _check_number("factor", factor, lambda v: 0 < v < 1, "in (0, 1)")
        _check_number("patience", patience, lambda v: v >= 0 and v == int(v), "a whole number >= 0")
        _check_number("cooldown", cooldown, lambda v: v >= 0 and v == int(v), "a whole number >= 0")
        _check_number("min_lr", min_lr, lambda v: v >= 0, ">= 0")
        _check_number("min_delta", min_delta, lambda v: np.isfinite(v), "finite")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f'`mode` must be "auto", "min" or "max". Received mode={mode!r}')
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"`monitor` must be a metric name. Received monitor={monitor!r}")
        super().__init__(
            monitor=monitor,
            factor=factor,
            patience=patience,
            verbose=verbose,
            mode=mode,
            min_delta=min_delta,
            cooldown=cooldown,
            min_lr=min_lr,
            **kwargs,
        )
        if log_dir is not None:
            storage.check(log_dir)  # a URL is never taken for a local folder
        self.log_dir = log_dir
        self._writer = None
        self._warned_no_sink = False

    def set_model(self, model):
        self._api.check_model(self, model)
        super().set_model(model)

    def on_epoch_end(self, epoch, logs=None):
        optimizers = self._api.named_optimizers(self.model.optimizer)
        before = [self._api.read_lr(o) for _, o in optimizers]
        wait, cooldown_counter, best = self.wait, self.cooldown_counter, self.best
        logs = {} if logs is None else logs
        if any(isinstance(self._api.lr_object(o), PlateauScheduledMixin) for _, o in optimizers):
            # Keras's code decides; a reduction it makes scales the factor.
            with self._api.routed_lr_writes(self, self._set_lr):
                super().on_epoch_end(epoch, logs)
        else:
            super().on_epoch_end(epoch, logs)
        try:
            self._record(epoch, logs, optimizers, before, (wait, cooldown_counter, best))
        except Exception as e:  # noqa: BLE001 - recording must not stop training
            warnings.warn(f"ReduceLROnPlateau could not record its decision: {e!r}", stacklevel=2)

    def _set_lr(self, optimizer, new_lr):
        holder = self._api.lr_object(self._api.unwrap(optimizer))
        if not isinstance(holder, PlateauScheduledMixin):
            optimizer.learning_rate = new_lr
            return
        old_lr = self._api.read_lr(optimizer)
        factor = self._api.read_float(holder.plateau_factor)
        holder.plateau_factor.assign(factor * new_lr / old_lr)
        if self._api.backend() == "jax":
            # JAX's compiled step took the factor in as a constant (it is
            # not an optimizer variable, so checkpoints stay loadable by a
            # plain optimizer): compile the step again with the new one.
            self.model.make_train_function(force=True)

    def _record(self, epoch, logs, optimizers, before, previous):
        sinks = self._sinks()
        if not sinks:
            return
        after = [self._api.read_lr(o) for _, o in optimizers]
        current = _float_or_none(logs.get(self.monitor))
        common = {"epoch": epoch, "step": self._steps_done(optimizers), "monitor": self.monitor}
        events = self._decision_events(common, current, optimizers, before, after, previous)
        state = dict(
            common,
            value=current,
            best=_float_or_none(self.best),
            wait=self.wait,
            patience=self.patience,
            cooldown_counter=self.cooldown_counter,
            cooldown=self.cooldown,
            lr=after[0] if after else None,
            min_lr=self.min_lr,
            min_delta=abs(self.min_delta),
            factor=self.factor,
            mode=self.mode,
        )
        for sink in sinks:
            for item in events:
                event, explains = item if isinstance(item, tuple) else (item, None)
                sink.record_event(event, explains=explains)
            sink.record_plateau(state)
            if isinstance(sink, _WriterSink):
                sink.writer.flush()

    def _decision_events(self, common, current, optimizers, before, after, previous):
        """The events of one epoch end: reductions (each with the LR change it
        explains), cooldown start and end, plateaus ignored at `min_lr`."""
        wait, cooldown_counter, best = previous
        # Keras zeroes `wait` when a cooldown is running, then counts this
        # epoch: the wait that triggered a decision.
        triggering_wait = (0 if cooldown_counter > 0 else wait) + 1
        events = []
        if current is not None and cooldown_counter > 0 and self.cooldown_counter == 0:
            events.append(
                dict(common, kind=metadata.EVENT_COOLDOWN, phase="end", cooldown=self.cooldown)
            )
        for (name, _), old, new in zip(optimizers, before, after, strict=True):
            if np.float32(old) != np.float32(new):
                event = dict(
                    common,
                    kind=metadata.EVENT_REDUCTION,
                    optimizer=name,
                    value=current,
                    best=_float_or_none(best),
                    wait=triggering_wait,
                    patience=self.patience,
                    old_lr=old,
                    new_lr=new,
                    factor=self.factor,
                    min_lr=self.min_lr,
                    cooldown=self.cooldown,
                )
                events.append((event, (name, new)))
        reduced = any(isinstance(e, tuple) for e in events)
        if reduced and self.cooldown > 0:
            events.append(
                dict(common, kind=metadata.EVENT_COOLDOWN, phase="start", cooldown=self.cooldown)
            )
        if current is not None and not reduced and self.wait >= self.patience:
            events.extend(self._floor_events(common, current, optimizers, before))
        return events

    def _floor_events(self, common, current, optimizers, before):
        return [
            dict(
                common,
                kind=metadata.EVENT_MIN_LR_FLOOR,
                optimizer=name,
                value=current,
                best=_float_or_none(self.best),
                wait=self.wait,
                patience=self.patience,
                lr=lr,
                min_lr=self.min_lr,
            )
            for (name, _), lr in zip(optimizers, before, strict=True)
        ]

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _sinks(self):
        sinks = loggers_for(self.model)
        if sinks:
            return sinks
        if not self._api.is_chief():
            return []  # only the chief records; nothing is missing here
        if self.log_dir is not None:
            if self._writer is None:
                self._writer = writer_for(self.log_dir)
            return [_WriterSink(self._writer)]
        if not self._warned_no_sink:
            self._warned_no_sink = True
            warnings.warn(
                "ReduceLROnPlateau: no LearningRateLogger in this fit() call and no "
                "`log_dir`, so its decisions are not recorded.",
                stacklevel=3,
            )
        return []

    def _steps_done(self, optimizers):
        # One read per epoch: exact wherever this callback sits in the list.
        return self._api.read_iterations(self.model.optimizer) if optimizers else 0


class ReduceLROnPlateau(ReduceLROnPlateauMixin, keras.callbacks.ReduceLROnPlateau):
    __doc__ = ReduceLROnPlateauMixin.__doc__
    _api = opt_lib.KERAS


class _WriterSink:
    """Lets `ReduceLROnPlateau` write on its own, like a logger would."""

    def __init__(self, writer):
        self.writer = writer

    def record_event(self, event, explains=None):
        self.writer.add_json(metadata.KIND_EVENTS, metadata.TAG_EVENTS, [event], event["step"])

    def record_plateau(self, item):
        self.writer.add_json(metadata.KIND_PLATEAU, metadata.TAG_PLATEAU, [item], item["step"])


def _float_or_none(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value


def _check_number(name, value, ok, expected):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not ok(value):
        raise ValueError(f"`{name}` must be {expected}. Received {name}={value!r}")
