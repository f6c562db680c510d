"""Torch runs in the Learning Rate tab, in real headless Chromium.

Two real torch trainings (`tb_lr_plugin.torch.LearningRateLogger`): one
with a `ReduceLROnPlateau` that fires, one with `OneCycleLR`. A real
`tensorboard` serves them and `drive_examples.mjs` selects each run alone,
as for the Keras examples: both charts must draw, the plateau run must list
its reductions.
"""

import sys

import pytest
from chromium import ARTIFACTS, REPO, drive
from chromium import node as _node

sys.path.insert(0, str(REPO / "tests"))
from torch_runs import ineffective_plateau, one_cycle  # noqa: E402
from torch_training import TORCH_ID  # noqa: E402

node = _node  # the fixture, for this module's tests
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module", params=[TORCH_ID])
def report(request, node, tmp_path_factory, tensorboard_process):
    logdir = tmp_path_factory.mktemp("torch_logs")
    ineffective_plateau(logdir / "torch_plateau")
    one_cycle(logdir / "torch_onecycle")
    tb = tensorboard_process(logdir)
    out = ["--url", tb.url, "--out", str(ARTIFACTS / "torch")]
    result = drive(node, "drive_examples.mjs", *out, timeout=300, artifact="browser-torch.json")
    assert result["ok"], result.get("error")
    return result


def test_both_torch_runs_draw_both_charts(report):
    assert sorted(report["runs"]) == ["torch_onecycle", "torch_plateau"]
    for run, seen in report["runs"].items():
        assert seen["state"] == "ready" and seen["selected"] == [run]
        assert seen["lr"] > 0 and seen["loss"] > 0, (run, seen)


def test_the_plateau_runs_reductions_are_listed(report):
    plateau = report["runs"]["torch_plateau"]
    assert "reduction" in plateau["kinds"]
    assert plateau["eventRows"] > 0 and plateau["events"] == 10  # 5 epochs x 2 groups
    assert report["runs"]["torch_onecycle"]["events"] == 0


def test_the_event_table_explains_torchs_rule_in_torch_terms(report):
    # patience=2: torch reduced at num_bad_epochs 3 (> patience), not "wait 3/2".
    rows = report["runs"]["torch_plateau"]["eventTexts"]
    assert rows and all("num_bad_epochs 3 > patience 2" in r for r in rows), rows
    assert not any("3/2" in r for r in rows), rows


def test_no_errors_in_the_page(report):
    assert report["pageErrors"] == [] and report["consoleErrors"] == []
