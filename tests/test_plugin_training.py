"""Real Keras trainings with the callbacks, served by a real TensorBoard.

What the routes answer must be exactly what the callbacks wrote (read
straight from the event files by `training.read_run`), under both loaders,
at TensorBoard's default settings.
"""

import json
import time

import keras
import numpy as np
import pytest
from conftest import TensorBoardProcess
from tb_lr_plugin.callbacks import LearningRateLogger, ReduceLROnPlateau
from training import data, model, read_run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Three runs: ours + Keras's TensorBoard, stock Keras only, a GAN-like pair."""
    logdir = tmp_path_factory.mktemp("trained")
    x, y = data(n=64, noise=2.0)

    m = model(keras.optimizers.SGD(0.05))
    m.fit(
        x,
        y,
        batch_size=8,
        epochs=24,
        validation_split=0.25,
        verbose=0,
        callbacks=[
            ReduceLROnPlateau(factor=0.5, patience=1, min_delta=0.5, cooldown=1),
            LearningRateLogger(logdir / "ours"),
            keras.callbacks.TensorBoard(logdir / "ours", update_freq=1),
        ],
    )

    m = model(keras.optimizers.SGD(0.05))
    m.fit(
        x,
        y,
        batch_size=8,
        epochs=12,
        validation_split=0.25,
        verbose=0,
        callbacks=[
            keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=1, min_delta=0.5),
            keras.callbacks.TensorBoard(logdir / "stock"),
        ],
    )
    return logdir


@pytest.fixture(scope="module", params=["false", "true"], ids=["python", "rust"])
def served(request, trained):
    tb = TensorBoardProcess(trained, f"--load_fast={request.param}", "--reload_interval", "1")
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            status, _, body = tb.get("runs")
            if status == 200 and len(json.loads(body)["runs"]) == 2:
                break
            time.sleep(0.25)
        time.sleep(1.5)  # one more reload: everything committed
        yield tb
    finally:
        tb.stop()


def get(tb, route, **query):
    status, headers, body = tb.get(route, **query)
    assert status == 200, body
    return json.loads(body) if headers["Content-Type"].startswith("application/json") else body


def test_runs_lists_our_run_and_the_stock_keras_run(served):
    runs = {r["run"]: r for r in get(served, "runs")["runs"]}
    assert set(runs) == {"ours", "stock"}
    assert runs["ours"]["source"] == "logger" and runs["ours"]["optimizers"] == ["sgd"]
    assert runs["ours"]["epochs"] == 24 and runs["ours"]["steps"] == 24 * 6
    assert runs["stock"]["source"] == "keras"


def test_export_and_events_are_exactly_what_the_callbacks_wrote(served, trained):
    written = read_run(trained / "ours")
    lines = get(served, "export", run="ours", format="csv").decode().splitlines()
    assert lines[0] == "run,optimizer,step,planned,actual"
    rows = np.array([[float(v) for v in ln.split(",")[2:]] for ln in lines[1:]])
    assert np.array_equal(rows, written.optimizers["sgd"])
    events = get(served, "events", run="ours")["events"]
    assert events == json.loads(json.dumps(written.events))
    kinds = [e["kind"] for e in events]
    assert kinds.count("reduction") >= 2 and "cooldown" in kinds


def test_loss_overlays_the_loggers_and_kerass_series_on_one_axis(served, trained):
    loss = get(served, "loss", run="ours")
    assert loss["monitor"] == "val_loss"
    series = {s["name"]: s for s in loss["series"]}
    assert series["batch_loss"]["source"] == "logger"
    assert series["batch_loss"]["step"][-1] == 24 * 6
    assert series["val_loss"]["resolution"] == "epoch"
    assert series["val_loss"]["step"] == [6 * (e + 1) for e in range(24)]
    # Keras's own scalars add what the logger does not record.
    keras_names = {s["name"] for s in loss["series"] if s["source"] == "keras"}
    assert "evaluation_loss_vs_iterations" in keras_names
    lr = get(served, "lr", run="ours")
    assert lr["epochs"]["step"] == series["val_loss"]["step"]


def test_a_stock_keras_run_is_served_with_its_lr_changes(served):
    lr = get(served, "lr", run="stock")
    (opt,) = lr["optimizers"]
    assert len(opt["actual"]) == 12 and set(opt["planned"]) == {None}
    events = get(served, "events", run="stock")["events"]
    assert events and {e["kind"] for e in events} == {"lr_change"}
    for e in events:
        assert e["new_lr"] == pytest.approx(e["old_lr"] / 2, rel=1e-6)
    assert isinstance(get(served, "audit", run="stock")["findings"], list)


def test_lr_gives_each_optimizers_recorded_plan(served):
    # The run table's "schedule" column: what the logger's session recorded.
    plans = get(served, "lr", run="ours")["plans"]
    assert plans == {
        "sgd": {"class": "SGD", "plan": {"type": "constant"}, "initial_lr": pytest.approx(0.05)}
    }
    assert get(served, "lr", run="stock")["plans"] == {}
