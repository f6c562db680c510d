"""What the six examples share: the data, the model, and the command line.

The data is scikit-learn's bundled `load_digits` (8x8 images of digits, no
download). The model is a small MLP; each example changes only its
optimizer or callbacks, as the tutorial does.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402


def parse_args(name, epochs):
    """Parses `--logdir` (default `logs/examples/<name>`) and `--epochs`."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--logdir", default=os.path.join("logs", "examples", name))
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--verbose", type=int, default=0)
    return parser.parse_args()


def digits():
    """The digits, scaled to [0, 1], in a fixed shuffled order."""
    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(x))
    return (x[order] / 16.0).astype("float32"), y[order]


def build_model():
    """A small MLP classifier with fixed initial weights."""
    tf.keras.utils.set_random_seed(0)
    return tf.keras.Sequential(
        [
            tf.keras.Input((64,)),
            tf.keras.layers.Dense(64, activation="relu"),
            tf.keras.layers.Dense(10, activation="softmax"),
        ]
    )


def fit(model, args, callbacks):
    """Trains with a validation split, as the tutorial does."""
    x, y = digits()
    return model.fit(
        x,
        y,
        batch_size=32,
        epochs=args.epochs,
        validation_split=0.2,
        verbose=args.verbose,
        callbacks=callbacks,
    )
