"""Torch runs for the audit and tab tests: a plateau that never helps."""

import torch
from torch_training import batches, groups, train_step, two_group_model

from tb_lr_plugin.torch import LearningRateLogger

STEPS_PER_EPOCH = 3
# Improves for three epochs, then flat: every reduction after is useless.
VAL_LOSS = [1.0, 0.8, 0.7] + [0.7] * 17


def ineffective_plateau(log_dir):
    """Trains 20 epochs with a `ReduceLROnPlateau(patience=2)` whose
    reductions never improve `val_loss`."""
    model = two_group_model()
    opt = torch.optim.SGD(groups(model, names=("body", "head")), lr=0.1)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=2)
    x, y = batches(len(VAL_LOSS) * STEPS_PER_EPOCH)
    with LearningRateLogger(log_dir, opt, plateau) as lg:
        for epoch, value in enumerate(VAL_LOSS):
            for k in range(STEPS_PER_EPOCH):
                i = epoch * STEPS_PER_EPOCH + k
                lg.log_loss(train_step(model, opt, x[i], y[i]))
            plateau.step(value)


def one_cycle(log_dir, steps=60):
    """A `OneCycleLR` training (no plateau)."""
    model = two_group_model()
    opt = torch.optim.SGD(groups(model), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[0.5, 0.1], total_steps=steps)
    x, y = batches(steps)
    with LearningRateLogger(log_dir, opt, sched) as lg:
        for i in range(steps):
            lg.log_loss(train_step(model, opt, x[i], y[i]))
            sched.step()
