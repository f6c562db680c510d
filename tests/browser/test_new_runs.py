"""Runs that appear after the tab opened join the selection and are drawn.

A TensorBoard that has just started lists its runs as it loads them, and a
training started later adds a run: TensorBoard's dashboards show each new
run. A real `tensorboard` (reloading every second) serves one real torch
run; `drive_new_runs.mjs` opens the tab in headless Chromium, copies the
run's folder twice into the logdir, and refreshes until TensorBoard lists
the copies.
"""

import sys

import pytest
from chromium import REPO, drive
from chromium import node as _node

sys.path.insert(0, str(REPO / "tests"))
from torch_runs import one_cycle  # noqa: E402
from torch_training import TORCH_ID  # noqa: E402

node = _node  # the fixture, for this module's tests
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module", params=[TORCH_ID])
def report(request, node, tmp_path_factory, tensorboard_process):
    logdir = tmp_path_factory.mktemp("growing_logs")
    one_cycle(logdir / "first_a", steps=30)
    tb = tensorboard_process(logdir, "--reload_interval", "1")
    args = ["--url", tb.url, "--logdir", str(logdir), "--run", "first_a"]
    result = drive(node, "drive_new_runs.mjs", *args, timeout=240, artifact="browser-new-runs.json")
    assert result["ok"], result.get("error")
    return result


def test_the_first_listing_selects_its_one_run(report):
    assert report["first"]["listed"] == ["first_a"]
    assert report["first"]["checked"] == ["first_a"]


def test_runs_listed_later_join_the_selection_and_are_drawn(report):
    after = report["after"]
    assert sorted(after["listed"]) == ["first_a", "later_b", "later_c"]
    assert sorted(after["checked"]) == ["first_a", "later_b", "later_c"]
    assert len(after["legend"]) == 3


def test_no_errors_in_the_page(report):
    assert report["pageErrors"] == [] and report["consoleErrors"] == []
