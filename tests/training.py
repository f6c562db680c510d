"""Small real trainings and a direct event-file reader shared by the tests."""

import glob
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from tensorboard.backend.event_processing import event_file_loader  # noqa: E402

from tb_lr_plugin import metadata, run_data  # noqa: E402


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


def read_run(logdir):
    """Reads the records of one run directory into a `RunData`.

    Straight from the event files (no TensorBoard sampling), so tests of the
    writer see exactly what was written.
    """
    records, metas = [], {}
    for path in sorted(glob.glob(os.path.join(logdir, "*tfevents*"))):
        for event in event_file_loader.EventFileLoader(path).Load():
            for value in event.summary.value:
                if value.HasField("metadata") and value.metadata.plugin_data.plugin_name:
                    if value.metadata.plugin_data.plugin_name != metadata.PLUGIN_NAME:
                        continue
                    metas[(path, value.tag)] = metadata.parse_plugin_metadata(
                        value.metadata.plugin_data.content
                    )
                meta = metas.get((path, value.tag))
                if meta:
                    records.append((value.tag, meta, event.wall_time, event.step, value.tensor))
    return run_data.assemble(records)
