"""The Lightning callback, in a real `Trainer`, against Lightning's own
`LearningRateMonitor` in the same run."""

import glob
import os

import lightning
import numpy as np
import pytest
import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import LearningRateMonitor as LightningMonitor
from lightning.pytorch.loggers import TensorBoardLogger
from tensorboard.backend.event_processing import event_accumulator
from torch_training import f32, framework_fixture, read_run

from tb_lr_plugin.torch import LearningRateMonitor

framework = framework_fixture("lightning", lightning.__version__)

STEPS_PER_EPOCH = 4


class TwoGroups(LightningModule):
    def __init__(self, patience=0):
        super().__init__()
        torch.manual_seed(0)
        self.body = torch.nn.Linear(4, 8)
        self.head = torch.nn.Linear(8, 1)
        self.patience = patience

    def forward(self, x):
        return self.head(torch.relu(self.body(x)))

    def training_step(self, batch, _):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, _):
        # A validation loss that never improves after epoch 0 makes the
        # plateau fire on schedule.
        self.log("val_loss", torch.tensor(1.0) + 0 * self(batch[0]).mean())

    def configure_optimizers(self):
        opt = torch.optim.SGD(
            [
                {"params": self.body.parameters(), "lr": 0.1, "name": "body"},
                {"params": self.head.parameters(), "lr": 0.02},
            ],
            momentum=0.9,
        )
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, factor=0.5, patience=self.patience
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": plateau, "monitor": "val_loss"}}


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(STEPS_PER_EPOCH * 8, 4, generator=g)
    ds = torch.utils.data.TensorDataset(x, x.sum(-1, keepdim=True))
    return torch.utils.data.DataLoader(ds, batch_size=8)


def _fit(tmp_path, callbacks, epochs=5, **kwargs):
    logger = TensorBoardLogger(str(tmp_path), name="lit", version=0)
    trainer = Trainer(
        max_epochs=epochs,
        logger=logger,
        callbacks=callbacks,
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        accelerator="cpu",
        devices=1,
        **kwargs,
    )
    trainer.fit(TwoGroups(), _data(), _data())
    return logger.log_dir


def _lightning_tags(log_dir):
    acc = event_accumulator.EventAccumulator(log_dir, size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    return {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}


def test_every_step_matches_lightnings_own_monitor(tmp_path):
    log_dir = _fit(
        tmp_path,
        [
            LearningRateMonitor(log_momentum=True),
            LightningMonitor(logging_interval="step", log_momentum=True),
        ],
    )
    run = read_run(tmp_path, "lit/version_0")
    theirs = _lightning_tags(log_dir)
    total = 5 * STEPS_PER_EPOCH
    for ours, tag in (("body", "lr-SGD/body"), ("pg1", "lr-SGD/pg2")):
        rows = run.optimizers[ours]
        np.testing.assert_array_equal(rows[:, 0], np.arange(1, total + 1))
        # Lightning logs before each step at the count of steps done: its
        # point at k is the LR our step k + 1 used.
        steps, values = zip(*theirs[tag], strict=True)
        np.testing.assert_array_equal(np.asarray(steps) + 1, rows[:, 0])
        np.testing.assert_array_equal(f32(values), f32(rows[:, 2]))
        np.testing.assert_array_equal(rows[:, 1], rows[0, 1])  # the plan: constant
    momentum = dict(theirs["lr-SGD/body-momentum"])
    assert run.hparams["body/momentum"][:, 1].tolist() == pytest.approx(
        [momentum[s - 1] for s in range(1, total + 1)]
    )


def test_plateau_decisions_are_recorded_with_lightnings_epochs(tmp_path):
    _fit(tmp_path, [LearningRateMonitor()])
    run = read_run(tmp_path, "lit/version_0")
    reductions = [e for e in run.events if e["kind"] == "reduction"]
    # val_loss 1.0 forever: improved at epoch 0, then patience=0 reduces
    # at every later epoch, for both groups.
    assert sorted({e["epoch"] for e in reductions}) == [1, 2, 3, 4]
    assert {e["optimizer"] for e in reductions} == {"body", "pg1"}
    assert not [e for e in run.events if e["kind"] == "lr_change"]  # the plateau explains them
    assert all(
        e["monitor"] == "val_loss" and e["step"] == (e["epoch"] + 1) * STEPS_PER_EPOCH
        for e in reductions
    )
    body = [e for e in reductions if e["optimizer"] == "body"]
    assert [e["new_lr"] for e in body] == [0.05, 0.025, 0.0125, 0.00625]
    # The new LR is the one the next epoch's steps used.
    rows = run.optimizers["body"]
    assert rows[rows[:, 0] == 2 * STEPS_PER_EPOCH + 1, 2][0] == 0.05
    assert [e["logs"]["val_loss"] for e in run.epochs] == [1.0] * 5
    assert (
        np.isfinite(run.batch["loss"][:, 1]).all() and len(run.batch["loss"]) == 5 * STEPS_PER_EPOCH
    )


def test_logging_interval_epoch_records_the_last_step_of_each_epoch(tmp_path):
    _fit(tmp_path, [LearningRateMonitor(logging_interval="epoch")], epochs=3)
    rows = read_run(tmp_path, "lit/version_0").optimizers["body"]
    np.testing.assert_array_equal(rows[:, 0], [4, 8, 12])
    np.testing.assert_array_equal(
        f32(rows[:, 2]), f32([0.1, 0.1, 0.05])
    )  # reduced after epochs 1 and 2


def test_it_writes_into_the_tensorboard_loggers_directory(tmp_path):
    log_dir = _fit(tmp_path, [LearningRateMonitor()], epochs=1)
    assert glob.glob(os.path.join(log_dir, "*.lr"))
