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


def check_reductions_match_printed(run, printed, steps_per_epoch):
    """The recorded reductions are the ones Keras printed (`verbose=1`), at
    the end of their epoch, and no change is also listed as `lr_change`.

    Args:
      run: the `read_run` of the logdir.
      printed: `[(epoch, new_lr)]` as strings, from Keras's verbose lines.
      steps_per_epoch: the batches of each epoch.

    Returns:
      The reduction events.
    """
    reductions = [e for e in run.events if e["kind"] == "reduction"]
    assert [e["epoch"] + 1 for e in reductions] == [int(p[0]) for p in printed]
    np.testing.assert_allclose(
        [e["new_lr"] for e in reductions], [float(p[1]) for p in printed], rtol=1e-6
    )
    # Steps: the updates done at the end of that epoch.
    expected = [steps_per_epoch * (e["epoch"] + 1) for e in reductions]
    assert [e["step"] for e in reductions] == expected
    # Explained by a reduction event, the change is not repeated as lr_change.
    assert not [e for e in run.events if e["kind"] == "lr_change"]
    return reductions
