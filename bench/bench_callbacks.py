"""Overhead of LearningRateLogger on training, and the writer's throughput.

Prints ratios against training with no callback, measured in this run
(interleaved repeats, median), so a noisy machine slows both sides alike.

Targets (issue 3): logger at per-step resolution <= 1.05x, and below
`keras.callbacks.TensorBoard(update_freq=1)`; writer >= 200,000 rows/s.
Run with `KERAS_BACKEND=jax` or `torch` to measure those backends (Keras's
TensorBoard callback needs TensorFlow, so it is compared under TensorFlow),
with the floor Keras's venv (`.venv-keras-3.5.0/bin/python
bench/bench_callbacks.py`, after `make test-backends`) to measure that release,
and with `--tf-keras` to measure `tb_lr_plugin.callbacks.tf_keras` on tf_keras
(Keras 2).
"""

import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

if "--tf-keras" in sys.argv[1:]:
    import tf_keras as keras
    from tb_lr_plugin.callbacks.tf_keras import LearningRateLogger
else:
    import keras
    from tb_lr_plugin.callbacks import LearningRateLogger

from tb_lr_plugin import metadata  # noqa: E402
from tb_lr_plugin.event_writer import EventWriter  # noqa: E402

STEPS_PER_EPOCH = 500
EPOCHS = 7  # 3,500 steps per training
REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))
TB = "keras TensorBoard(update_freq=1)"


def make_training():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32 * STEPS_PER_EPOCH, 8)).astype("float32")
    y = rng.normal(size=(32 * STEPS_PER_EPOCH, 1)).astype("float32")
    keras.utils.set_random_seed(0)
    m = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)]
    )
    schedule = keras.optimizers.schedules.ExponentialDecay(0.01, 1000, 0.9)
    m.compile(keras.optimizers.SGD(schedule), "mse")
    m.fit(x, y, batch_size=32, epochs=1, verbose=0)  # trace once

    def train(callbacks):
        start = time.perf_counter()
        m.fit(x, y, batch_size=32, epochs=EPOCHS, verbose=0, callbacks=callbacks)
        return time.perf_counter() - start

    return train


def bench_training():
    train = make_training()
    tmp = tempfile.mkdtemp()
    variants = {
        "none": lambda: [],
        "LearningRateLogger": lambda: [LearningRateLogger(os.path.join(tmp, "lr"))],
    }
    if keras.backend.backend() == "tensorflow":
        variants[TB] = lambda: [keras.callbacks.TensorBoard(os.path.join(tmp, "tb"), update_freq=1)]
    times = {name: [] for name in variants}
    for i in range(REPEATS):
        # Alternating order: a variant is not always the one after another's run.
        for name in list(variants) if i % 2 == 0 else list(variants)[::-1]:
            times[name].append(train(variants[name]()))
    base = statistics.median(times["none"])
    print(
        f"training on {keras.__name__} {keras.__version__} with {keras.backend.backend()}, "
        f"{STEPS_PER_EPOCH * EPOCHS} steps, "
        f"median of {REPEATS}: "
        f"{base / (STEPS_PER_EPOCH * EPOCHS) * 1e3:.3f} ms/step with no callback"
    )
    ratios = {}
    for name in variants:
        ratios[name] = statistics.median(times[name]) / base
        print(f"  {name:34s} {ratios[name]:.3f}x")
    return ratios


def bench_writer(rows=1_000_000, chunk=5_000):
    tmp = tempfile.mkdtemp()
    writer = EventWriter(tmp)
    steps = np.arange(1, rows + 1, dtype=np.float64)
    table = np.stack([steps, np.full(rows, 1e-3), np.full(rows, 1e-3)], axis=1)
    start = time.perf_counter()
    for i in range(0, rows, chunk):
        writer.add_array(metadata.KIND_LR, "lr/sgd", table[i : i + chunk], optimizer="sgd")
        writer.flush()
    writer.close()
    rate = rows / (time.perf_counter() - start)
    print(f"writer: {rate:,.0f} rows/s (step, planned, actual), chunks of {chunk}")
    return rate


def main():
    ratios = bench_training()
    ok = ratios["LearningRateLogger"] <= 1.05
    if TB in ratios:
        ok = ok and ratios["LearningRateLogger"] < ratios[TB]
        ok = ok and bench_writer() >= 200_000
    print("callbacks targets:", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
