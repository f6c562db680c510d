"""LearningRateLogger writing to S3 with 50 ms per request, and the cost of
one upload as the run grows.

The store is moto's S3 server on 127.0.0.1 behind a proxy that delays
every request by `--latency` (tests/s3_store.py). Two figures:

- training with the logger writing `s3://...` vs training with no callback
  (interleaved repeats, median; target <= 1.05x): uploads run in their
  own thread, so the steps never wait for the store;
- upload cost per flush near epoch 1 vs near epoch 100 (bytes and time of
  one PUT): each upload is one new object holding only the records since
  the previous one, so it stays flat (target: epoch 100 within 1.5x of
  epoch 1 in bytes).
"""

import argparse
import logging
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from s3_store import S3Store  # noqa: E402


def make_training(steps_per_epoch):
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(32 * steps_per_epoch, 8)).astype("float32")
    y = rng.normal(size=(32 * steps_per_epoch, 1)).astype("float32")
    keras.utils.set_random_seed(0)
    m = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)]
    )
    m.compile(keras.optimizers.SGD(0.01), "mse")
    m.fit(x, y, batch_size=32, epochs=1, verbose=0)  # trace once

    def train(epochs, callbacks):
        start = time.perf_counter()
        m.fit(x, y, batch_size=32, epochs=epochs, verbose=0, callbacks=callbacks)
        return time.perf_counter() - start

    return train


def bench_overhead(train, args):
    from tb_lr_plugin.callbacks import LearningRateLogger

    times = {"none": [], "logger on s3://": []}
    for k in range(args.repeats):
        # Alternate which goes first, so a drift of the machine's speed
        # does not favour one side.
        order = ["none", "logger on s3://"][:: 1 if k % 2 == 0 else -1]
        for name in order:
            callbacks = [LearningRateLogger(f"s3://logs/overhead/run{k}")] if name != "none" else []
            times[name].append(train(args.epochs, callbacks))
    base = statistics.median(times["none"])
    steps = args.epochs * args.steps
    print(
        f"training, {steps} steps, {args.latency * 1e3:.0f} ms per S3 request, "
        f"median of {args.repeats}: {base / steps * 1e3:.3f} ms/step with no callback"
    )
    ratio = statistics.median(times["logger on s3://"]) / base
    print(f"  logger on s3:// vs no callback: {ratio:.3f}x")
    return ratio


def bench_upload_cost(train, args):
    from tb_lr_plugin.callbacks import LearningRateLogger

    logger = LearningRateLogger("s3://logs/growth/run", flush_secs=3600)
    # A pause per epoch lets each epoch's flush go up alone (one object
    # per flush), as with real epochs that take longer than an upload.
    pause = PauseAtEpochEnd(args.latency * 4 + 0.05)
    train(args.growth_epochs, [logger, pause.callback()])
    uploads = logger._writer.uploads
    window = max(1, min(5, len(uploads) // 4))
    first, last = uploads[1 : 1 + window], uploads[-1 - window : -1]

    def describe(part):
        size = statistics.median(b for _, b, _ in part)
        secs = statistics.median(s for _, _, s in part)
        return size, secs

    (b1, s1), (b2, s2) = describe(first), describe(last)
    print(f"upload cost per flush ({len(uploads)} uploads in {args.growth_epochs} epochs):")
    print(f"  near epoch 1:   {b1 / 1e3:7.1f} KB, {s1 * 1e3:6.1f} ms")
    print(f"  near epoch {args.growth_epochs}: {b2 / 1e3:7.1f} KB, {s2 * 1e3:6.1f} ms")
    print(f"  ratio late / early: {b2 / b1:.3f}x bytes, {s2 / s1:.3f}x time")
    return b2 / b1


class PauseAtEpochEnd:
    def __init__(self, seconds):
        self.seconds = seconds

    def callback(self):
        import keras

        seconds = self.seconds

        class _Pause(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                time.sleep(seconds)

        return _Pause()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=7)
    parser.add_argument("--steps", type=int, default=500, help="steps per epoch")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--growth-epochs", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per S3 request")
    args = parser.parse_args()

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with S3Store() as store:
        os.environ.update(store.env)
        store.proxy.delay = args.latency
        train = make_training(args.steps)
        ratio = bench_overhead(train, args)
        growth = bench_upload_cost(make_training(max(10, args.steps // 10)), args)
    ok = ratio <= 1.05 and growth <= 1.5
    print("remote targets:", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
