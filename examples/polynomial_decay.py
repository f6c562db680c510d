"""Example 3: PolynomialDecay with SGD."""

import tensorflow as tf
from common import build_model, fit, parse_args
from tb_lr_plugin.callbacks import LearningRateLogger

args = parse_args("3_polynomial_decay", epochs=20)
lr_schedule = tf.keras.optimizers.schedules.PolynomialDecay(0.1, 10000, 0.01, power=0.5)
model = build_model()
model.compile(
    optimizer=tf.keras.optimizers.SGD(learning_rate=lr_schedule),
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
