"""`tb_lr_plugin.torch` under torchrun (2 processes, gloo on CPU) and SIGKILL."""

import json
import os
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest
from torch_training import read_run, torch_framework  # noqa: F401

HERE = os.path.dirname(os.path.abspath(__file__))
VENV_BIN = os.path.dirname(sys.executable)
ENV = dict(os.environ, PYTHONPATH=HERE, TF_CPP_MIN_LOG_LEVEL="3", OMP_NUM_THREADS="1")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_ranks_write_one_copy_of_every_record(tmp_path):
    log_dir = tmp_path / "run"
    result = subprocess.run(
        [
            os.path.join(VENV_BIN, "torchrun"),
            "--nproc_per_node=2",
            "--master_addr=127.0.0.1",
            f"--master_port={_free_port()}",
            os.path.join(HERE, "torch_ddp_train.py"),
            str(log_dir),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=ENV,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "rank 0 done" in result.stdout and "rank 1 done" in result.stdout
    files = [f for f in os.listdir(log_dir) if "tfevents" in f]
    assert len(files) == 1, files  # rank 1 wrote nothing
    run = read_run(log_dir)
    rows = run.optimizers["pg0"]
    np.testing.assert_array_equal(rows[:, 0], np.arange(1, 13))
    assert len(run.sessions) == 1
    assert [p["epoch"] for p in run.plateau] == [0, 1, 2, 3]
    reductions = [e["epoch"] for e in run.events if e["kind"] == "reduction"]
    assert reductions == [1, 2, 3]  # once each, not once per rank
    np.testing.assert_array_equal(run.batch["loss"][:, 0], np.arange(1, 13))


@pytest.mark.parametrize("kill_at", [3, 24])
def test_sigkill_loses_nothing_flushed(tmp_path, kill_at):
    log_dir, journal = tmp_path / "run", tmp_path / "journal"
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(HERE, "torch_kill_train.py"),
            str(log_dir),
            str(journal),
            str(kill_at),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=ENV,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    flushed = (
        [json.loads(line) for line in journal.read_text().splitlines()] if journal.exists() else []
    )
    run = read_run(log_dir)
    assert run.sessions, "the session is flushed when logging starts"
    last = flushed[-1]["step"] if flushed else 0
    rows = run.optimizers.get("pg0", np.zeros((0, 3)))
    # Every step flushed is there, in order, and nothing after the kill.
    np.testing.assert_array_equal(rows[:, 0], np.arange(1, len(rows) + 1))
    assert last <= len(rows) < kill_at
    assert [p["epoch"] for p in run.plateau][: len(flushed)] == [f["epoch"] for f in flushed]
    cli = subprocess.run(
        [os.path.join(VENV_BIN, "tb-lr-audit"), str(log_dir), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=ENV,
    )
    if not flushed:  # killed before the first epoch ended: no LR rows yet
        assert cli.returncode == 2 and "no learning-rate data" in cli.stderr
        return
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["runs"][0]["run"] == "."
