"""Keras 3 callbacks that record learning rates for the Learning Rate tab.

For tf_keras (Keras 2) models, the same classes are in
`tb_lr_plugin.callbacks.tf_keras`.

Example:

```python
from tb_lr_plugin.callbacks import LearningRateLogger, ReduceLROnPlateau

model.fit(x, y, validation_split=0.2, epochs=50, callbacks=[
    ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=3),
    LearningRateLogger("logs/run1"),
])
```
"""

from tb_lr_plugin.callbacks.learning_rate_finder import LearningRateFinder
from tb_lr_plugin.callbacks.learning_rate_logger import LearningRateLogger
from tb_lr_plugin.callbacks.learning_rate_scheduler import LearningRateScheduler
from tb_lr_plugin.callbacks.plateau_scheduled import PlateauScheduled
from tb_lr_plugin.callbacks.reduce_lr_on_plateau import ReduceLROnPlateau

__all__ = [
    "LearningRateFinder",
    "LearningRateLogger",
    "LearningRateScheduler",
    "PlateauScheduled",
    "ReduceLROnPlateau",
]
