"""A callback given the other Keras's model: a clear error, nothing written.

`tb_lr_plugin.callbacks` serves Keras 3, `tb_lr_plugin.callbacks.tf_keras`
tf_keras (Keras 2: `import tf_keras`, or `tf.keras` under
`TF_USE_LEGACY_KERAS=1`). `fit` with the wrong one stops at once with a
`TypeError` that says what to import instead.
"""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tb_lr_plugin.callbacks as keras3_callbacks
from keras_backend import tensorflow_only

pytestmark = tensorflow_only
tf_keras = pytest.importorskip("tf_keras")
from tb_lr_plugin.callbacks import tf_keras as tf_keras_callbacks  # noqa: E402

CALLBACKS = {
    "LearningRateLogger": lambda m, d: m.LearningRateLogger(d),
    "ReduceLROnPlateau": lambda m, d: m.ReduceLROnPlateau(monitor="loss", log_dir=d),
    "LearningRateScheduler": lambda m, d: m.LearningRateScheduler(lambda e, lr: lr),
    "LearningRateFinder": lambda m, d: m.LearningRateFinder(d, num_steps=5),
}
WAYS = {
    # model's Keras, the callbacks' module, what the message must say
    "tf_keras_model-keras3_callback": (
        tf_keras,
        keras3_callbacks,
        r"Keras 3 callback.*from `tf_keras`.*`from tb_lr_plugin\.callbacks\.tf_keras import {}`",
    ),
    "keras3_model-tf_keras_callback": (
        keras,
        tf_keras_callbacks,
        r"tf_keras \(Keras 2\) callback.*from `keras`.*`from tb_lr_plugin\.callbacks import {}`",
    ),
}


@pytest.mark.parametrize("way", sorted(WAYS))
@pytest.mark.parametrize("name", sorted(CALLBACKS))
def test_fit_with_the_other_keras_callback_says_what_to_import(name, way, tmp_path):
    k, module, message = WAYS[way]
    m = k.Sequential([k.Input((4,)), k.layers.Dense(1)])
    m.compile(k.optimizers.SGD(0.1), "mse")
    with pytest.raises(TypeError, match=message.format(name)):
        m.fit(
            np.zeros((8, 4)),
            np.zeros((8, 1)),
            verbose=0,
            callbacks=[CALLBACKS[name](module, tmp_path)],
        )
    assert os.listdir(tmp_path) == []


def test_tf_keras_under_tf_use_legacy_keras_with_the_keras3_import_is_refused(tmp_path):
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
    assert "from tb_lr_plugin.callbacks.tf_keras import LearningRateLogger" in out.stdout
    assert os.listdir(tmp_path) == []
