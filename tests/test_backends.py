"""The callbacks and the writer run under Keras's JAX and torch backends
without importing TensorFlow, although it is installed in this venv."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from training import read_run

TRAINING = """
import json, sys
import numpy as np
import keras
from tb_lr_plugin.callbacks import (
    LearningRateLogger, PlateauScheduled, ReduceLROnPlateau)

rng = np.random.default_rng(0)
x = rng.normal(size=(64, 4)).astype("float32")
y = (x.sum(axis=1, keepdims=True) + 2 * rng.normal(size=(64, 1))).astype("float32")
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                          keras.layers.Dense(1)])
base = keras.optimizers.schedules.CosineDecay(0.0, 100, warmup_target=0.05, warmup_steps=12)
model.compile(keras.optimizers.SGD(PlateauScheduled(base)), "mse")
model.fit(x, y, batch_size=8, epochs=8, validation_split=0.25, verbose=0, callbacks=[
    ReduceLROnPlateau(factor=0.5, patience=1, min_delta=10.0, verbose=1),
    LearningRateLogger(sys.argv[1]),
])
print(json.dumps({"backend": keras.backend.backend(),
                  "tensorflow": sorted(m for m in sys.modules if m.startswith("tensorflow"))}))
"""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_no_tensorflow_under_other_backends(tmp_path, backend):
    env = dict(os.environ, KERAS_BACKEND=backend)
    proc = subprocess.run(
        [sys.executable, "-c", TRAINING, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report == {"backend": backend, "tensorflow": []}
    run = read_run(tmp_path)
    rows = run.optimizers["sgd"]
    np.testing.assert_array_equal(rows[:, 0], np.arange(1, 49))
    reductions = [e for e in run.events if e["kind"] == "reduction"]
    assert len(reductions) >= 2
    assert proc.stdout.count("ReduceLROnPlateau reducing learning rate") == len(reductions)
    # Actual = plan x the factor in force; every reduction halves it.
    factor = np.ones(len(rows))
    for e in reductions:
        factor[rows[:, 0] > e["step"]] *= 0.5
    np.testing.assert_allclose(rows[:, 2], rows[:, 1] * factor, rtol=1e-5, atol=1e-9)
