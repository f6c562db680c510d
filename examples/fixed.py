"""Example 1: a fixed learning rate."""

import tensorflow as tf
from common import build_model, fit, parse_args
from tb_lr_plugin.callbacks import LearningRateLogger

args = parse_args("1_fixed", epochs=20)
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
        LearningRateLogger(args.logdir),  # the one added line
    ],
)
