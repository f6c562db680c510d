"""Real logdirs written by other frameworks' own TensorBoard writers.

Each writer trains a tiny model for a few seconds on synthetic data (no
downloads) with the real library and its stock logging, and returns what
the library itself said happened (the LR every update used, read from the
optimizer), so the tests compare our readers against the truth, not
against our own reading of the files.

Run as a script, in its own process (the libraries set global state such
as thread counts, seeds and logging that must not leak into the test run):

    python tests/framework_logs.py FRAMEWORK LOGDIR TRUTH.json

What each framework writes (measured; the adapters in
`tb_lr_plugin/sources/` and the README's "Sources" table rely on it):

- tf_keras 2.21 `TensorBoard`: `train/epoch_lr` at `step=epoch` (0-based)
  only when `ReduceLROnPlateau` or `LearningRateScheduler` put `logs["lr"]`
  before `TensorBoard` runs (listed after them, nothing is logged); the
  value is the LR the epoch trained with (`ReduceLROnPlateau` writes it
  before reducing). With a `LearningRateSchedule`, `train/epoch_learning_
  rate` = the schedule at `optimizer.iterations` after the epoch.
  `batch_<metric>` at `step=` the 1-based update count only when
  `update_freq` is not `"epoch"` AND `write_steps_per_second=True` (or a
  profile is traced): tf_keras 2.21 skips its batch hooks otherwise.
  `validation/epoch_<metric>` and `validation/evaluation_<m>_vs_iterations`
  as in Keras 3.
- Lightning 2.6.6 `TensorBoardLogger` + `LearningRateMonitor`: one run per
  `<save_dir>/lightning_logs/version_N`, all scalars in one file. Tags
  `lr-<Optimizer>` for one parameter group, `lr-<Optimizer>/pg1`,
  `/pg2`, ... (1-based) for several; `-momentum` (SGD's momentum, Adam's
  `betas[0]`) and `-weight_decay` suffixes with `log_momentum` /
  `log_weight_decay`. Steps are `trainer.global_step` (updates done, so
  the LR at step `k` is the one update `k + 1` uses); the loss logged in
  `training_step` is at the update's 0-based index too; `epoch` (0-based)
  is logged with every `log_metrics` call, and `val_loss` at the last
  update's 0-based index of its epoch.
- transformers 5.24 `Trainer(report_to="tensorboard")`: one run per
  `TENSORBOARD_LOGGING_DIR` (default `<output_dir>/runs/<date>_<host>`).
  `train/learning_rate`, `train/loss`, `train/grad_norm` and
  `train/epoch` (fractional: updates done / updates per epoch) at
  `step=global_step` (1-based: the LR update `s` used); `eval/loss` at the
  step of the evaluation.
- torch `SummaryWriter`: whatever the script names; steps as it passes.
"""

import json
import os
import sys

FRAMEWORKS = ("tf_keras", "lightning", "transformers", "summary_writer")


def _noise(n, seed):
    """Inputs and targets with nothing to learn: validation loss plateaus."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 4)).astype("float32"), rng.normal(size=(n, 1)).astype("float32")


def write_tf_keras(logdir):
    """Keras 2 (`tf_keras`) runs: a plateau schedule, a scheduler, a schedule.

    Returns:
      `{"version": ..., "runs": {run: {"epoch_lr": [LR each epoch trained
      with], "steps_per_epoch": n}}}`.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tf_keras as keras

    x, y = _noise(64, 0)

    def fit(name, optimizer, callbacks, validation):
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((4,)),
                keras.layers.Dense(32, activation="relu"),
                keras.layers.Dense(1),
            ]
        )
        model.compile(optimizer=optimizer, loss="mse")
        lrs = []
        seen = keras.callbacks.LambdaCallback(
            on_epoch_begin=lambda e, logs: lrs.append(
                float(keras.backend.get_value(model.optimizer.learning_rate))
            )
        )
        board = keras.callbacks.TensorBoard(
            os.path.join(logdir, name), update_freq=1, write_steps_per_second=True
        )
        model.fit(
            x,
            y,
            validation_split=0.25 if validation else 0.0,
            epochs=8,
            batch_size=16,
            verbose=0,
            callbacks=[*callbacks, seen, board],  # after a scheduler's on_epoch_begin
        )
        return {"epoch_lr": lrs, "steps_per_epoch": (48 if validation else 64) // 16}

    runs = {
        "plateau": fit(
            "plateau",
            keras.optimizers.Adam(0.05),
            [keras.callbacks.ReduceLROnPlateau(patience=1, factor=0.5, cooldown=1)],
            True,
        ),
        "scheduler": fit(
            "scheduler",
            keras.optimizers.SGD(0.05),
            [keras.callbacks.LearningRateScheduler(lambda e, lr: lr * 0.5 if e == 3 else lr)],
            False,
        ),
    }
    return {"version": keras.__version__, "runs": runs}


def write_lightning(logdir):
    """Lightning runs: Adam with two parameter groups logged per step, and
    SGD with momentum and weight decay logged per epoch, both under
    `torch.optim.lr_scheduler.ReduceLROnPlateau` on `val_loss`.

    Returns:
      `{"version": ..., "runs": {run: {"groups": {series: [LR per update]},
      "steps_per_epoch": n}}}`; series are named as `LearningRateMonitor`
      names them.
    """
    import lightning as L
    import torch
    from lightning.pytorch.callbacks import Callback, LearningRateMonitor
    from lightning.pytorch.loggers import TensorBoardLogger

    x, y = (torch.from_numpy(a) for a in _noise(64, 0))

    class Net(L.LightningModule):
        def __init__(self, kind):
            super().__init__()
            self.a, self.b, self.kind = torch.nn.Linear(4, 32), torch.nn.Linear(32, 1), kind

        def forward(self, inputs):
            return self.b(torch.relu(self.a(inputs)))

        def training_step(self, batch, _):
            loss = torch.nn.functional.mse_loss(self(batch[0]), batch[1])
            self.log("train_loss", loss)
            return loss

        def validation_step(self, batch, _):
            self.log("val_loss", torch.nn.functional.mse_loss(self(batch[0]), batch[1]))

        def configure_optimizers(self):
            if self.kind == "adam":
                groups = [{"params": self.a.parameters()}, {"params": self.b.parameters()}]
                groups[1]["lr"] = 0.02
                opt = torch.optim.Adam(groups, lr=0.05)
            else:
                opt = torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
            plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=1, factor=0.5)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": plateau, "monitor": "val_loss"}}

    class Seen(Callback):
        def __init__(self, names):
            self.names, self.lrs = names, {n: [] for n in names}

        def on_train_batch_start(self, trainer, *_):
            groups = trainer.optimizers[0].param_groups
            for name, group in zip(self.names, groups, strict=True):
                self.lrs[name].append(float(group["lr"]))

    def loader(a, b):
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(a, b), batch_size=16)

    runs = {}
    for version, (kind, interval, names) in enumerate(
        (("adam", "step", ["Adam/pg1", "Adam/pg2"]), ("sgd", "epoch", ["SGD"]))
    ):
        L.seed_everything(0, verbose=False)
        seen = Seen(names)
        monitor = LearningRateMonitor(interval, log_momentum=True, log_weight_decay=True)
        trainer = L.Trainer(
            max_epochs=8,
            logger=TensorBoardLogger(logdir, name="lightning_logs", version=version),
            callbacks=[monitor, seen],
            enable_progress_bar=False,
            enable_model_summary=False,
            enable_checkpointing=False,
            log_every_n_steps=1,
            accelerator="cpu",
        )
        trainer.fit(Net(kind), loader(x[:48], y[:48]), loader(x[48:], y[48:]))
        runs[f"lightning_logs/version_{version}"] = {"groups": seen.lrs, "steps_per_epoch": 3}
    return {"version": L.__version__, "runs": runs}


def write_transformers(logdir):
    """Hugging Face `Trainer` runs on a 2-layer GPT-2 of 16 dimensions:
    `lr_scheduler_type="reduce_lr_on_plateau"` on `eval_loss`, and linear
    decay after a warmup.

    Returns:
      `{"version": ..., "runs": {run: {"lr": [LR per update], "steps_per_epoch": n}}}`.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    import torch
    import transformers
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainerCallback

    transformers.logging.set_verbosity_error()

    class Tokens(torch.utils.data.Dataset):
        def __init__(self, n, seed):
            gen = torch.Generator().manual_seed(seed)
            self.ids = torch.randint(0, 32, (n, 8), generator=gen)

        def __len__(self):
            return len(self.ids)

        def __getitem__(self, i):
            return {"input_ids": self.ids[i], "labels": self.ids[i]}

    class Seen(TrainerCallback):
        def __init__(self):
            self.lrs = []

        def on_step_begin(self, args, state, control, optimizer=None, **_):
            self.lrs.append(float(optimizer.param_groups[0]["lr"]))

    schedules = {
        "plateau": {
            "lr_scheduler_type": "reduce_lr_on_plateau",
            "lr_scheduler_kwargs": {"patience": 0, "factor": 0.5},
        },
        "linear": {"lr_scheduler_type": "linear", "warmup_steps": 2},
    }
    runs = {}
    for name, schedule in schedules.items():
        torch.manual_seed(0)
        os.environ["TENSORBOARD_LOGGING_DIR"] = os.path.join(logdir, name)
        args = transformers.TrainingArguments(
            output_dir=os.path.join(logdir, "..", "hf-output"),
            report_to="tensorboard",
            num_train_epochs=8,
            per_device_train_batch_size=8,
            learning_rate=0.1,
            logging_steps=1,
            eval_strategy="epoch",
            save_strategy="no",
            use_cpu=True,
            disable_tqdm=True,
            seed=0,
            **schedule,
        )
        config = GPT2Config(vocab_size=32, n_positions=16, n_embd=16, n_layer=2, n_head=2)
        model = GPT2LMHeadModel(config)
        seen = Seen()
        trainer = Trainer(model, args, train_dataset=Tokens(16, 0), eval_dataset=Tokens(16, 1))
        trainer.add_callback(seen)
        trainer.train()
        runs[name] = {"lr": seen.lrs, "steps_per_epoch": 2}
    return {"version": transformers.__version__, "runs": runs}


def write_summary_writer(logdir):
    """Plain `torch.utils.tensorboard.SummaryWriter` loops: one with
    `train/lr` and `train/loss` (the default patterns), one with
    `my_lr_xyz` and `my_loss_xyz` (needs `--lr-tag` / `--loss-tag`).
    A `MultiStepLR` halves the LR at steps 40 and 70 of 100.

    Returns:
      `{"version": ..., "runs": {run: {"lr": [LR per update]}}}`.
    """
    import torch
    from torch.utils.tensorboard import SummaryWriter

    x, y = (torch.from_numpy(a) for a in _noise(64, 0))
    runs = {}
    for name, lr_tag, loss_tag, val_tag in (
        ("plain", "train/lr", "train/loss", "val/loss"),
        ("custom", "my_lr_xyz", "my_loss_xyz", None),
    ):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(4, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
        opt = torch.optim.SGD(net.parameters(), lr=0.05)
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[40, 70], gamma=0.5)
        lrs = []
        with SummaryWriter(os.path.join(logdir, name)) as writer:
            for step in range(1, 101):
                i = (step % 4) * 16
                lrs.append(opt.param_groups[0]["lr"])
                loss = torch.nn.functional.mse_loss(net(x[i : i + 16]), y[i : i + 16])
                opt.zero_grad()
                loss.backward()
                opt.step()
                writer.add_scalar(lr_tag, lrs[-1], step)
                writer.add_scalar(loss_tag, loss.item(), step)
                sched.step()
                if val_tag and step % 10 == 0:
                    writer.add_scalar(val_tag, float(loss.item()) + 0.1, step)
        runs[name] = {"lr": lrs, "tags": [lr_tag, loss_tag]}
    return {"version": torch.__version__.split("+")[0], "runs": runs}


WRITERS = {
    "tf_keras": write_tf_keras,
    "lightning": write_lightning,
    "transformers": write_transformers,
    "summary_writer": write_summary_writer,
}


def write_all(root):
    """Writes every framework's runs under `root/logs/<framework>`, one
    process each; returns `(logdir, {framework: truth})`."""
    import subprocess

    logdir = os.path.join(root, "logs")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TF_CPP_MIN_LOG_LEVEL="3")
    truths = {}
    for name in FRAMEWORKS:
        path = os.path.join(root, f"{name}.json")
        script = os.path.abspath(__file__)
        cmd = [sys.executable, script, name, os.path.join(logdir, name), path]
        subprocess.run(cmd, check=True, env=env, capture_output=True, timeout=900)
        with open(path) as f:
            truths[name] = json.load(f)
    return logdir, truths


def main(argv):
    framework, logdir, truth = argv
    if framework != "tf_keras":
        # As on a machine without TensorFlow (the usual one for PyTorch
        # users): TensorBoard's writer then uses its stub, and the import
        # costs no seconds.
        sys.modules["tensorflow"] = None
    os.makedirs(logdir, exist_ok=True)
    result = WRITERS[framework](logdir)
    with open(truth, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(sys.argv[1:])
