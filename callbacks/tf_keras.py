"""The five callbacks for tf_keras (Keras 2): `import tf_keras`, or `tf.keras`
under `TF_USE_LEGACY_KERAS=1`.

The same classes as `tb_lr_plugin.callbacks`, on tf_keras's base classes:
the drop-ins subclass tf_keras's own `ReduceLROnPlateau` and
`LearningRateScheduler`, whose code takes every decision. All the logic is
shared with the Keras 3 classes; `TfKerasApi` holds the few calls that
differ (tensors to numbers, legacy optimizers' `lr`, how an optimizer's
state is built and read). A callback given the other Keras's model stops
`fit` at once with a `TypeError` that says what to import instead.

Example:

```python
import tf_keras
from tb_lr_plugin.callbacks.tf_keras import LearningRateLogger, ReduceLROnPlateau

model.fit(x, y, validation_split=0.2, epochs=50, callbacks=[
    ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=3),
    LearningRateLogger("logs/run1"),
])
```
"""

import numpy as np
import tensorflow as tf
import tf_keras
from tb_lr_plugin.callbacks import optimizers as opt_lib
from tb_lr_plugin.callbacks.learning_rate_finder import LearningRateFinderMixin
from tb_lr_plugin.callbacks.learning_rate_logger import LearningRateLoggerMixin
from tb_lr_plugin.callbacks.learning_rate_scheduler import LearningRateSchedulerMixin
from tb_lr_plugin.callbacks.plateau_scheduled import PlateauScheduledMixin
from tb_lr_plugin.callbacks.reduce_lr_on_plateau import ReduceLROnPlateauMixin

__all__ = [
    "LearningRateFinder",
    "LearningRateLogger",
    "LearningRateScheduler",
    "PlateauScheduled",
    "ReduceLROnPlateau",
]


class _TfOps:
    """The few `keras.ops` the shared code calls, in TensorFlow."""

    @staticmethod
    def convert_to_numpy(x):
        return x.numpy() if hasattr(x, "numpy") else np.asarray(x)

    convert_to_tensor = staticmethod(tf.convert_to_tensor)

    @staticmethod
    def cast(x, dtype):
        return tf.cast(x, dtype)

    @staticmethod
    def full_like(x, value):
        return tf.fill(tf.shape(x), tf.cast(value, x.dtype))


class TfKerasApi(opt_lib.Api):
    """What tf_keras does otherwise than Keras 3.

    Its legacy optimizers (`tf_keras.optimizers.legacy.*`, `OptimizerV2`)
    keep the learning rate in `_hyper` (read as `lr`), with a schedule
    returned as is; its new optimizers' `learning_rate` under a schedule is
    the value of the last update, not the next.
    """

    name = "tf_keras (Keras 2)"
    import_path = "tb_lr_plugin.callbacks.tf_keras"
    other_import_path = "tb_lr_plugin.callbacks"

    def __init__(self):
        self.ops = _TfOps
        self.version = tf_keras.__version__
        self.Model = tf_keras.Model
        self.LearningRateSchedule = tf_keras.optimizers.schedules.LearningRateSchedule

    def backend(self):
        return "tensorflow"

    def _advice(self, cls):
        path = self.other_import_path
        return f"For a Keras 3 model (`import keras`): `from {path} import {cls}`."

    def lr_object(self, optimizer):
        if hasattr(optimizer, "_hyper"):  # a legacy optimizer
            return optimizer._get_hyper("learning_rate")
        return super().lr_object(optimizer)

    def read_lr(self, optimizer):
        """The LR of the next update, as a float (a host sync)."""
        holder = self.lr_object(opt_lib.unwrap(optimizer))
        if self.is_schedule(holder):
            return self.read_float(holder(self.read_iterations(optimizer)))
        return self.read_float(holder)

    def optimizer_variables(self, model):
        outer = model.optimizer
        if hasattr(outer, "_create_all_weights"):  # a legacy optimizer
            outer._create_all_weights(model.trainable_variables)
            return list(outer.variables())
        outer.build(model.trainable_variables)  # a no-op once built
        return list(outer.variables)

    def variable(self, value, name):
        return tf.Variable(float(value), trainable=False, dtype=tf.float32, name=name)

    def serialize(self, obj):
        return tf_keras.saving.serialize_keras_object(obj)

    def deserialize(self, config):
        return tf_keras.saving.deserialize_keras_object(config)


TF_KERAS = TfKerasApi()


class LearningRateLogger(LearningRateLoggerMixin, tf_keras.callbacks.Callback):
    __doc__ = LearningRateLoggerMixin.__doc__
    _api = TF_KERAS


class ReduceLROnPlateau(ReduceLROnPlateauMixin, tf_keras.callbacks.ReduceLROnPlateau):
    __doc__ = ReduceLROnPlateauMixin.__doc__
    _api = TF_KERAS


class LearningRateScheduler(LearningRateSchedulerMixin, tf_keras.callbacks.LearningRateScheduler):
    __doc__ = LearningRateSchedulerMixin.__doc__
    _api = TF_KERAS


class LearningRateFinder(LearningRateFinderMixin, tf_keras.callbacks.Callback):
    __doc__ = LearningRateFinderMixin.__doc__
    _api = TF_KERAS


@tf_keras.saving.register_keras_serializable(package="tb_lr_plugin")
class PlateauScheduled(PlateauScheduledMixin, tf_keras.optimizers.schedules.LearningRateSchedule):
    __doc__ = PlateauScheduledMixin.__doc__
    _api = TF_KERAS
