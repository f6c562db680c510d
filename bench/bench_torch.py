"""Overhead of `tb_lr_plugin.torch` on torch trainings.

1. A plain torch loop (a tiny MLP, a step of about 1 ms on one CPU thread)
   with `LearningRateLogger` recording every step (LR, momentum, weight
   decay, loss, a `ReduceLROnPlateau` step and a flush every 1,000 steps)
   against the same loop with no logger. Target (issue 18): <= 1.03x, median of interleaved repeats.
2. Lightning: our `LearningRateMonitor` against Lightning's own
   `LearningRateMonitor(logging_interval="step")`, both at
   `log_every_n_steps=1`. The ratio is printed (no target).

Usage: python bench/bench_torch.py [--steps N] [--repeats R] [--lightning-steps N]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings

import torch

from tb_lr_plugin.torch import LearningRateLogger

TARGET = 1.03
# An epoch of 1,000 steps (about a second): each ReduceLROnPlateau step
# flushes, as Keras's loggers do at each epoch end (a few ms per flush).
STEPS_PER_EPOCH = 1000


def _setup(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, 128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, 1),
    )
    opt = torch.optim.SGD(
        [
            {"params": model[0].parameters()},
            {"params": list(model[2].parameters()) + list(model[4].parameters())},
        ],
        lr=0.01,
        momentum=0.9,
        weight_decay=1e-4,
    )
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10_000)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=2)
    x, y = torch.randn(64, 64), torch.randn(64, 1)
    return model, opt, cosine, plateau, x, y


def plain_loop(steps, log_dir=None):
    model, opt, cosine, plateau, x, y = _setup()
    logger = LearningRateLogger(log_dir, opt, [cosine, plateau]) if log_dir else None
    start = time.perf_counter()
    for i in range(steps):
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        cosine.step()
        if logger is not None:
            logger.log_loss(loss)
        if (i + 1) % STEPS_PER_EPOCH == 0:
            plateau.step(1.0)  # once per "epoch", as a validation would
    if logger is not None:
        logger.close()
    return time.perf_counter() - start


def hook_cost(n=20000):
    """What the step post-hook adds to one `optimizer.step()`, in us."""
    _, opt, cosine, plateau, _, _ = _setup()
    with tempfile.TemporaryDirectory() as tmp:
        logger = LearningRateLogger(tmp, opt, [cosine, plateau], flush_secs=3600)
        hook = logger.recorders[0]._after_step
        start = time.perf_counter()
        for _ in range(n):
            hook(opt, (), {})
        cost = (time.perf_counter() - start) / n * 1e6
        logger.close()
    return cost


def bench_plain(steps, repeats):
    plain_loop(200)  # warm up
    base, ours = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeats):
            # ABBA order: a load that drifts during a pair slows both alike.
            if r % 2:
                ours.append(plain_loop(steps, os.path.join(tmp, f"run{r}")))
                base.append(plain_loop(steps))
            else:
                base.append(plain_loop(steps))
                ours.append(plain_loop(steps, os.path.join(tmp, f"run{r}")))
    ratio = statistics.median(o / b for o, b in zip(ours, base, strict=True))
    per_step = 1000 * statistics.median(base) / steps
    print(f"plain torch loop: {steps} steps, {per_step:.3f} ms/step without logger")
    print(f"  logger / none = {ratio:.3f}x (target <= {TARGET}x)")
    print(f"  the hook alone: {hook_cost():.2f} us per step")
    return ratio


def bench_lightning(steps, repeats):
    try:
        import lightning as L
        from lightning.pytorch.callbacks import LearningRateMonitor as TheirMonitor
        from lightning.pytorch.loggers import TensorBoardLogger

        from tb_lr_plugin.torch import LearningRateMonitor as OurMonitor
    except ImportError as e:
        print(f"lightning: not installed ({e}); skipped")
        return None

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = _setup()[0]

        def training_step(self, batch, _):
            return torch.nn.functional.mse_loss(self.net(batch[0]), batch[1])

        def configure_optimizers(self):
            opt = torch.optim.SGD(self.parameters(), lr=0.01, momentum=0.9)
            return {
                "optimizer": opt,
                "lr_scheduler": {
                    "scheduler": torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10_000),
                    "interval": "step",
                },
            }

    data = torch.utils.data.TensorDataset(torch.randn(128 * steps, 64), torch.randn(128 * steps, 1))

    def fit(callback, log_dir):
        trainer = L.Trainer(
            max_epochs=1,
            logger=TensorBoardLogger(log_dir),
            callbacks=[callback],
            log_every_n_steps=1,
            enable_progress_bar=False,
            enable_model_summary=False,
            enable_checkpointing=False,
            accelerator="cpu",
            devices=1,
        )
        loader = torch.utils.data.DataLoader(data, batch_size=128)
        start = time.perf_counter()
        trainer.fit(Module(), loader)
        return time.perf_counter() - start

    ours, theirs = [], []
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit(OurMonitor(), os.path.join(tmp, "warm"))
        for r in range(repeats):
            theirs.append(
                fit(TheirMonitor(logging_interval="step"), os.path.join(tmp, f"theirs{r}"))
            )
            ours.append(fit(OurMonitor(), os.path.join(tmp, f"ours{r}")))
    ratio = statistics.median(o / t for o, t in zip(ours, theirs, strict=True))
    print(
        f"lightning {L.__version__}: {steps} steps per fit\n"
        f"  ours / LearningRateMonitor(logging_interval='step') = {ratio:.3f}x"
    )
    return ratio


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--lightning-steps", type=int, default=500)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    ratio = bench_plain(args.steps, args.repeats)
    bench_lightning(args.lightning_steps, max(1, args.repeats // 2))
    if ratio > TARGET:
        print(f"target missed: {ratio:.3f}x > {TARGET}x")
        return 1
    return 0


if __name__ == "__main__":
    import logging

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    sys.exit(main())
