"""The six tutorial examples in the tab, in real headless Chromium.

`examples/run_all.py` trains the six example scripts (as `make demo` does,
with fewer epochs), a real `tensorboard` serves them, and
`drive_examples.mjs` selects each run alone: both charts must draw, and the
runs whose callbacks change the LR (5: LearningRateScheduler, 6:
ReduceLROnPlateau) must list their events.
"""

import subprocess
import sys

import pytest
from chromium import ARTIFACTS, REPO, drive
from chromium import node as _node

node = _node  # the fixture, for this module's tests
pytestmark = pytest.mark.browser
RUNS = [
    "1_fixed",
    "2_exponential_decay",
    "3_polynomial_decay",
    "4_cosine_decay",
    "5_scheduler",
    "6_reduce_on_plateau",
]


@pytest.fixture(scope="module")
def report(node, tmp_path_factory, tensorboard_process):
    # As `make demo` does: a logdir relative to where the command runs.
    here = tmp_path_factory.mktemp("examples")
    subprocess.run(
        [
            sys.executable,
            str(REPO / "examples" / "run_all.py"),
            "--logdir",
            "logs/demo",
            "--epochs",
            "30",
        ],
        check=True,
        timeout=900,
        capture_output=True,
        cwd=here,
    )
    tb = tensorboard_process(here / "logs" / "demo")
    out = ["--url", tb.url, "--out", str(ARTIFACTS)]
    result = drive(node, "drive_examples.mjs", *out, timeout=300, artifact="browser-examples.json")
    assert result["ok"], result.get("error")
    return result


def test_the_tab_lists_the_six_runs_and_opens_with_all_selected(report):
    assert sorted(report["runs"]) == RUNS
    assert sorted(report["selectedAtFirst"]) == RUNS


@pytest.mark.parametrize("run", RUNS)
def test_each_example_draws_both_charts(report, run):
    seen = report["runs"][run]
    assert seen["selected"] == [run]
    assert seen["loss"] > 0 and seen["lr"] > 0, seen


@pytest.mark.parametrize(
    "run, kind", [("5_scheduler", "scheduler"), ("6_reduce_on_plateau", "lr_change")]
)
def test_runs_that_change_the_lr_show_their_events(report, run, kind):
    seen = report["runs"][run]
    assert kind in seen["kinds"]
    assert seen["eventRows"] == seen["events"] > 0


def test_no_errors_in_the_page(report):
    assert report["consoleErrors"] == [] and report["pageErrors"] == []
