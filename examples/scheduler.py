"""Example 5: LearningRateScheduler with the tutorial's function, verbatim.

Stock Keras 3 rejects this function (it returns a tensor); the drop-in
`tb_lr_plugin.callbacks.LearningRateScheduler` accepts it and records its plan.
"""

import tensorflow as tf
from common import build_model, fit, parse_args
from tb_lr_plugin.callbacks import LearningRateLogger, LearningRateScheduler

args = parse_args("5_scheduler", epochs=20)


def scheduler(epoch, lr):
    if epoch < 10:
        return lr
    else:
        return lr * tf.math.exp(-0.1)


model = build_model()
model.compile(
    optimizer=tf.keras.optimizers.Adam(learning_rate=0.001),
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
)
fit(
    model,
    args,
    callbacks=[
        LearningRateScheduler(scheduler, verbose=args.verbose),
        LearningRateLogger(args.logdir),  # the one added line
    ],
)
