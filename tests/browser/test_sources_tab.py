"""Other frameworks' logs in the tab, in real headless Chromium.

The logs of tests/framework_logs.py (tf_keras, Lightning, Hugging Face,
a plain SummaryWriter), served by a real `tensorboard`; `drive_examples.mjs`
selects each run alone: the LR and the loss must draw, the events table
must hold one row per LR change (each also drawn as a marker on the LR
chart, from the same events), and the run's row must say its source and,
in its tooltip, what that source cannot know.
"""

import pytest
from chromium import ARTIFACTS, drive
from chromium import node as _node
from test_sources import FRAMEWORKS

node = _node  # the fixture, for this module
pytestmark = pytest.mark.browser
LABELS = {
    "tf_keras": "Keras 2 TensorBoard",
    "lightning": "Lightning LearningRateMonitor",
    "transformers": "Hugging Face Trainer",
    "summary_writer": "plain scalars",
}


@pytest.fixture(scope="module")
def report(node, framework_logs, tensorboard_process):
    tb = tensorboard_process(framework_logs[0])
    out = ["--url", tb.url, "--out", str(ARTIFACTS / "sources")]
    result = drive(node, "drive_examples.mjs", *out, timeout=300, artifact="browser-sources.json")
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
        assert set(seen["kinds"]) <= {"lr_change"}
        changed += seen["events"]
        row = report["rows"][run]
        assert LABELS[framework] in row["meta"], row
        assert row["title"].startswith("Not in these logs: "), row
        # Lightning's momentum and weight decay: one small line each per group.
        groups = {"lightning_logs/version_0": 2, "lightning_logs/version_1": 1}
        assert seen["hyper"] == 2 * groups.get(run.partition("/")[2], 0), (run, seen)
    assert changed > 0


def test_no_errors_in_the_page(report):
    assert report["consoleErrors"] == [] and report["pageErrors"] == []
