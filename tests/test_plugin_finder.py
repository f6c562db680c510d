"""The `finder` route: LR range tests, served like every other route.

Records are written with the real `EventWriter` as `LearningRateFinder`
writes them (a `finder` JSON item per test) and read back through
TensorBoard's data provider in the real WSGI app. A real training is in
tests/test_cli_finder.py (CLI and route on the same logdir) and the
browser test.
"""

import json
import math

import pytest
from conftest import InProcessTensorBoard, write_run

from tb_lr_plugin import lr_finder, metadata
from tb_lr_plugin.event_writer import EventWriter


def finder_item(step=0, n=20, **extra):
    """A range test as `LearningRateFinder` records it."""
    lrs = [1e-4 * (1e4 ** (i / (n - 1))) for i in range(n)]
    losses = [2.0 - 1.5 / (1 + math.exp(-(math.log10(lr) + 2) * 3)) for lr in lrs]
    losses[-1] = 50.0
    smoothed = lr_finder.smooth(losses).tolist()
    item = {
        "step": step,
        "lr": lrs,
        "loss": losses,
        "smoothed": smoothed,
        "steepest": lr_finder.steepest(lrs, smoothed),
        "valley": lr_finder.valley(lrs, smoothed),
        "min_lr": 1e-4,
        "max_lr": 1.0,
        "num_steps": n,
        "smoothing": 0.98,
        "time": 1700000000.0 + step,
    }
    item.update(extra)
    return item


def write_finder(run_dir, *items):
    writer = EventWriter(run_dir)
    for item in items:
        writer.add_json(metadata.KIND_FINDER, metadata.TAG_FINDER, [item], item.get("step", 0))
    writer.close()


def body(response):
    assert response.status_code == 200, response.data
    assert response.headers["Content-Type"].startswith("application/json")
    return json.loads(response.data)


def assert_json_error(response, status):
    assert response.status_code == status, response.data
    assert response.headers["Content-Type"].startswith("application/json")
    data = json.loads(response.data)
    assert set(data) == {"error"} and "Traceback" not in data["error"]
    return data["error"]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("finder_app")
    write_finder(logdir / "only_finder", finder_item())
    write_run(logdir / "trained", steps=60, epochs=3, reductions=())
    write_finder(logdir / "trained", finder_item(step=0), finder_item(step=60, n=12))
    write_run(logdir / "plain", steps=60, epochs=3, reductions=())
    return InProcessTensorBoard(logdir)


def test_runs_counts_range_tests_and_lists_a_run_with_only_one(app):
    runs = {r["run"]: r for r in body(app.get("runs"))["runs"]}
    assert {name: r["finder"] for name, r in runs.items()} == {
        "only_finder": 1,
        "plain": 0,
        "trained": 2,
    }
    only = runs["only_finder"]
    assert only["source"] == "logger" and only["optimizers"] == [] and only["events"] == 0


def test_finder_serves_each_test_as_recorded(app):
    data = body(app.get("finder", run="only_finder"))
    assert data["run"] == "only_finder"
    (test,) = data["tests"]
    expected = finder_item()
    for key in ("lr", "loss", "smoothed", "min_lr", "max_lr", "num_steps", "step", "time"):
        assert test[key] == expected[key], key
    assert test["valley"] == expected["valley"] and test["steepest"] == expected["steepest"]
    assert 1e-4 < test["valley"] < 1.0


def test_several_tests_in_write_order_and_a_run_without_one(app):
    tests = body(app.get("finder", run="trained"))["tests"]
    assert [(t["step"], len(t["lr"])) for t in tests] == [(0, 20), (60, 12)]
    assert body(app.get("finder", run="plain")) == {"run": "plain", "tests": []}


def test_non_finite_losses_are_null_and_missing_suggestions_recomputed(tmp_path):
    item = finder_item()
    item["loss"][-1] = float("nan")
    item["smoothed"][-1] = float("inf")
    del item["valley"]
    item["steepest"] = None
    write_finder(tmp_path / "r", item)
    (test,) = body(InProcessTensorBoard(tmp_path).get("finder", run="r"))["tests"]
    assert test["loss"][-1] is None and test["smoothed"][-1] is None
    curve = finder_item()["smoothed"][:-1]
    assert test["valley"] == lr_finder.valley(item["lr"][:-1], curve)
    assert test["steepest"] == lr_finder.steepest(item["lr"][:-1], curve)


def test_unknown_run_is_a_json_404(app):
    assert "'nope'" in assert_json_error(app.get("finder", run="nope"), 404)


@pytest.mark.parametrize(
    "query", ["", "run=", "run=only_finder&run=only_finder", "run=only_finder&x=1", "Run=x"]
)
def test_bad_queries_are_json_400(app, query):
    r = app.client.get("/data/plugin/learning_rate/finder?" + query)
    assert_json_error(r, 400)


def test_other_methods_are_refused_as_json(app):
    r = app.client.post("/data/plugin/learning_rate/finder?run=only_finder")
    assert_json_error(r, 405)
