"""Example 2: ExponentialDecay with Adam."""

import tensorflow as tf
from common import build_model, fit, parse_args
from tb_lr_plugin.callbacks import LearningRateLogger

args = parse_args("2_exponential_decay", epochs=20)
lr_schedule = tf.keras.optimizers.schedules.ExponentialDecay(
    initial_learning_rate=0.001, decay_steps=10000, decay_rate=0.9
)
model = build_model()
model.compile(
    optimizer=tf.keras.optimizers.Adam(learning_rate=lr_schedule),
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
