"""tb-lr-plugin: the Learning Rate tab for TensorBoard.

Importing this package imports neither TensorFlow nor Keras; the Keras
callbacks live in `tb_lr_plugin.callbacks`.
"""

__version__ = "0.1.0"
