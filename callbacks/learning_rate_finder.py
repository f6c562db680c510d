"""`LearningRateFinder`: an LR range test recorded for the tab and the CLI."""

import math
import time
import warnings

import numpy as np
from keras.callbacks import Callback
from tb_lr_plugin.callbacks import optimizers as opt_lib

from tb_lr_plugin import lr_finder, metadata, storage
from tb_lr_plugin.remote_writer import writer_for


class LearningRateFinderMixin:
    """Sweeps the learning rate up exponentially and records loss against it.

    The LR range test: for `num_steps` updates the LR rises from `min_lr` to
    `max_lr` (each step multiplies it by the same ratio), the loss of each
    step is recorded, and the sweep stops early once the smoothed loss
    exceeds `stop_factor` times its best or becomes NaN. Afterwards the
    model's weights, the optimizer's state (step counter and moments) and
    the learning rate are restored, and two suggestions are computed:
    `steepest` (fastest descent of the smoothed loss per log LR) and
    `valley`. Both are printed (with `verbose=1`), kept in `.result`, shown
    in the Learning Rate tab and by `tb-lr-audit`.

    Example:

    ```python
    from tb_lr_plugin.callbacks import LearningRateFinder

    finder = LearningRateFinder("logs/lr_finder", min_lr=1e-6, max_lr=1.0, num_steps=200)
    model.fit(x, y, epochs=1, callbacks=[finder])  # >= num_steps batches
    print(finder.result["valley"])
    ```

    Args:
      log_dir: run directory for the records.
      min_lr, max_lr: the ramp's ends (`0 < min_lr < max_lr`).
      num_steps: number of updates in the ramp (>= 5).
      smoothing: weight of the exponential moving average of the loss.
      stop_factor: stop once the smoothed loss exceeds this times its best.
      verbose: 1 prints the suggestions.
    """

    _api = None  # the Keras served: set by the concrete class

    def __init__(
        self,
        log_dir,
        min_lr=1e-7,
        max_lr=10.0,
        num_steps=100,
        smoothing=0.98,
        stop_factor=4.0,
        verbose=1,
    ):
        super().__init__()
        if not (isinstance(min_lr, (int, float)) and min_lr > 0):
            raise ValueError(f"`min_lr` must be > 0. Received min_lr={min_lr!r}")
        if not (isinstance(max_lr, (int, float)) and max_lr > min_lr):
            raise ValueError(f"`max_lr` must be > min_lr. Received max_lr={max_lr!r}")
        if not (isinstance(num_steps, int) and num_steps >= 5):
            raise ValueError(f"`num_steps` must be an int >= 5. Received num_steps={num_steps!r}")
        if not (isinstance(smoothing, (int, float)) and 0 <= smoothing < 1):
            raise ValueError(f"`smoothing` must be in [0, 1). Received smoothing={smoothing!r}")
        if not (isinstance(stop_factor, (int, float)) and stop_factor > 1):
            raise ValueError(f"`stop_factor` must be > 1. Received stop_factor={stop_factor!r}")
        storage.check(log_dir)  # a URL is never taken for a local folder
        self.log_dir = log_dir
        self.min_lr, self.max_lr, self.num_steps = float(min_lr), float(max_lr), num_steps
        self.smoothing, self.stop_factor, self.verbose = smoothing, stop_factor, verbose
        self.result = None

    def set_model(self, model):
        self._api.check_model(self, model)
        super().set_model(model)

    def lr_at(self, i):
        """The LR of the ramp's update `i` (0-based)."""
        return self.min_lr * (self.max_lr / self.min_lr) ** (i / (self.num_steps - 1))

    def on_train_begin(self, logs=None):
        opts = self._api.named_optimizers(self.model.optimizer)
        if len(opts) != 1 or self._api.is_schedule(self._api.lr_object(opts[0][1])):
            raise ValueError(
                "LearningRateFinder needs one optimizer with a settable learning rate "
                "(not a LearningRateSchedule)."
            )
        self._opt = opts[0][1]
        self._saved_lr = self._api.read_lr(self._opt)
        self._saved_weights = self.model.get_weights()
        # Build the optimizer now if need be (fit would, with the same
        # variables), so that its whole state, step counter included, can be
        # put back as it was before the test.
        self._saved_optimizer = [
            np.array(self._api.ops.convert_to_numpy(v))
            for v in self._api.optimizer_variables(self.model)
        ]
        self._lrs, self._losses, self._smoothed = [], [], []
        self._best = math.inf
        self._avg = 0.0
        self._i = 0
        self._start_step = self._api.read_iterations(self.model.optimizer)

    def on_train_batch_begin(self, batch, logs=None):
        if self._i < self.num_steps:
            if hasattr(self.model, "jax_state_sync"):
                # JAX carries the optimizer's variables in its own state
                # during an epoch: write it back, so the trainer reads the
                # new LR at the next step.
                self.model.jax_state_sync()
            self._opt.learning_rate = self.lr_at(self._i)

    def on_train_batch_end(self, batch, logs=None):
        if self._i >= self.num_steps:
            self.model.stop_training = True
            return
        # Keras's batch `loss` is the epoch's running mean: recover this
        # batch's own loss from two consecutive means.
        mean = float((logs or {}).get("loss", math.nan))
        loss = (batch + 1) * mean - batch * self._previous_mean if batch else mean
        self._previous_mean = mean
        self._lrs.append(self.lr_at(self._i))
        self._losses.append(loss)
        self._avg = self.smoothing * self._avg + (1 - self.smoothing) * loss
        smoothed = self._avg / (1 - self.smoothing ** (self._i + 1))
        self._smoothed.append(smoothed)
        self._i += 1
        if not math.isfinite(smoothed) or smoothed > self.stop_factor * self._best:
            self.model.stop_training = True
        self._best = min(self._best, smoothed)
        if self._i >= self.num_steps:
            self.model.stop_training = True

    def on_epoch_begin(self, epoch, logs=None):
        self._previous_mean = 0.0

    def on_train_end(self, logs=None):
        self.model.set_weights(self._saved_weights)
        variables = self._api.optimizer_variables(self.model)
        for var, value in zip(variables, self._saved_optimizer, strict=True):
            var.assign(value)
        self._opt.learning_rate = self._saved_lr
        lrs, smoothed = np.array(self._lrs), np.array(self._smoothed)
        self.result = {
            "step": self._start_step,
            "lr": self._lrs,
            "loss": [x if math.isfinite(x) else None for x in self._losses],
            "smoothed": [x if math.isfinite(x) else None for x in self._smoothed],
            "steepest": lr_finder.steepest(lrs, smoothed),
            "valley": lr_finder.valley(lrs, smoothed),
            "min_lr": self.min_lr,
            "max_lr": self.max_lr,
            "num_steps": self.num_steps,
            "smoothing": self.smoothing,
            "time": time.time(),
        }
        if self.verbose:
            print(
                f"LearningRateFinder: {len(lrs)} steps; suggested LR: "
                f"valley {_fmt(self.result['valley'])}, "
                f"steepest {_fmt(self.result['steepest'])}"
            )
        if len(lrs) < self.num_steps // 2:
            warnings.warn(
                f"LearningRateFinder ran {len(lrs)} of {self.num_steps} steps: give fit() "
                "more batches, or a lower max_lr / higher stop_factor.",
                stacklevel=2,
            )
        if self._api.is_chief():
            writer = writer_for(self.log_dir)
            writer.add_json(
                metadata.KIND_FINDER, metadata.TAG_FINDER, [self.result], self._start_step
            )
            writer.close()


class LearningRateFinder(LearningRateFinderMixin, Callback):
    __doc__ = LearningRateFinderMixin.__doc__
    _api = opt_lib.KERAS


def _fmt(lr):
    return "n/a" if lr is None else f"{lr:.3g}"
