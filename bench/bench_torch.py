"""Overhead of `tb_lr_plugin.torch` on torch trainings.

1. A plain torch loop (a tiny MLP, 64-256-256-1 on a batch of 64: a step of
   about 1 ms on one CPU thread, the issue's figure; `--hidden 128` halves it)
   with `LearningRateLogger` recording every step (LR, momentum, weight
   decay, loss, a `ReduceLROnPlateau` step and a flush every 1,000 steps)
   against the same loop with no logger, the two taking turns every 100
   steps in one process (ABBA), so that the load of a shared machine falls
   on both alike. Target (issue 18): <= 1.03x, the median over repeats of
   the ratio of the training thread's CPU time (the logger's whole cost:
   it works on that thread); the wall-clock ratio is printed beside it.
2. Lightning: our `LearningRateMonitor` against Lightning's own
   `LearningRateMonitor(logging_interval="step")`, both at
   `log_every_n_steps=1`. The ratio is printed (no target).

The logger's work per step is a few C-level reads kept as one tuple
(`tb_lr_plugin/torch/recorder.py`); rows are converted every 1,024 steps
and at each flush, on the training thread, whose CPU time therefore holds
all of it. `--threads 0` runs torch with its default thread count instead
of one (on a small machine its threads then compete with everything else).

Usage: python bench/bench_torch.py [--steps N] [--repeats R] [--lightning-steps N]
                                   [--threads T] [--hidden H]
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
# Steps each loop runs before the other takes its turn.
BLOCK = 100
# The MLP's hidden width: 256 gives the step of about 1 ms on one
# thread of this 2-core machine (128 gives about 0.5-0.7 ms). `--hidden`.
MODEL = {"hidden": 256}


def _setup(seed=0):
    torch.manual_seed(seed)
    hidden = MODEL["hidden"]
    model = torch.nn.Sequential(
        torch.nn.Linear(64, hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, 1),
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


class Loop:
    """One plain training loop, run a block of steps at a time, so that two
    loops (with and without the logger) can take turns in one process."""

    def __init__(self, log_dir=None):
        self.model, self.opt, self.cosine, self.plateau, self.x, self.y = _setup()
        self.logger = (
            LearningRateLogger(log_dir, self.opt, [self.cosine, self.plateau]) if log_dir else None
        )
        self.done = 0
        self.seconds = 0.0  # wall clock
        self.cpu = 0.0  # this thread's CPU time: what a shared machine's load leaves alone

    def run(self, steps):
        model, opt, logger = self.model, self.opt, self.logger
        cosine, x, y = self.cosine, self.x, self.y
        start, cpu = time.perf_counter(), time.thread_time()
        for _ in range(steps):
            loss = torch.nn.functional.mse_loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            cosine.step()
            if logger is not None:
                logger.log_loss(loss)
            self.done += 1
            if self.done % STEPS_PER_EPOCH == 0:
                self.plateau.step(1.0)  # once per "epoch", as a validation would
        self.seconds += time.perf_counter() - start
        self.cpu += time.thread_time() - cpu

    def close(self):
        start, cpu = time.perf_counter(), time.thread_time()
        if self.logger is not None:
            self.logger.close()
        self.seconds += time.perf_counter() - start
        self.cpu += time.thread_time() - cpu


def paired_run(steps, log_dir, block=BLOCK, ours_first=False):
    """Times `steps` steps without and with the logger, in alternating
    blocks (ABBA), so a load that comes and goes hits both alike.

    Which loop is built first alternates between repeats too: in an A/A
    run (both without logger) the second one built ran about 1% faster.
    """
    if ours_first:
        ours, base = Loop(log_dir), Loop()
    else:
        base, ours = Loop(), Loop(log_dir)
    for k in range(0, steps, block):
        n = min(block, steps - k)
        first, second = (base, ours) if (k // block) % 2 == 0 else (ours, base)
        first.run(n)
        second.run(n)
    base.close()
    ours.close()
    return base, ours


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


def _spread(name, ratios):
    ratios = sorted(ratios)
    mid = f"{ratios[len(ratios) // 4]:.3f}-{ratios[(3 * len(ratios)) // 4]:.3f}x"
    print(
        f"  logger / none, {name}: {statistics.median(ratios):.3f}x median "
        f"(repeats ranged {ratios[0]:.3f}-{ratios[-1]:.3f}x, middle half {mid})"
    )
    return statistics.median(ratios)


def bench_plain(steps, repeats):
    """Returns the median ratio of CPU times: the logger does all its work
    on the training thread, so its CPU time is its cost; the wall-clock
    ratio, printed too, adds the noise of whatever else the machine runs."""
    pairs = []
    with tempfile.TemporaryDirectory() as tmp:
        paired_run(STEPS_PER_EPOCH, os.path.join(tmp, "warm"))  # first calls, caches
        for r in range(repeats):
            pairs.append(paired_run(steps, os.path.join(tmp, f"run{r}"), ours_first=r % 2 == 1))
    base = [b.seconds for b, _ in pairs]
    print(
        f"plain torch loop: {steps} steps, {repeats} repeats, loops alternating every {BLOCK} steps"
    )
    print(
        f"  median wall time: none {statistics.median(base):.3f} s "
        f"({1000 * statistics.median(base) / steps:.3f} ms/step), "
        f"logger {statistics.median(o.seconds for _, o in pairs):.3f} s"
    )
    print(
        f"  median CPU time: none {statistics.median(b.cpu for b, _ in pairs):.3f} s, "
        f"logger {statistics.median(o.cpu for _, o in pairs):.3f} s"
    )
    _spread("wall clock", [o.seconds / b.seconds for b, o in pairs])
    ratio = _spread("CPU time", [o.cpu / b.cpu for b, o in pairs])
    print(f"  target: CPU-time ratio <= {TARGET}x")
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
    parser.add_argument(
        "--threads", type=int, default=1, help="torch intra-op threads (0: torch's default)"
    )
    parser.add_argument("--hidden", type=int, default=MODEL["hidden"], help="the MLP's width")
    args = parser.parse_args(argv)
    MODEL["hidden"] = args.hidden
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} intra-op thread(s), "
        f"MLP 64-{args.hidden}-{args.hidden}-1"
    )
    ratio = bench_plain(args.steps, args.repeats)
    if torch.get_num_threads() > 1:
        print("  (CPU time counts the training thread only, not torch's workers: see wall clock)")
    if args.lightning_steps > 0:
        bench_lightning(args.lightning_steps, max(1, args.repeats // 2))
    if ratio > TARGET:
        print(f"target missed: {ratio:.3f}x > {TARGET}x")
        return 1
    return 0


if __name__ == "__main__":
    import logging

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    sys.exit(main())
