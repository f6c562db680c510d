"""Example 4: CosineDecay with linear warmup."""

import tensorflow as tf
from common import build_model, fit, parse_args
from tb_lr_plugin.callbacks import LearningRateLogger

args = parse_args("4_cosine_decay", epochs=20)
initial_learning_rate = 0.0
decay_steps = 900
lr_schedule = tf.keras.optimizers.schedules.CosineDecay(
    initial_learning_rate, decay_steps, alpha=0.0, warmup_target=0.01, warmup_steps=100
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
