"""Tiny real torch trainings for the `tb_lr_plugin.torch` tests."""

import os

import numpy as np
import pytest
import torch
from event_reader import read_run as _read_dir

TORCH_VERSION = torch.__version__.split("+")[0]
TORCH_ID = f"torch-{TORCH_VERSION}"


def framework_fixture(module_name, version):
    """An autouse fixture whose id names the framework and version, so
    every test id of the module says what it ran against."""

    @pytest.fixture(autouse=True, params=[version], ids=[f"{module_name}-{version}"])
    def framework(request):
        return request.param

    return framework


def two_group_model(seed=0):
    """A 4 -> 8 -> 1 MLP whose two layers are two parameter groups."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))


def groups(model, lrs=(0.1, 0.02), names=(None, None)):
    out = []
    for layer, lr, name in zip((model[0], model[2]), lrs, names, strict=True):
        group = {"params": list(layer.parameters()), "lr": lr}
        if name:
            group["name"] = name
        out.append(group)
    return out


def batches(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 16, 4, generator=g)
    return x, x.sum(-1, keepdim=True)


def train_step(model, opt, x, y):
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    opt.step()
    return loss


def read_run(log_dir, run="."):
    """The `RunData` of a run, read straight from its event files."""
    return _read_dir(str(log_dir) if run == "." else os.path.join(str(log_dir), run))


def f32(values):
    return np.asarray(values, dtype=np.float64).astype(np.float32)


# Import it into a test module (`from torch_training import torch_framework`)
# and every test id there names the torch version.
torch_framework = framework_fixture("torch", TORCH_VERSION)
