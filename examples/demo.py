"""The demo behind `make demo`: short trainings that write real logs.

Three runs on a synthetic regression task, each a few seconds on a CPU:
- `cosine_warmup`: a CosineDecay schedule with linear warmup;
- `plateau`: a constant LR cut by ReduceLROnPlateau (several reductions,
  cooldowns, and the min_lr floor);
- `keras_stock`: Keras's own ReduceLROnPlateau and TensorBoard callbacks
  next to the logger, the way existing code looks.

Usage:
  python examples/demo.py --logdir logs/demo
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from tb_lr_plugin.callbacks import LearningRateLogger, ReduceLROnPlateau  # noqa: E402


def make_data(n=2048, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 16)).astype("float32")
    w = rng.normal(size=(16, 1))
    y = np.tanh(x @ w) + 0.3 * rng.normal(size=(n, 1))
    return x, y.astype("float32")


def make_model(optimizer, seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((16,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer=optimizer, loss="mse")
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", default="logs/demo")
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args(argv)
    x, y = make_data()
    fit = dict(x=x, y=y, batch_size=32, epochs=args.epochs, validation_split=0.25, verbose=0)

    print("cosine_warmup: CosineDecay with 200 warmup steps")
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=48 * args.epochs, alpha=0.05, warmup_target=0.01, warmup_steps=200
    )
    make_model(keras.optimizers.Adam(schedule)).fit(
        **fit, callbacks=[LearningRateLogger(os.path.join(args.logdir, "cosine_warmup"))]
    )

    print("plateau: ReduceLROnPlateau(factor=0.5, patience=3, cooldown=2, min_lr=1e-4)")
    make_model(keras.optimizers.Adam(0.005)).fit(
        **fit,
        callbacks=[
            ReduceLROnPlateau(factor=0.5, patience=3, cooldown=2, min_lr=1e-4, verbose=1),
            LearningRateLogger(os.path.join(args.logdir, "plateau")),
        ],
    )

    print("keras_stock: keras.callbacks.ReduceLROnPlateau + keras.callbacks.TensorBoard")
    run = os.path.join(args.logdir, "keras_stock")
    make_model(keras.optimizers.SGD(0.05, momentum=0.9)).fit(
        **fit,
        callbacks=[
            keras.callbacks.ReduceLROnPlateau(factor=0.3, patience=2, verbose=1),
            keras.callbacks.TensorBoard(run),
            LearningRateLogger(run),
        ],
    )
    print(f"Logs written to {args.logdir}")


if __name__ == "__main__":
    main()
