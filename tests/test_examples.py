"""The tutorial's six examples run as written, and record the right LRs.

Each example script is run as a user would (a subprocess, few epochs) and
its recorded planned and actual LR are checked step by step against an
independent numpy computation.
"""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
from training import read_run

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
STEPS_PER_EPOCH = 45  # int(1797 * 0.8) = 1437 training digits, batch 32


def run_example(script, logdir, epochs, verbose=0):
    proc = subprocess.run(
        [
            sys.executable,
            script,
            "--logdir",
            str(logdir),
            "--epochs",
            str(epochs),
            "--verbose",
            str(verbose),
        ],
        cwd=EXAMPLES,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = read_run(logdir)
    (rows,) = run.optimizers.values()
    np.testing.assert_array_equal(rows[:, 0], np.arange(1, epochs * STEPS_PER_EPOCH + 1))
    return run, rows, proc.stdout


def check(rows, planned, actual=None):
    np.testing.assert_allclose(rows[:, 1], planned, rtol=2e-6)
    np.testing.assert_allclose(rows[:, 2], planned if actual is None else actual, rtol=2e-6)


def test_1_fixed(tmp_path):
    _, rows, _ = run_example("fixed.py", tmp_path, 2)
    check(rows, np.full(len(rows), 0.001))


def test_2_exponential_decay(tmp_path):
    _, rows, _ = run_example("exponential_decay.py", tmp_path, 2)
    check(rows, 0.001 * 0.9 ** ((rows[:, 0] - 1) / 10000))


def test_3_polynomial_decay(tmp_path):
    _, rows, _ = run_example("polynomial_decay.py", tmp_path, 2)
    step = np.minimum(rows[:, 0] - 1, 10000)
    check(rows, (0.1 - 0.01) * (1 - step / 10000) ** 0.5 + 0.01)


def test_4_cosine_decay_with_warmup(tmp_path):
    _, rows, _ = run_example("cosine_decay.py", tmp_path, 4)
    step = rows[:, 0] - 1
    warm = 0.01 * step / 100
    decayed = 0.01 * 0.5 * (1 + np.cos(np.pi * np.minimum(step - 100, 900) / 900))
    check(rows, np.where(step < 100, warm, decayed))


def test_5_scheduler_verbatim_records_its_plan(tmp_path):
    run, rows, _ = run_example("scheduler.py", tmp_path, 13)
    epoch = (rows[:, 0] - 1) // STEPS_PER_EPOCH
    check(rows, 0.001 * np.exp(-0.1 * np.maximum(epoch - 9, 0)))
    assert [e["epoch"] for e in run.events if e["kind"] == "scheduler"] == [10, 11, 12]


@pytest.mark.slow
def test_6_reduce_on_plateau_matches_keras_verbose_lines(tmp_path):
    run, rows, stdout = run_example("reduce_on_plateau.py", tmp_path, 50, verbose=1)
    printed = [
        (int(epoch) - 1, float(lr))
        for epoch, lr in re.findall(
            r"Epoch (\d+): ReduceLROnPlateau reducing learning rate to (\S+)\.", stdout
        )
    ]
    assert len(printed) >= 2
    changes = [e for e in run.events if e["kind"] == "lr_change"]
    assert [e["epoch"] for e in changes] == [p[0] for p in printed]
    np.testing.assert_allclose([e["new_lr"] for e in changes], [p[1] for p in printed], rtol=1e-6)
    # Actual: 0.01, then each printed value from the step after its epoch.
    expected = np.full(len(rows), 0.01)
    for epoch, lr in printed:
        expected[rows[:, 0] > (epoch + 1) * STEPS_PER_EPOCH] = lr
    check(rows, np.full(len(rows), 0.01), expected)
