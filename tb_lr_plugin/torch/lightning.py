"""`LearningRateMonitor` for Lightning: Lightning's, plus the plan and every
`ReduceLROnPlateau` decision."""

import os

import torch
from torch.optim import lr_scheduler as sched_lib

from tb_lr_plugin.torch.logger import LearningRateLogger

try:
    from lightning.pytorch.callbacks import Callback
except ImportError:  # the standalone package
    from pytorch_lightning.callbacks import Callback


class LearningRateMonitor(Callback):
    """Replaces `lightning.pytorch.callbacks.LearningRateMonitor`.

    The same options, and more: every optimizer step's planned and actual
    LR per parameter group (the group's `name`, else `pg0`, `pg1`, ...),
    the training loss, the epoch metrics, and, for a scheduler config using
    `ReduceLROnPlateau` with a `monitor`, each of its decisions. It writes
    into the `TensorBoardLogger`'s directory (`trainer.log_dir` otherwise),
    on global rank 0 only, and needs no logger to work.

    Example:

    ```python
    import lightning as L
    from tb_lr_plugin.torch import LearningRateMonitor

    trainer = L.Trainer(max_epochs=20, callbacks=[LearningRateMonitor(log_momentum=True)])
    trainer.fit(model)   # configure_optimizers may return ReduceLROnPlateau + "monitor"
    ```

    Args:
      logging_interval: `None` or `"step"` record every optimizer step;
        `"epoch"` records the last step of each epoch.
      log_momentum: record momentum (or Adam's betas) per group.
      log_weight_decay: record weight decay per group.
      log_dir: where to write instead of the logger's directory.
      flush_secs: longest time records stay in memory.
    """

    def __init__(
        self,
        logging_interval=None,
        log_momentum=False,
        log_weight_decay=False,
        log_dir=None,
        flush_secs=5.0,
    ):
        if logging_interval not in (None, "step", "epoch"):
            raise ValueError("logging_interval should be `step` or `epoch` or `None`.")
        self.logging_interval = logging_interval
        self.log_momentum = log_momentum
        self.log_weight_decay = log_weight_decay
        self.log_dir = log_dir
        self.flush_secs = flush_secs
        self.logger = None

    def on_train_start(self, trainer, pl_module):
        if not trainer.is_global_zero or not trainer.optimizers:
            return
        configs = list(trainer.lr_scheduler_configs or [])
        self.logger = LearningRateLogger(
            self.log_dir or _log_dir(trainer),
            list(trainer.optimizers),
            [
                c.scheduler
                for c in configs
                if not isinstance(c.scheduler, sched_lib.ReduceLROnPlateau)
            ],
            log_momentum=self.log_momentum,
            log_weight_decay=self.log_weight_decay,
            flush_secs=self.flush_secs,
            start_step=trainer.global_step,
        )
        self.logger.last_only = self.logging_interval == "epoch"
        for c in configs:
            if isinstance(c.scheduler, sched_lib.ReduceLROnPlateau) and c.monitor:
                self.logger.watch_plateau(
                    c.scheduler, c.monitor, epoch=lambda: trainer.current_epoch, write_epochs=False
                )

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.logger is None:
            return
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if isinstance(loss, torch.Tensor):
            self.logger.log_loss(loss, step=self.logger.steps)

    def on_train_epoch_end(self, trainer, pl_module):
        # Before Lightning steps the epoch schedulers (ReduceLROnPlateau
        # among them), after validation: the metrics it will see.
        if self.logger is None:
            return
        self.logger.log_epoch(trainer.callback_metrics, trainer.current_epoch)
        self.logger.flush()

    def on_train_end(self, trainer, pl_module):
        if self.logger is not None:
            self.logger.close()

    def on_exception(self, trainer, pl_module, exception):
        self.on_train_end(trainer, pl_module)


def _log_dir(trainer):
    logger = trainer.logger
    for attr in ("log_dir", "save_dir"):
        path = getattr(logger, attr, None) if logger is not None else None
        if isinstance(path, (str, os.PathLike)):
            return path
    return trainer.log_dir or trainer.default_root_dir
