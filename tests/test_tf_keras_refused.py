"""A tf_keras (Keras 2) model given to these Keras 3 callbacks: a clear error.

tf_keras models come from `import tf_keras`, or from `tf.keras` under
`TF_USE_LEGACY_KERAS=1`. The callbacks do not serve them; `fit` must stop at
once with a message saying what to use, and write nothing.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from keras_backend import tensorflow_only
from tb_lr_plugin.callbacks import (
    LearningRateFinder,
    LearningRateLogger,
    LearningRateScheduler,
    ReduceLROnPlateau,
)

pytestmark = tensorflow_only
tf_keras = pytest.importorskip("tf_keras")

CALLBACKS = {
    "LearningRateLogger": lambda d: LearningRateLogger(d),
    "ReduceLROnPlateau": lambda d: ReduceLROnPlateau(monitor="loss", log_dir=d),
    "LearningRateScheduler": lambda d: LearningRateScheduler(lambda e, lr: lr),
    "LearningRateFinder": lambda d: LearningRateFinder(d, num_steps=5),
}


@pytest.mark.parametrize("name", sorted(CALLBACKS))
def test_fit_of_a_tf_keras_model_refuses_the_callback(name, tmp_path):
    m = tf_keras.Sequential([tf_keras.layers.Dense(1, input_shape=(4,))])
    m.compile(tf_keras.optimizers.SGD(0.1), "mse")
    with pytest.raises(TypeError, match=r"Keras 3 callback.*from `tf_keras`.*import keras"):
        m.fit(np.zeros((8, 4)), np.zeros((8, 1)), verbose=0, callbacks=[CALLBACKS[name](tmp_path)])
    assert os.listdir(tmp_path) == []


def test_tf_keras_under_tf_use_legacy_keras_is_refused_too(tmp_path):
    script = (
        "import numpy as np, tensorflow as tf\n"
        "from tb_lr_plugin.callbacks import LearningRateLogger\n"
        "m = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=(4,))])\n"
        "m.compile('sgd', 'mse')\n"
        "try:\n"
        f"    m.fit(np.zeros((8, 4)), np.zeros((8, 1)), verbose=0,"
        f" callbacks=[LearningRateLogger({str(tmp_path)!r})])\n"
        "except TypeError as e:\n"
        "    print(e)\n"
    )
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert "from `tf_keras`" in out.stdout, out.stderr
    assert os.listdir(tmp_path) == []
