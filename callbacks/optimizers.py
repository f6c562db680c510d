"""What the callbacks need to know about a model's optimizers, read cheaply.

Keras hides the learning rate in several shapes: a variable, a
`LearningRateSchedule`, a callable; optimizers wrapped for loss scaling
(`inner_optimizer`) or grouped (`optimizers`). This module finds the
optimizers that really apply updates and reads or evaluates their learning
rates in bulk, off the training hot path.

The few calls that differ between the Kerases served are methods of an
`Api`: `KERAS` (Keras 3) here, `tb_lr_plugin.callbacks.tf_keras.TF_KERAS`
for tf_keras (Keras 2). Each callback class names its own (`_api`), so its
import path says which Keras it serves.
"""

import contextlib
import functools
import json
import os
import re

import keras
import numpy as np
from keras import backend, ops
from keras.optimizers.schedules import LearningRateSchedule


def unwrap(optimizer):
    """Returns the optimizer that applies updates (loss scaling unwrapped)."""
    seen = set()
    while hasattr(optimizer, "inner_optimizer") and id(optimizer) not in seen:
        seen.add(id(optimizer))
        optimizer = optimizer.inner_optimizer
    return optimizer


def named_optimizers(optimizer):
    """Lists `(name, optimizer)` for every optimizer that applies updates.

    Args:
      optimizer: `model.optimizer`.

    Returns:
      A list of `(unique name, unwrapped optimizer)`; several for an
      optimizer that exposes `optimizers`, as Keras's own callbacks read it.
    """
    if optimizer is None:
        return []
    outer = unwrap(optimizer)
    members = getattr(outer, "optimizers", None) or getattr(optimizer, "optimizers", None)
    members = [unwrap(o) for o in members] if members else [outer]
    names, result = {}, []
    for opt in members:
        base = _display_name(opt, single=len(members) == 1)
        count = names.get(base, 0)
        names[base] = count + 1
        result.append((base if count == 0 else f"{base}_{count}", opt))
    return result


def _display_name(optimizer, single):
    name = str(getattr(optimizer, "name", None) or "")
    default = _snake_case(type(optimizer).__name__)
    # Keras names unnamed optimizers "sgd", "sgd_1", ... per process; one
    # optimizer keeps its class's name, so runs compare under one series.
    # (Keras 3.5 names an unnamed SGD "SGD", every time.)
    if not name or (single and re.fullmatch(re.escape(default) + r"(_\d+)?", name, re.I)):
        return default
    return name


def _snake_case(name):
    # As Keras names its objects (keras.src.utils.naming.to_snake_case).
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


class Api:
    """What the callbacks call that differs between Kerases: Keras 3's.

    `tb_lr_plugin.callbacks.tf_keras.TfKerasApi` overrides what tf_keras
    does otherwise; everything else is shared.
    """

    name = "Keras 3"
    import_path = "tb_lr_plugin.callbacks"
    other_import_path = "tb_lr_plugin.callbacks.tf_keras"
    unwrap = staticmethod(unwrap)
    named_optimizers = staticmethod(named_optimizers)

    def __init__(self):
        self.ops = ops
        self.version = keras.__version__
        self.Model = keras.Model
        self.LearningRateSchedule = LearningRateSchedule

    def backend(self):
        """The backend name: "tensorflow", "jax" or "torch"."""
        return backend.backend()

    def check_model(self, callback, model):
        """Refuses a model of another Keras, before any record is written.

        Args:
          callback: the callback being attached.
          model: what `fit` passes to `set_model`.

        Raises:
          TypeError: `model` is not a model of this Keras (a tf_keras model
            given to a Keras 3 callback, or the reverse); the message says
            what to import instead.
        """
        if model is None or isinstance(model, self.Model):
            return
        cls = type(callback).__name__
        kind = type(model).__module__.split(".")[0]
        raise TypeError(
            f"{cls} from {self.import_path} is a {self.name} callback (version "
            f"{self.version}), and this model is a {type(model).__name__} from `{kind}`. "
            f"{self._advice(cls)}"
        )

    def _advice(self, cls):
        return (
            "For a tf_keras (Keras 2) model (`import tf_keras`, or `tf.keras` under "
            f"TF_USE_LEGACY_KERAS=1): `from {self.other_import_path} import {cls}`."
        )

    def lr_object(self, optimizer):
        """The optimizer's learning-rate holder: a variable, schedule or callable."""
        return getattr(optimizer, "_learning_rate", None)

    def is_schedule(self, obj):
        return isinstance(obj, self.LearningRateSchedule)

    def read_float(self, value):
        """A scalar tensor or variable as a Python float (a host sync)."""
        return float(self.ops.convert_to_numpy(value))

    def read_lr(self, optimizer):
        """Reads the LR the optimizer would use now, as a float (a host sync)."""
        return self.read_float(optimizer.learning_rate)

    def read_iterations(self, optimizer):
        """Reads the update counter as an int (a host sync).

        The counter of the optimizer that applies updates, which its schedule
        reads: Keras 3.5's `LossScaleOptimizer` keeps an `iterations` of
        its own that never moves.
        """
        return int(self.ops.convert_to_numpy(unwrap(optimizer).iterations))

    def optimizer_variables(self, model):
        """The optimizer's variables, built first if need be (as fit would)."""
        outer = model.optimizer
        if not outer.built:
            outer.build(model.trainable_variables)
        return list(outer.variables)

    def variable(self, value, name):
        """A float32 variable that compiled steps read live."""
        return keras.Variable(float(value), trainable=False, dtype="float32", name=name)

    def serialize(self, obj):
        return keras.saving.serialize_keras_object(obj)

    def deserialize(self, config):
        return keras.saving.deserialize_keras_object(config)

    def describe(self, obj):
        """A JSON-ready description of a plan: class name and config."""
        base = getattr(obj, "base_schedule", None)  # PlateauScheduled
        if base is not None:
            # Not get_config(): Keras's serializer imports TensorFlow whenever
            # it is installed, even under the JAX and torch backends.
            return {"type": type(obj).__name__, "base": self.describe(base)}
        if isinstance(obj, float):
            return {"type": "constant", "value": obj}
        if self.is_schedule(obj):
            try:
                config = json.loads(json.dumps(obj.get_config(), default=str))
            except Exception:  # noqa: BLE001 - a description is best effort
                config = {}
            return {"type": type(obj).__name__, "config": config}
        return {"type": "constant"}

    def evaluate_schedule(self, schedule, steps):
        """Evaluates a `LearningRateSchedule` at many steps at once.

        Keras schedules accept tensors, so one call usually covers a whole
        flush; schedules that branch with `ops.cond` (CosineDecay's warmup)
        are vectorised by the backend (`tf.vectorized_map`, `jax.vmap`) or,
        failing that, evaluated step by step.

        Args:
          schedule: a `LearningRateSchedule` of this Keras, or a constant.
          steps: int array of the optimizer steps (`iterations` before update).

        Returns:
          float64 array of the float32 values the optimizer computes.
        """
        steps = np.asarray(steps, dtype=np.int64)
        if not len(steps):
            return np.zeros(0)
        if not self.is_schedule(schedule):  # a constant
            return np.full(len(steps), np.float32(schedule), dtype=np.float64)
        for evaluate in (self._direct, self._vectorized, self._one_by_one):
            try:
                values = evaluate(schedule, steps)
            except Exception:  # noqa: BLE001 - try the next, slower way
                continue
            values = np.asarray(values, dtype=np.float32).reshape(-1)
            if values.shape == steps.shape:
                return values.astype(np.float64)
        raise ValueError(f"Could not evaluate the schedule {schedule!r}")

    def _direct(self, schedule, steps):
        return self.ops.convert_to_numpy(schedule(self.ops.convert_to_tensor(steps)))

    def _vectorized(self, schedule, steps):
        return _vectorizer(schedule, self.backend())(steps)

    def _one_by_one(self, schedule, steps):
        return [self.read_float(schedule(int(s))) for s in steps]

    def is_chief(self):
        """True in the process that should write (one copy of every record).

        Follows `TF_CONFIG` (chief, or worker 0 when no chief is named), and
        JAX's / torch's process rank under those backends.
        """
        chief = _tf_config_chief()
        if chief is not None:
            return chief
        name = self.backend()
        if name == "jax":
            import jax

            return jax.process_index() == 0
        if name == "torch":
            import torch.distributed as dist

            return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0
        return True

    @contextlib.contextmanager
    def routed_lr_writes(self, callback, write):
        """Lets Keras's own callback code set learning rates it cannot set itself.

        Keras's `ReduceLROnPlateau` refuses an optimizer whose LR is a
        schedule (a `PlateauScheduled`). Inside this context the callback
        sees its model through a view whose optimizers hand every LR
        assignment to `write(optimizer, new_lr)`, so the decisions stay
        those of the installed Keras's code, whichever release it is, with
        no private hook. Keras 3 assigns `optimizer.learning_rate`; Keras 2
        `backend.set_value(optimizer.lr, ...)`, so the view's `lr` is a
        scratch variable holding the current LR, handed to `write` on exit
        if the callback changed it.

        Args:
          callback: a callback with its model set.
          write: `(optimizer, float) -> None`, called for every assignment.

        Yields:
          Nothing; the callback's model is restored on exit.
        """
        # Keras 3 keeps the model in `_model` (behind a property), Keras 2 in `model`.
        attr = "_model" if "_model" in vars(callback) else "model"
        model = getattr(callback, attr)
        view = _ModelView(model, write, self)
        setattr(callback, attr, view)
        try:
            yield
            view.write_scratch()
        finally:
            setattr(callback, attr, model)


def _tf_config_chief():
    """Whether `TF_CONFIG` names this process the chief (None: it does not say)."""
    tf_config = os.environ.get("TF_CONFIG")
    if not tf_config:
        return None
    try:
        config = json.loads(tf_config)
        task = config.get("task", {})
        cluster = config.get("cluster", {})
        kind, index = task.get("type"), int(task.get("index", 0))
    except (ValueError, TypeError, AttributeError):
        return None
    if kind in ("chief", "master"):
        return True
    if kind == "worker":
        return "chief" not in cluster and "master" not in cluster and index == 0
    return False if kind else None


@functools.lru_cache(maxsize=16)
def _vectorizer(schedule, name):
    if name == "tensorflow":
        import tensorflow as tf

        fn = tf.function(
            lambda s: tf.vectorized_map(schedule, s),
            input_signature=[tf.TensorSpec([None], tf.int64)],
        )
        return lambda steps: fn(tf.constant(steps)).numpy()
    if name == "jax":
        import jax

        fn = jax.jit(jax.vmap(schedule))
        return lambda steps: np.asarray(fn(steps))
    raise NotImplementedError(name)


KERAS = Api()


class _ModelView:
    """The model, with its optimizer seen through `_OptimizerView`."""

    def __init__(self, model, write, api):
        self._model, self._write, self._api = model, write, api
        self._scratch = {}  # id(optimizer) -> (optimizer, variable, LR when made)

    @property
    def optimizer(self):
        return _OptimizerView(self._model.optimizer, self._write, self)

    def scratch_lr(self, optimizer):
        """One scratch variable per optimizer, holding its LR as read now."""
        if id(optimizer) not in self._scratch:
            lr = self._api.read_lr(optimizer)
            self._scratch[id(optimizer)] = (optimizer, self._api.variable(lr, "lr"), lr)
        return self._scratch[id(optimizer)][1]

    def write_scratch(self):
        for optimizer, var, lr in self._scratch.values():
            new = self._api.read_float(var)
            if np.float32(new) != np.float32(lr):
                self._write(optimizer, new)

    def __getattr__(self, name):
        return getattr(self._model, name)


class _OptimizerView:
    """An optimizer whose LR assignments go to `write` (sub-optimizers too)."""

    def __init__(self, optimizer, write, model_view):
        self._opt, self._write, self._view = optimizer, write, model_view

    @property
    def learning_rate(self):
        return self._opt.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self._write(self._opt, float(value))

    @property
    def lr(self):
        return self._view.scratch_lr(self._opt)

    def __getattr__(self, name):
        value = getattr(self._opt, name)
        if name == "optimizers":
            return [_OptimizerView(o, self._write, self._view) for o in value]
        return value
