"""Small real trainings and a direct event-file reader shared by the tests."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from event_reader import read_run  # noqa: E402, F401 - shared with the torch tests


def data(n=64, seed=0, noise=0.5):
    """A small regression problem whose validation loss plateaus."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5], [0.0]]) + noise * rng.normal(size=(n, 1))
    return x, y.astype("float32")


def model(optimizer, seed=0, k=keras):
    """A tiny Dense model, compiled, with fixed initial weights (`k`: the
    Keras module, `keras` or `tf_keras`)."""
    k.utils.set_random_seed(seed)
    m = k.Sequential([k.Input((4,)), k.layers.Dense(8, activation="relu"), k.layers.Dense(1)])
    m.compile(optimizer=optimizer, loss="mse")
    return m
