"""Writes the pin fixture's runs beyond `make demo`: the Keras paths.

`7_keras_only`: stock `keras.callbacks.TensorBoard` and `ReduceLROnPlateau`
only. `8_keras_and_finder`: a `LearningRateFinder` run next to Keras's
`epoch_learning_rate` (the finder-only case). `9_logger_and_keras`: our
logger and Keras's callback under one `log_dir`.

Usage: `python tests/data/make_extra_runs.py LOGDIR` (a few seconds).
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import keras  # noqa: E402
from tb_lr_plugin.callbacks import LearningRateFinder, LearningRateLogger  # noqa: E402
from training import data, model  # noqa: E402


def main(logdir):
    x, y = data(n=64)
    fit = dict(batch_size=16, validation_split=0.25, shuffle=False, verbose=0)

    run = os.path.join(logdir, "7_keras_only")
    m = model(keras.optimizers.SGD(0.05))
    plateau = keras.callbacks.ReduceLROnPlateau(patience=1, factor=0.5, min_delta=1e9)
    m.fit(x, y, epochs=6, callbacks=[keras.callbacks.TensorBoard(run), plateau], **fit)

    run = os.path.join(logdir, "8_keras_and_finder")
    m = model(keras.optimizers.SGD(0.01))
    finder = LearningRateFinder(run, min_lr=1e-5, max_lr=1.0, num_steps=12, verbose=0)
    m.fit(x, y, epochs=1, callbacks=[finder], batch_size=4, verbose=0)
    m = model(keras.optimizers.SGD(0.05))
    plateau = keras.callbacks.ReduceLROnPlateau(patience=1, factor=0.5, min_delta=1e9)
    m.fit(x, y, epochs=5, callbacks=[keras.callbacks.TensorBoard(run), plateau], **fit)

    run = os.path.join(logdir, "9_logger_and_keras")
    m = model(keras.optimizers.SGD(0.05))
    plateau = keras.callbacks.ReduceLROnPlateau(patience=1, factor=0.5, min_delta=1e9)
    callbacks = [LearningRateLogger(run), keras.callbacks.TensorBoard(run), plateau]
    m.fit(x, y, epochs=5, callbacks=callbacks, **fit)


if __name__ == "__main__":
    main(sys.argv[1])
