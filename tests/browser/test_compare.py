"""Comparing runs in the tab, in real headless Chromium (issue 19).

Two logdirs, each served by a real `tensorboard` and driven by
`drive_compare.mjs` in light and dark mode: the six tutorial examples
(`examples/run_all.py`, as `make demo` writes them, fewer epochs) and 50
runs written with the project's own writer (bench_frontend's
`write_compare_logdir`, a few epochs each). For each: one run-table row and
one legend entry per run, no two marker labels overlapping (their boxes
measured in the page), sorting by best value, a row click highlighting its
run, the small-multiples grid drawing a pair per run, a zoom in one of its
cells shown by every cell and kept across a refresh, no console errors.
Screenshots go to test-artifacts/compare-*.png.
"""

import subprocess
import sys

import pytest
from chromium import ARTIFACTS, REPO, drive
from chromium import node as _node

sys.path.insert(0, str(REPO / "bench"))
from bench_frontend import compare_run_name, write_compare_logdir  # noqa: E402

node = _node  # the fixture, for this module's tests
pytestmark = pytest.mark.browser
EXAMPLES = 6
MANY = 50


@pytest.fixture(scope="module")
def examples(node, tmp_path_factory, tensorboard_process):
    here = tmp_path_factory.mktemp("compare-examples")
    cmd = [sys.executable, str(REPO / "examples" / "run_all.py"), "--logdir", "logs/demo"]
    subprocess.run([*cmd, "--epochs", "12"], check=True, timeout=900, capture_output=True, cwd=here)
    tb = tensorboard_process(here / "logs" / "demo")
    return run_driver(node, tb.url, "demo", EXAMPLES)


@pytest.fixture(scope="module")
def many(node, tmp_path_factory, tensorboard_process):
    logdir = tmp_path_factory.mktemp("compare-50")
    write_compare_logdir(str(logdir), MANY, 12_000)
    tb = tensorboard_process(logdir)
    return run_driver(node, tb.url, "50", MANY)


def run_driver(node, url, name, runs):
    args = ["--url", url, "--out", str(ARTIFACTS), "--name", name, "--runs", str(runs)]
    report = drive(
        node, "drive_compare.mjs", *args, timeout=600, artifact=f"browser-compare-{name}.json"
    )
    assert report["ok"], report.get("error")
    return report


@pytest.fixture(params=["examples", "many"])
def seen(request):
    return request.getfixturevalue(request.param)


SCHEMES = ["light", "dark"]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_one_table_row_and_one_legend_entry_per_run(seen, scheme):
    first = seen[scheme]["first"]
    runs = EXAMPLES if seen["name"] == "demo" else MANY
    assert len(first["rows"]) == len(set(first["rows"])) == runs
    assert sorted(first["legend"]) == sorted(first["rows"])


@pytest.mark.parametrize("scheme", SCHEMES)
def test_no_two_marker_labels_overlap(seen, scheme):
    first = seen[scheme]["first"]
    assert first["markers"] > 0
    assert first["overlaps"] == 0, first


def test_the_examples_label_their_markers(examples):
    # Two runs change the LR (5 and 6): few enough for a label per marker.
    assert examples["light"]["first"]["labels"] > 0


def test_fifty_runs_turn_per_run_labels_off(many):
    assert many["light"]["first"]["labels"] == 0
    assert many["light"]["first"]["markers"] > 0


@pytest.mark.parametrize("scheme", SCHEMES)
def test_sorting_by_best_value_orders_the_rows(seen, scheme):
    up = seen[scheme]["bestAscending"]
    down = seen[scheme]["bestDescending"]
    known = [v for v in up if v is not None]
    assert len(known) >= 2
    assert known == sorted(known)
    assert [v for v in down if v is not None] == sorted(known, reverse=True)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_row_click_highlights_its_run_and_a_second_clears_it(seen, scheme):
    s = seen[scheme]
    assert s["highlighted"]["highlight"] == s["target"]
    assert s["highlighted"]["highlightedRows"] == [s["target"]]
    assert s["onlyRun"] == s["onlyRunExpected"]
    assert s["cleared"]["highlight"] == "" and s["cleared"]["highlightedRows"] == []


@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_small_multiples_grid_draws_a_pair_per_run(seen, scheme):
    grid = seen[scheme]["grid"]
    runs = EXAMPLES if seen["name"] == "demo" else MANY
    assert grid["cells"] == runs
    assert grid["gridCanvases"] == 2 * runs
    assert grid["gridDraws"] >= 2 * runs


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_zoom_in_one_cell_zooms_every_chart_of_the_grid(seen, scheme):
    s = seen[scheme]
    charts = 2 * (EXAMPLES if seen["name"] == "demo" else MANY)
    full, zoomed = s["gridFull"]["ranges"], s["gridZoomed"]["ranges"]
    assert len(full) == len(zoomed) == charts
    assert len({tuple(r) for r in full}) == 1 and len({tuple(r) for r in zoomed}) == 1
    (lo, hi), (zlo, zhi) = full[0], zoomed[0]
    assert lo < zlo < zhi < hi and zhi - zlo < 0.6 * (hi - lo)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_grid_keeps_its_zoom_and_its_charts_across_a_refresh(seen, scheme):
    s = seen[scheme]
    zoomed, refreshed = s["gridZoomed"], s["gridRefreshed"]
    assert refreshed["zoomed"] == "true"
    assert refreshed["ranges"] == zoomed["ranges"]
    # Redrawn with the new data, on the same charts (not rebuilt).
    assert refreshed["draws"] >= zoomed["draws"] + len(zoomed["ranges"])
    assert refreshed["kept"] == len(zoomed["ranges"])


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_double_click_shows_the_whole_extent_in_every_cell(seen, scheme):
    s = seen[scheme]
    assert s["gridReset"]["ranges"] == s["gridFull"]["ranges"]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_no_console_errors(seen, scheme):
    s = seen[scheme]
    assert s["consoleErrors"] == [] and s["pageErrors"] == []


def test_the_fifty_runs_are_named_in_order(many):
    assert many["light"]["first"]["rows"] == [compare_run_name(r) for r in range(MANY)]
