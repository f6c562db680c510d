"""`PlateauScheduled`: a schedule that plateau reductions can scale."""

import keras
from tb_lr_plugin.callbacks import optimizers as opt_lib


class PlateauScheduledMixin:
    """Any learning-rate schedule, times a factor that plateaus can reduce.

    Keras refuses `ReduceLROnPlateau` on an optimizer with a schedule (its
    learning rate is not settable), so warmup and cosine decay exclude
    plateau reductions. Wrap the schedule in `PlateauScheduled` and this
    package's `ReduceLROnPlateau` multiplies `plateau_factor` instead of
    overwriting the LR (honouring `factor`, `min_lr` at the time of the
    reduction, `cooldown` and `min_delta` as usual). The tab shows the
    base schedule as planned and the product as actual, with every
    reduction as an event. The factor is saved with the model
    (`model.save` / `keras.models.load_model`).

    Example:

    ```python
    import keras
    from tb_lr_plugin.callbacks import (
        LearningRateLogger, PlateauScheduled, ReduceLROnPlateau)

    base = keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=10_000, warmup_target=1e-3, warmup_steps=500)
    model.compile(optimizer=keras.optimizers.Adam(PlateauScheduled(base)), loss="mse")
    model.fit(x, y, validation_split=0.2, epochs=50, callbacks=[
        ReduceLROnPlateau(factor=0.5, patience=3), LearningRateLogger("logs/run1")])
    ```

    Args:
      base_schedule: a `LearningRateSchedule`, or a constant learning rate.
      plateau_factor: the initial factor (1.0: no reduction yet).
      name: optional name.
    """

    _api = None  # the Keras served: set by the concrete class

    def __init__(self, base_schedule, plateau_factor=1.0, name="PlateauScheduled"):
        super().__init__()
        api = self._api
        if isinstance(base_schedule, dict):
            base_schedule = api.deserialize(base_schedule)
        if not isinstance(base_schedule, api.LearningRateSchedule):
            try:
                base_schedule = float(base_schedule)
            except (TypeError, ValueError):
                raise ValueError(
                    "`base_schedule` must be a LearningRateSchedule or a number. "
                    f"Received base_schedule={base_schedule!r}"
                ) from None
        if not 0 < float(plateau_factor) <= 1:
            raise ValueError(
                f"`plateau_factor` must be in (0, 1]. Received plateau_factor={plateau_factor!r}"
            )
        self.base_schedule = base_schedule
        self.name = name
        # A variable, not a float: the compiled train step reads it live.
        self.plateau_factor = api.variable(plateau_factor, "plateau_factor")

    def base(self, step):
        """The base schedule's value at `step` (the plan)."""
        ops = self._api.ops
        if isinstance(self.base_schedule, float):
            return ops.full_like(ops.cast(step, "float32"), self.base_schedule)
        return ops.cast(self.base_schedule(step), "float32")

    def __call__(self, step):
        return self.base(step) * self._api.ops.convert_to_tensor(self.plateau_factor)

    def get_config(self):
        base = self.base_schedule
        if not isinstance(base, float):
            base = self._api.serialize(base)
        return {
            "base_schedule": base,
            "plateau_factor": self._api.read_float(self.plateau_factor),
            "name": self.name,
        }


@keras.saving.register_keras_serializable(package="tb_lr_plugin")
class PlateauScheduled(PlateauScheduledMixin, keras.optimizers.schedules.LearningRateSchedule):
    __doc__ = PlateauScheduledMixin.__doc__
    _api = opt_lib.KERAS
