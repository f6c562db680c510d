"""Kept so `from tb_lr_plugin import keras_logs` goes on working.

The Keras 3 `TensorBoard` reading moved to `tb_lr_plugin.sources.keras3`,
one adapter among the sources; this re-export is for code and tests that
import the old path.
"""

from tb_lr_plugin.sources.keras3 import *  # noqa: F403
from tb_lr_plugin.sources.keras3 import (  # noqa: F401 - private names tests use
    _series,
)
