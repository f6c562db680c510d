"""A tiny DDP training on CPU (gloo), for `torchrun --nproc_per_node=2`.

Every rank makes a `LearningRateLogger` on the same directory, as user
code does; only rank 0 may write.
"""

import os
import sys

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from tb_lr_plugin.torch import LearningRateLogger


def main(log_dir):
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)
    model = DistributedDataParallel(torch.nn.Linear(4, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    step_lr = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    g = torch.Generator().manual_seed(rank)
    with LearningRateLogger(log_dir, opt, [step_lr, plateau]) as lg:
        assert lg.active == (rank == 0)
        for _ in range(4):
            for _step in range(3):
                x = torch.randn(8, 4, generator=g)
                loss = model(x).pow(2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                step_lr.step()
                lg.log_loss(loss)
            plateau.step(1.0)  # the same value on every rank, as it must be
    dist.barrier()
    dist.destroy_process_group()
    print(f"rank {rank} done", flush=True)
    # Everything is written and closed by now. libtorch's own teardown at
    # interpreter exit once aborted a rank after this point in CI
    # ("terminate called without an active exception"); the exit code is
    # to say whether the training ran, not how torch unloads.
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1])
