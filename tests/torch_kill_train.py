"""A torch training that SIGKILLs itself in the middle of an epoch.

After every flush (each `ReduceLROnPlateau` step) it appends to a journal
the optimizer steps and plateau epochs recorded so far, so the test knows
what was flushed before the kill.
"""

import json
import os
import signal
import sys

import torch

from tb_lr_plugin.torch import LearningRateLogger


def main(log_dir, journal, kill_at):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=50)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=1)
    lg = LearningRateLogger(log_dir, opt, [cosine, plateau], flush_secs=3600)
    step = 0
    for epoch in range(100):
        for _ in range(5):
            loss = model(torch.randn(8, 4)).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            cosine.step()
            lg.log_loss(loss)
            step += 1
            if step == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
        plateau.step(1.0)  # flushes
        with open(journal, "a") as f:
            f.write(json.dumps({"step": step, "epoch": epoch}) + "\n")
            f.flush()
            os.fsync(f.fileno())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
