"""PyTorch: planned vs actual LR and `ReduceLROnPlateau` decisions.

- `LearningRateLogger(log_dir, optimizer, scheduler=None, ...)` for a plain
  training loop (`tb_lr_plugin.torch.logger`);
- `LearningRateMonitor(...)`, a Lightning callback replacing Lightning's own
  (`tb_lr_plugin.torch.lightning`, needs `lightning`);
- `LearningRateCallback(...)`, a Hugging Face `TrainerCallback`
  (`tb_lr_plugin.torch.huggingface`, needs `transformers`).

Importing this package imports torch, never TensorFlow or Keras; Lightning
and transformers are imported only when their entry point is used.
"""

from tb_lr_plugin.torch.logger import LearningRateLogger

__all__ = ["LearningRateLogger", "LearningRateMonitor", "LearningRateCallback"]

_LAZY = {
    "LearningRateMonitor": "tb_lr_plugin.torch.lightning",
    "LearningRateCallback": "tb_lr_plugin.torch.huggingface",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
