"""The Hugging Face callback in a real, tiny `Trainer` (no hub: the model
is built from a config here)."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from torch_training import f32, framework_fixture, read_run  # noqa: E402
from transformers import Trainer, TrainingArguments  # noqa: E402

from tb_lr_plugin.torch import LearningRateCallback  # noqa: E402

framework = framework_fixture("transformers", transformers.__version__)

N = 32  # examples; batch 4 -> 8 steps per epoch


class Regression(transformers.PreTrainedModel):
    config_class = transformers.PretrainedConfig

    def __init__(self, config):
        super().__init__(config)
        self.body = torch.nn.Linear(4, 8)
        self.head = torch.nn.Linear(8, 1)

    def forward(self, x=None, labels=None):
        out = self.head(torch.relu(self.body(x)))
        loss = torch.nn.functional.mse_loss(out, labels)
        return {"loss": loss, "logits": out}


class Data(torch.utils.data.Dataset):
    def __init__(self, seed):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(N, 4, generator=g)

    def __len__(self):
        return N

    def __getitem__(self, i):
        return {"x": self.x[i], "labels": self.x[i].sum(-1, keepdim=True)}


def _train(tmp_path, **kwargs):
    torch.manual_seed(0)
    args = TrainingArguments(
        str(tmp_path / "out"),
        per_device_train_batch_size=4,
        per_device_eval_batch_size=4,
        num_train_epochs=4,
        logging_steps=5,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
        learning_rate=0.05,
        **kwargs,
    )
    trainer = Trainer(
        model=Regression(transformers.PretrainedConfig()),
        args=args,
        train_dataset=Data(0),
        eval_dataset=Data(1),
        callbacks=[LearningRateCallback(str(tmp_path / "run"))],
    )
    used = []
    trainer.add_callback(_Spy(used))
    trainer.train()
    return read_run(tmp_path / "run"), np.asarray(used), trainer


class _Spy(transformers.TrainerCallback):
    """Reads the LR each optimizer step will use (before the step)."""

    def __init__(self, used):
        self.used = used

    def on_step_begin(self, args, state, control, optimizer=None, **kwargs):
        self.used.append([g["lr"] for g in optimizer.param_groups])


def test_every_optimizer_step_of_a_linear_warmup_schedule(tmp_path):
    run, used, _ = _train(tmp_path, lr_scheduler_type="linear", warmup_steps=4)
    total = 4 * N // 4
    names = sorted(run.optimizers)
    assert len(names) == 2  # the Trainer's decay / no-decay groups
    for gi, name in enumerate(names):
        rows = run.optimizers[name]
        np.testing.assert_array_equal(rows[:, 0], np.arange(1, total + 1))
        expected = [
            0.05 * min((s - 1) / 4, max(0.0, (total - (s - 1)) / (total - 4)))
            for s in range(1, total + 1)
        ]
        np.testing.assert_array_equal(f32(rows[:, 1]), f32(expected))
        np.testing.assert_array_equal(f32(rows[:, 2]), f32(used[:, gi]))
    # The Trainer logs its loss every logging_steps; those are kept.
    np.testing.assert_array_equal(run.batch["loss"][:, 0], [5, 10, 15, 20, 25, 30])
    assert run.sessions[0]["optimizers"][0]["plan"] == {"type": "LambdaLR", "method": "closed_form"}
    assert not [e for e in run.events if e["kind"] == "lr_change"]  # the schedule set each LR


def test_reduce_lr_on_plateau_decisions(tmp_path):
    run, used, trainer = _train(
        tmp_path,
        lr_scheduler_type="reduce_lr_on_plateau",
        eval_strategy="epoch",
        lr_scheduler_kwargs={"patience": 0, "factor": 0.5, "threshold": 10.0},
    )
    # threshold=10 (relative, mode min): a value must beat best * (1 - 10),
    # so nothing ever counts as an improvement and every evaluation reduces.
    reductions = [e for e in run.events if e["kind"] == "reduction"]
    assert reductions and {e["monitor"] for e in reductions} == {"eval_loss"}
    assert sorted({e["epoch"] for e in reductions}) == [0, 1, 2, 3]
    assert not [e for e in run.events if e["kind"] == "lr_change"]
    name = sorted(run.optimizers)[0]
    rows = run.optimizers[name]
    np.testing.assert_array_equal(f32(rows[:, 2]), f32(used[:, 0]))
    np.testing.assert_array_equal(rows[:, 1], 0.05)  # the plan without the plateau
    for e in reductions:
        assert e["step"] == (e["epoch"] + 1) * 8
        after = rows[rows[:, 0] == e["step"] + 1, 2]
        assert len(after) == 0 or after[0] == e["new_lr"]
    assert [p["epoch"] for p in run.plateau] == [0, 1, 2, 3]
    assert [e["epoch"] for e in run.epochs] == [0, 1, 2, 3]
    assert all("eval_loss" in e["logs"] for e in run.epochs)
    assert float(trainer.lr_scheduler.optimizer.param_groups[0]["lr"]) == pytest.approx(
        reductions[-1]["new_lr"]
    )
