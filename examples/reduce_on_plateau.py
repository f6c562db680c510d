"""Example 6: ReduceLROnPlateau, the tutorial's settings."""

import tensorflow as tf
from common import build_model, fit, parse_args
from tb_lr_plugin.callbacks import LearningRateLogger

args = parse_args("6_reduce_on_plateau", epochs=60)
model = build_model()
model.compile(
    optimizer=tf.keras.optimizers.Adam(learning_rate=0.01),
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
)
reduce_lr = tf.keras.callbacks.ReduceLROnPlateau(
    monitor="val_loss", factor=0.1, patience=10, verbose=args.verbose
)
fit(
    model,
    args,
    callbacks=[
        reduce_lr,
        LearningRateLogger(args.logdir),  # the one added line
    ],
)
