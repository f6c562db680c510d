"""`tb-lr-audit` prints the LR range tests `LearningRateFinder` recorded.

A tiny real training runs the range test twice: alone in its own run (a
ramp steep enough to stop early) and before a training logged by
`LearningRateLogger` in the same run; a third run has no range test. The
table and the JSON are checked against what the callback computed, and the
JSON against the plugin's `finder` route on the same logdir.
"""

import io
import json
import os
import subprocess
import sys

import pytest
from conftest import InProcessTensorBoard, write_run

from tb_lr_plugin import cli
from tb_lr_plugin.audit import fmt_lr

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

BIN = os.path.join(os.path.dirname(sys.executable), "tb-lr-audit")
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


def run_cli(*args):
    out, err = io.StringIO(), io.StringIO()
    code = cli.run([str(a) for a in args], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """`(logdir, {run: LearningRateFinder.result})` of a tiny real training."""
    keras = pytest.importorskip("keras")
    import training
    from tb_lr_plugin.callbacks import LearningRateFinder, LearningRateLogger

    logdir = tmp_path_factory.mktemp("finder_logs")
    x, y = training.data(n=640)
    results = {}

    steep = LearningRateFinder(logdir / "finder", min_lr=1e-4, max_lr=3.0, num_steps=60, verbose=0)
    model = training.model(keras.optimizers.SGD(0.01))
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[steep])
    results["finder"] = steep.result

    gentle = LearningRateFinder(logdir / "tuned", min_lr=1e-4, max_lr=0.1, num_steps=30, verbose=0)
    model = training.model(keras.optimizers.SGD(0.01))
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[gentle])
    model.optimizer.learning_rate = gentle.result["valley"]
    logger = LearningRateLogger(logdir / "tuned")
    model.fit(x, y, batch_size=64, epochs=2, verbose=0, callbacks=[logger])
    results["tuned"] = gentle.result

    write_run(logdir / "plain", steps=20, epochs=2, reductions=())
    return logdir, results


def test_table_prints_each_range_test_with_its_suggestions(trained):
    logdir, results = trained
    result = subprocess.run([BIN, logdir], capture_output=True, text=True, env=ENV, timeout=120)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    for run, recorded in results.items():
        start = lines.index(f"Run: {run}")
        section = lines[start : start + 8]
        lrs, n, planned = recorded["lr"], len(recorded["lr"]), recorded["num_steps"]
        steps = f"{n} steps" if n == planned else f"{n} of {planned} steps (stopped early)"
        assert "LR range tests (1)" in section, section
        assert f"  step 0: {steps}, LR {fmt_lr(lrs[0])} -> {fmt_lr(lrs[-1])}" in section
        assert (
            f"    suggested LR (valley) {fmt_lr(recorded['valley'])}, "
            f"steepest {fmt_lr(recorded['steepest'])}"
        ) in section
    assert len(results["finder"]["lr"]) < 60, "the steep ramp should stop early"
    assert len(results["tuned"]["lr"]) == 30
    plain = lines[lines.index("Run: plain") + 1 :]
    plain = plain[: next(i for i, line in enumerate(plain) if line.startswith("Run: "))]
    assert plain and not any(line.startswith("LR range test") for line in plain)


def test_a_run_with_only_a_range_test_is_audited(trained):
    logdir, _ = trained
    code, out, err = run_cli(logdir, "--run", "finder")
    assert code == 0, err
    assert "LR range tests (1)" in out
    assert "LR changes: none" in out and "Findings: none" in out


def test_json_has_each_runs_range_tests_as_recorded(trained):
    logdir, results = trained
    code, out, err = run_cli(logdir, "--format", "json")
    assert code == 0, err
    runs = {r["run"]: r for r in json.loads(out)["runs"]}
    assert set(runs) == {"finder", "tuned", "plain"}
    for item in runs.values():
        assert set(item) == {"run", "source", "limits", "events", "findings", "finder"}
    assert runs["plain"]["finder"] == []
    for run, recorded in results.items():
        (test,) = runs[run]["finder"]
        for key in ("lr", "loss", "smoothed", "steepest", "valley", "min_lr", "max_lr", "step"):
            assert test[key] == recorded[key], (run, key)
        assert test["num_steps"] == recorded["num_steps"]


def test_cli_and_finder_route_say_the_same(trained):
    logdir, results = trained
    _, out, _ = run_cli(logdir, "--format", "json")
    cli_runs = {r["run"]: r["finder"] for r in json.loads(out)["runs"]}
    tb = InProcessTensorBoard(logdir)
    listed = {r["run"]: r["finder"] for r in json.loads(tb.get("runs").data)["runs"]}
    assert listed == {"finder": 1, "tuned": 1, "plain": 0}
    for run in cli_runs:
        response = tb.get("finder", run=run)
        assert response.status_code == 200
        assert json.loads(response.data) == {"run": run, "tests": cli_runs[run]}
