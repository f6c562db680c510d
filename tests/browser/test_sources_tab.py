"""Other frameworks' logs in the tab, in real headless Chromium.

The logs of tests/framework_logs.py (tf_keras, Lightning, Hugging Face,
a plain SummaryWriter), served by a real `tensorboard`; `drive_examples.mjs`
selects each run alone: the LR and the loss must draw, and the events
table must hold one row per LR change (each drawn as a marker on the LR
chart from the same events).
"""

import json
import subprocess

import pytest
from test_sources import FRAMEWORKS, framework_logs  # noqa: F401 - a fixture
from test_tab import ARTIFACTS, REPO, node  # noqa: F401 - a fixture

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def report(node, framework_logs, tensorboard_process):  # noqa: F811 - the fixtures above
    logdir, _ = framework_logs
    tb = tensorboard_process(logdir)
    proc = subprocess.run(
        [
            node,
            str(REPO / "tests" / "browser" / "drive_examples.mjs"),
            "--url",
            tb.url,
            "--out",
            str(ARTIFACTS / "sources"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["ok"], result.get("error")
    return result


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_each_run_draws_the_lr_over_the_loss_with_its_changes(report, framework):
    runs = {k: v for k, v in report["runs"].items() if k.startswith(framework + "/")}
    assert runs, sorted(report["runs"])
    changed = 0
    for run, seen in runs.items():
        assert seen["selected"] == [run]
        assert seen["loss"] > 0 and seen["lr"] > 0, (run, seen)
        assert seen["eventRows"] == seen["events"], (run, seen)
        changed += seen["events"]
    assert changed > 0


def test_no_errors_in_the_page(report):
    assert report["consoleErrors"] == [] and report["pageErrors"] == []
