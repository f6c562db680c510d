"""`LearningRateCallback`: every optimizer step of a Hugging Face `Trainer`."""

import os
import socket
import time

import torch
from torch.optim import lr_scheduler as sched_lib
from transformers import TrainerCallback

from tb_lr_plugin.torch.logger import LearningRateLogger


class LearningRateCallback(TrainerCallback):
    """Records the planned and actual LR of every optimizer step of a `Trainer`.

    The Trainer logs its LR only every `logging_steps`; this records each
    step, per parameter group, with momentum/betas and weight decay, the
    logged losses and evaluation metrics, and, with
    `lr_scheduler_type="reduce_lr_on_plateau"`, every decision of the
    `ReduceLROnPlateau` the Trainer steps after each evaluation (its
    `epoch` is then the evaluation's index). Only the main process writes.

    Example:

    ```python
    from transformers import Trainer, TrainingArguments
    from tb_lr_plugin.torch import LearningRateCallback

    args = TrainingArguments("out", lr_scheduler_type="cosine", warmup_steps=100)
    trainer = Trainer(model, args, train_dataset=train,
                      callbacks=[LearningRateCallback("out/runs/lr")])
    trainer.train()
    ```

    Args:
      log_dir: the TensorBoard run directory. Default: the
        `TENSORBOARD_LOGGING_DIR` environment variable, else
        `<output_dir>/runs/<time>_<host>/lr`.
      log_momentum: record momentum or Adam's betas per group.
      log_weight_decay: record weight decay per group.
      flush_secs: longest time records stay in memory.
    """

    def __init__(self, log_dir=None, log_momentum=True, log_weight_decay=True, flush_secs=5.0):
        self.log_dir = log_dir
        self.log_momentum = log_momentum
        self.log_weight_decay = log_weight_decay
        self.flush_secs = flush_secs
        self.logger = None

    def on_train_begin(self, args, state, control, optimizer=None, lr_scheduler=None, **kwargs):
        if not state.is_world_process_zero or optimizer is None:
            return
        optimizer = _unwrap(optimizer, "optimizer", torch.optim.Optimizer)
        scheduler = _unwrap(lr_scheduler, "scheduler", sched_lib.LRScheduler)
        self.logger = LearningRateLogger(
            self.log_dir or _default_dir(args),
            optimizer,
            scheduler,
            monitor=_monitor(args),
            log_momentum=self.log_momentum,
            log_weight_decay=self.log_weight_decay,
            flush_secs=self.flush_secs,
            start_step=state.global_step,
        )

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.logger is not None and logs and "loss" in logs:
            self.logger.log_loss(logs["loss"], step=state.global_step)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        # Before the Trainer steps a ReduceLROnPlateau with these metrics.
        if self.logger is None or not metrics:
            return
        plateaus = self.logger.plateaus
        epoch = int(plateaus[0].scheduler.last_epoch) if plateaus else _epoch(state)
        self.logger.log_epoch(metrics, epoch, step=state.global_step)

    def on_train_end(self, args, state, control, **kwargs):
        if self.logger is not None:
            self.logger.close()


def _unwrap(obj, attr, cls):
    """accelerate wraps the optimizer and the scheduler: the torch object
    is inside."""
    while obj is not None and not isinstance(obj, cls) and hasattr(obj, attr):
        obj = getattr(obj, attr)
    inner = getattr(obj, attr, None)
    if isinstance(inner, cls):
        return inner
    return obj


def _monitor(args):
    metric = getattr(args, "metric_for_best_model", None) or "loss"
    return metric if metric.startswith("eval_") else f"eval_{metric}"


def _epoch(state):
    return max(int(-(-float(state.epoch or 0) // 1)) - 1, 0)


def _default_dir(args):
    env = os.getenv("TENSORBOARD_LOGGING_DIR")
    if env:
        return os.path.expanduser(env)
    stamp = time.strftime("%b%d_%H-%M-%S")
    return os.path.join(args.output_dir, "runs", f"{stamp}_{socket.gethostname()}", "lr")
