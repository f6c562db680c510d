"""The Learning Rate tab in real headless Chromium, against a real TensorBoard.

A small real Keras training (LearningRateLogger + ReduceLROnPlateau) writes
two runs, one named like an HTML injection, and an LR range test
(LearningRateFinder) writes a third; `tensorboard` serves them on
127.0.0.1; `drive_tab.mjs` (playwright-core driving Debian's chromium)
opens `/#learning_rate`, clicks through the tab and reports what it saw.

Needs the built bundle (`make build`), Node with frontend/node_modules
(`npm ci` in frontend/) and /usr/bin/chromium. Missing any of them skips
the module on a workstation and fails it in CI (`CI=true`).
"""

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from chromium import ARTIFACTS, drive
from chromium import node as _node

node = _node  # the fixture, for this module's tests
pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore::DeprecationWarning:keras.*"),
]

HOSTILE = "<img src=x onerror=alert(1)>"


def _train(logdir):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np
    from tb_lr_plugin.callbacks import LearningRateFinder, LearningRateLogger, ReduceLROnPlateau

    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 4)).astype("float32")
    w = np.array([[1.0], [-2.0], [0.5], [0.0]])
    y = (x @ w + rng.normal(size=(96, 1))).astype("float32")

    def fit(name, epochs, **plateau):
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)]
        )
        model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
        model.fit(
            x,
            y,
            batch_size=8,
            epochs=epochs,
            validation_split=0.25,
            verbose=0,
            callbacks=[
                ReduceLROnPlateau(monitor="val_loss", **plateau),
                LearningRateLogger(os.path.join(logdir, name)),
            ],
        )

    # Plateau reductions with cooldowns, then the min_lr floor.
    fit("plateau", 30, factor=0.5, patience=2, cooldown=1, min_lr=0.005)
    # A hostile run name, with reductions of its own.
    fit(HOSTILE, 8, factor=0.5, patience=1)

    # An LR range test in a run of its own.
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    finder = LearningRateFinder(
        os.path.join(logdir, "finder"), min_lr=1e-4, max_lr=1.0, num_steps=40, verbose=0
    )
    model.fit(x, y, batch_size=8, epochs=4, shuffle=False, verbose=0, callbacks=[finder])


@pytest.fixture(scope="module")
def logdir(tmp_path_factory, node):
    path = tmp_path_factory.mktemp("browser_logs")
    _train(str(path))
    assert (path / HOSTILE).is_dir()
    return path


def _get_json(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read().decode("utf-8"))


@pytest.fixture(scope="module")
def tensorboard(logdir):
    exe = Path(sys.executable).with_name("tensorboard")
    cmd = [str(exe) if exe.exists() else "tensorboard"]
    cmd += ["--logdir", str(logdir), "--host", "127.0.0.1", "--port", "0"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    lines = []
    found = threading.Event()
    url = {}

    def read():
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace")
            lines.append(line)
            m = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
            if m and not found.is_set():
                url["base"] = m.group(1)
                found.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        if not found.wait(90):
            pytest.fail("tensorboard did not start:\n" + "".join(lines[-30:]))
        base = url["base"]
        deadline = time.time() + 60
        runs = []
        while time.time() < deadline:
            try:
                runs = [
                    r["run"] for r in _get_json(base + "/data/plugin/learning_rate/runs")["runs"]
                ]
            except OSError:
                runs = []
            if {"plateau", HOSTILE, "finder"} <= set(runs):
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"the runs never appeared in the runs route: {runs}")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def report(node, tensorboard):
    out = ["--url", tensorboard, "--out", str(ARTIFACTS)]
    return drive(node, "drive_tab.mjs", *out, timeout=180, artifact="browser-report.json")


def _step(report, name):
    if name not in report["steps"]:
        pytest.fail(f"the browser never got to {name!r}: {report.get('error')}")
    return report


def test_tab_opens_at_learning_rate(report):
    _step(report, "open")
    assert report["url"].endswith("/#learning_rate")
    assert "plugin_entry.html?name=learning_rate" in report["frameUrl"]
    assert report["initial"]["state"] == "ready"


def test_the_first_request_leaves_before_the_tabs_code_has_loaded(report):
    """index.js sends the first `view` (with the listing) from its first line;
    the tab (static/app.js) adopts it instead of asking again."""
    requests = _step(report, "open")["requests"]
    start = {name.split("?")[0]: (begin, end) for name, begin, end in reversed(requests)}
    firsts = [name for name, _, _ in requests if name.startswith("view?") and "listing=1" in name]
    assert len(firsts) == 1, requests
    assert start["index.js"][1] <= start["view"][0] < start["app.js"][1], requests


def test_both_charts_draw(report):
    initial = _step(report, "open")["initial"]
    assert initial["loss"]["ink"] > 1000, "the loss canvas is empty"
    assert initial["lr"]["ink"] > 1000, "the learning-rate canvas is empty"
    assert initial["loss"]["range"] == initial["lr"]["range"]


def test_one_marker_per_reduction_in_the_events_route(report):
    _step(report, "routes")
    assert report["reductions"] >= 1, "the training should have reduced the LR"
    assert report["initial"]["reductionMarkers"] == report["reductions"]


def test_one_table_row_per_event(report):
    _step(report, "routes")
    assert report["events"] > report["reductions"], "cooldown and floor events expected too"
    assert report["initial"]["eventRows"] == report["events"]


def test_clicking_a_row_zooms_both_charts(report):
    _step(report, "rowClick")
    before, after = report["rangeBefore"], report["rangeAfter"]
    assert after != before
    assert after[1] - after[0] < before[1] - before[0]
    assert report["lrRangeAfter"] == after


def test_refresh_keeps_the_zoom(report):
    _step(report, "refresh")
    assert report["rangeAfterRefresh"] == report["rangeBeforeRefresh"]
    assert report["drawsAfterRefresh"] > report["drawsBeforeRefresh"]


def test_tensorboard_reload_button_reloads_the_tab_keeping_the_zoom(report):
    _step(report, "tbReload")
    assert report["drawsAfterTbReload"] > report["drawsBeforeTbReload"]
    assert report["rangeAfterTbReload"] == report["rangeBeforeRefresh"]


def test_epoch_axis(report):
    view = _step(report, "epochAxis")["epochAxis"]
    assert view["axis"] == "epoch"
    assert view["loss"]["ink"] > 1000 and view["lr"]["ink"] > 1000
    lo, hi = view["loss"]["range"]
    assert 0 <= lo < 1 and 5 <= hi <= 30, (lo, hi)  # epochs completed: the first ends at 1
    assert view["reductionMarkers"] == report["reductions"]


def test_finder_chart_draws_and_shows_the_routes_suggestions(report):
    if "finder" not in report["steps"]:
        pytest.fail(f"the finder chart was not checked: {report.get('finderError')}")
    finder = report["finder"]
    assert finder["ink"] > 1000, "the range-test canvas is empty"
    assert finder["points"] >= 20
    for kind in ("valley", "steepest"):
        value = finder["route"][kind]
        assert value is not None and 1e-4 <= value <= 1.0, (kind, value)
        assert finder["text"][kind] == finder["formatted"][kind], kind
        assert f"{kind} {finder['formatted'][kind]}" in finder["markers"]
    assert len(finder["markers"]) == 2
    assert report["runsFinder"] == {"finder": 1, "plateau": 0, HOSTILE: 0}


def test_hostile_run_name_renders_as_text(report):
    hostile = _step(report, "hostile")["hostile"]
    assert HOSTILE in report["runs"]
    assert HOSTILE in hostile["runNames"]
    assert hostile["legendHasName"]
    assert hostile["imgCount"] == 0
    assert report["dialogs"] == []


def test_no_console_errors(report):
    _step(report, "dark")
    assert report["pageErrors"] == []
    assert report["consoleErrors"] == []


def test_light_and_dark_screenshots(report):
    _step(report, "dark")
    assert report["hostDark"] and report["dark"]
    for name in ("tab-light.png", "tab-dark.png"):
        path = ARTIFACTS / name
        assert path.is_file() and path.stat().st_size > 10_000, path


def test_route_answers_are_url_safe_for_the_hostile_run(tensorboard):
    run = urllib.parse.quote(HOSTILE, safe="")
    events = _get_json(f"{tensorboard}/data/plugin/learning_rate/events?run={run}")
    assert any(e["kind"] == "reduction" for e in events["events"])
