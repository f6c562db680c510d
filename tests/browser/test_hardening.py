"""Hostile names and a 500-run logdir, in real headless Chromium against real TensorBoard.

Names: run, optimizer and metric names made of HTML, script, quotes,
control characters and template syntax, up to 1 KB long, written for real
(a Keras training whose optimizer, metric and monitored metric are named
with markup, and runs written with `EventWriter`). They are stored,
served as escaped JSON (no raw `<` in any answer) and shown by the tab as
text: every name reads back exactly, the run list's tooltips equal the
names, and no dialog opens, no element or event handler is injected and no
payload script runs, in the tab's frame or in TensorBoard's page.

Load: 500 small runs. The tab draws, the run filter narrows the list as
one types, a filtered run can be selected and drawn, all within bounds,
and the memory (RSS) of the TensorBoard process and its data server is
printed.

`drive_checks.mjs` drives Chromium (playwright-core, Debian's chromium).
Needs the built bundle, frontend/node_modules and /usr/bin/chromium; missing
any of them skips the module on a workstation and fails it in CI.
"""

import json
import os
import time
import urllib.parse

import numpy as np
import pytest
from chromium import drive
from chromium import node as _node
from conftest import TensorBoardProcess, write_run

from tb_lr_plugin import metadata
from tb_lr_plugin.summary import EventWriter

node = _node  # the fixture, for this module's tests
pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore::DeprecationWarning:keras.*"),
]

# Written by a real Keras training.
TRAINED_RUN = "<script>window.__pwned='run';alert('run')</script>"  # a "/" makes two dirs
# TensorFlow refuses markup in an optimizer's name (it becomes a name scope:
# only [A-Za-z0-9_.-]); the EventWriter runs carry markup optimizer names.
TRAINED_OPTIMIZER = "adam"
TRAINED_METRIC = "<b class=pwn onclick=alert(2)>mae\"'"
# Written with EventWriter.
CONTROL_RUN = "ctl\x01\x02\x07\x1b[31m red\x7f\u0085\u2028\u202eevil\ttab"
LONG_RUN = "/".join(
    [
        "<i class=pwn onmouseover=alert(3)>" + "L" * 200,
        "\"'`&amp;&lt;b&gt;%3Cscript%3E" + "M" * 220,
        "<svg onload=alert(4) class=pwn>" + "N" * 220,
        "{{constructor.constructor('window.__pwned=5')()}}${alert(6)}" + "P" * 190,
        "javascript:alert(10)" + "Q" * 40,
    ]
)
LONG_OPTIMIZER = "<img src=x onerror=alert(7) class=pwn>" + "O" * 1000
QUOTE_OPTIMIZER = "\"'`<>& new\nline\x1b"
LONG_METRIC = "<svg onload=alert(8) class=pwn>" + "m" * 1000
MONITOR = "val_<img src=x onerror=alert(9) class=pwn>"
RUNS = sorted([TRAINED_RUN, CONTROL_RUN, LONG_RUN])

MANY = 500
FILTER = "exp07/run37"
PICK = "exp07/run375"


def _drive(node, url, scenario, *args):
    report = drive(
        node,
        "drive_checks.mjs",
        *("--scenario", scenario, "--url", url, *args),
        timeout=240,
        artifact=f"browser-{scenario}.json",
    )
    assert report["ok"], report.get("error")
    return report


def _wait_for_runs(tb, expected, timeout=120):
    deadline = time.time() + timeout
    names = set()
    while time.time() < deadline:
        status, _, body = tb.get("runs", timeout=60)
        names = {r["run"] for r in json.loads(body)["runs"]} if status == 200 else set()
        if names >= set(expected):
            return
        time.sleep(0.5)
    raise AssertionError(f"{len(names)} runs listed, {len(expected)} expected")


# -- hostile names ---------------------------------------------------------------------------


def _train(run_dir):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    from tb_lr_plugin.callbacks import LearningRateLogger, ReduceLROnPlateau

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5], [0.0]])).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss="mse",
        metrics=[keras.metrics.MeanAbsoluteError(name=TRAINED_METRIC)],
    )
    model.fit(
        x,
        y,
        batch_size=16,
        epochs=5,
        validation_split=0.25,
        verbose=0,
        callbacks=[
            # min_delta too large to meet: a reduction every second epoch.
            ReduceLROnPlateau(monitor="val_" + TRAINED_METRIC, patience=1, min_delta=1e9),
            LearningRateLogger(str(run_dir)),
        ],
    )


def _write_named(run_dir, optimizers, metric, monitor, steps=40, epochs=4):
    writer = EventWriter(run_dir)
    per = steps // epochs
    for epoch in range(epochs):
        s = np.arange(epoch * per + 1, (epoch + 1) * per + 1, dtype=np.float64)
        for k, name in enumerate(optimizers):
            lr = 0.1 * (k + 1) * (0.5 if epoch >= 2 else 1.0)
            rows = np.stack([s, np.full_like(s, 0.1 * (k + 1)), np.full_like(s, lr)], axis=1)
            writer.add_array(metadata.KIND_LR, metadata.lr_tag(name), rows, optimizer=name)
        loss = np.stack([s, 1.0 / s], axis=1)
        writer.add_array(metadata.KIND_BATCH, metadata.batch_tag(metric), loss, metric=metric)
        last = int(s[-1])
        logs = {"loss": 1.0 / last, "val_loss": 2.0 / last, metric: 0.5, "val_" + metric: 0.7}
        item = {"epoch": epoch, "step": last, "logs": logs}
        writer.add_json(metadata.KIND_EPOCHS, metadata.TAG_EPOCHS, [item], last)
        if epoch == 1:
            event = {
                "kind": "reduction",
                "epoch": epoch,
                "step": last,
                "optimizer": optimizers[0],
                "monitor": monitor,
                "value": 0.7,
                "best": 0.7,
                "wait": 1,
                "patience": 1,
                "old_lr": 0.1,
                "new_lr": 0.05,
                "factor": 0.5,
                "min_lr": 0.0,
                "cooldown": 0,
            }
            writer.add_json(metadata.KIND_EVENTS, metadata.TAG_EVENTS, [event], last)
        writer.flush()
    writer.close()


@pytest.fixture(scope="module")
def names_server(node, tmp_path_factory):
    logdir = tmp_path_factory.mktemp("names")
    _train(logdir.joinpath(*TRAINED_RUN.split("/")))
    _write_named(logdir / CONTROL_RUN, [QUOTE_OPTIMIZER], LONG_METRIC, "val_" + LONG_METRIC)
    _write_named(logdir.joinpath(*LONG_RUN.split("/")), [LONG_OPTIMIZER, "adam"], "loss", MONITOR)
    tb = TensorBoardProcess(logdir)
    try:
        _wait_for_runs(tb, RUNS)
        yield tb
    finally:
        tb.stop()


@pytest.fixture(scope="module")
def names_report(node, names_server):
    return _drive(node, names_server.url, "names")


def test_names_are_stored_and_served_exactly_as_escaped_json(names_server):
    tb = names_server
    status, _, body = tb.get("runs")
    assert b"<" not in body
    runs = {r["run"]: r for r in json.loads(body)["runs"]}
    assert sorted(runs) == RUNS
    assert runs[TRAINED_RUN]["optimizers"] == [TRAINED_OPTIMIZER]
    assert runs[CONTROL_RUN]["optimizers"] == [QUOTE_OPTIMIZER]
    assert sorted(runs[LONG_RUN]["optimizers"]) == sorted([LONG_OPTIMIZER, "adam"])
    assert min(len(LONG_RUN), len(LONG_OPTIMIZER), len(LONG_METRIC)) >= 1024
    for run in RUNS:
        for route in ("lr", "events", "loss", "audit", "finder", "export"):
            status, headers, body = tb.get(route, run=run)
            assert status == 200 and headers["Content-Type"].startswith("application/json")
            assert b"<" not in body, (route, body[:200])
    series = {s["name"] for s in json.loads(tb.get("loss", run=TRAINED_RUN)[2])["series"]}
    assert {TRAINED_METRIC, "val_" + TRAINED_METRIC} <= series
    series = {s["name"] for s in json.loads(tb.get("loss", run=CONTROL_RUN)[2])["series"]}
    assert {"batch_" + LONG_METRIC, LONG_METRIC, "val_" + LONG_METRIC} <= series
    events = json.loads(tb.get("events", run=TRAINED_RUN)[2])["events"]
    assert any(e.get("monitor") == "val_" + TRAINED_METRIC for e in events)
    # The CSV download's file name is made safe; the header stays valid.
    status, headers, _ = tb.get("export", run=LONG_RUN, format="csv")
    assert status == 200 and headers["Content-Disposition"].isascii()
    assert '"' not in headers["Content-Disposition"].split('filename="', 1)[1][:-1]


def test_no_script_runs_and_nothing_is_injected(names_report):
    assert names_report["dialogs"] == []
    assert names_report["pageErrors"] == []
    assert names_report["consoleErrors"] == []
    for where in ("frame", "top"):
        injected = names_report["injected"][where]
        assert injected == {
            "pwned": None,
            "pwnElements": 0,
            "handlerAttributes": 0,
            "payloadScripts": 0,
            "images": 0,
        }, where
    assert "pwn" not in names_report["topTitle"]


def test_run_names_read_back_exactly_with_titles_equal_to_the_names(names_report):
    shown = names_report["shown"]
    assert sorted(n["text"] for n in shown["runNames"]) == RUNS
    assert all(n["title"] == n["text"] for n in shown["runNames"])
    assert sorted(shown["exportNames"]) == RUNS
    for href in shown["exportHrefs"]:
        parsed = urllib.parse.urlsplit(href)
        assert parsed.scheme == "http" and parsed.path.endswith("/data/plugin/learning_rate/export")
        assert urllib.parse.parse_qs(parsed.query)["run"][0] in RUNS


def test_optimizer_metric_and_monitor_names_are_text(names_report):
    shown = names_report["shown"]
    legend = "\n".join(shown["legend"])
    for name in (QUOTE_OPTIMIZER, LONG_OPTIMIZER, TRAINED_METRIC, LONG_METRIC):
        assert name in legend, name[:60]
    cells = set(shown["tableText"])
    assert {MONITOR, "val_" + TRAINED_METRIC, "val_" + LONG_METRIC} <= cells


# -- 500 runs ------------------------------------------------------------------------------


def _rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def tensorboard_rss(pid):
    """`(tensorboard MB, [data server MB, ...])`: RSS of the process and its children."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = [int(c) for c in f.read().split()]
    except OSError:
        children = []
    return _rss_mb(pid), [_rss_mb(c) for c in children]


@pytest.fixture(scope="module")
def baseline_rss(node, tmp_path_factory):
    """RSS of a TensorBoard serving an empty logdir, after one `runs` request."""
    tb = TensorBoardProcess(tmp_path_factory.mktemp("empty"))
    try:
        assert tb.get("runs")[0] == 200
        time.sleep(1)
        return tensorboard_rss(tb.proc.pid)
    finally:
        tb.stop()


@pytest.fixture(scope="module")
def many_server(node, baseline_rss, tmp_path_factory):
    logdir = tmp_path_factory.mktemp("many")
    start = time.monotonic()
    names = []
    for i in range(MANY):
        name = f"exp{i // 50:02d}/run{i:03d}"
        write_run(logdir / name, steps=40, epochs=2, reductions=(0,) if i % 3 == 0 else ())
        names.append(name)
    written = time.monotonic() - start
    tb = TensorBoardProcess(logdir)
    try:
        start = time.monotonic()
        _wait_for_runs(tb, names)
        listed = time.monotonic() - start
        yield tb, {"written_s": written, "listed_s": listed}
    finally:
        tb.stop()


def test_five_hundred_runs_load_filter_and_select(node, many_server, baseline_rss):
    tb, figures = many_server
    start = time.monotonic()
    status, _, body = tb.get("runs")
    runs_ms = 1000 * (time.monotonic() - start)
    assert status == 200 and len(json.loads(body)["runs"]) == MANY

    report = _drive(node, tb.url, "many", "--filter", FILTER, "--pick", PICK)
    tb_mb, server_mb = tensorboard_rss(tb.proc.pid)
    t = report["timings"]
    print(
        f"\n{MANY} runs: written in {figures['written_s']:.1f} s, all listed "
        f"{figures['listed_s']:.1f} s after start; runs route (cached) {runs_ms:.0f} ms, "
        f"{len(body) / 1e3:.0f} KB. Tab: first draw {t['firstDrawMs']} ms, typing "
        f"{len(FILTER)} keys {t['typingMs']} ms, list filtered {t['filterAfterLastKeyMs']} ms "
        f"after the last key, selection drawn in {t['selectMs']} ms, filter cleared in "
        f"{t['clearMs']} ms. RSS: tensorboard {tb_mb:.0f} MB, data server "
        f"{' + '.join(f'{m:.0f}' for m in server_mb) or '-'} MB; with an empty logdir "
        f"{baseline_rss[0]:.0f} MB and {' + '.join(f'{m:.0f}' for m in baseline_rss[1]) or '-'} MB."
    )
    assert report["pageErrors"] == [] and report["dialogs"] == []
    assert report["initial"]["rows"] == MANY and report["initial"]["visible"] == MANY
    assert len(report["initial"]["checked"]) == 10  # the tab's default selection: the first 10
    filtered = report["filtered"]
    assert filtered["visibleRuns"] == [f"exp07/run{i}" for i in range(370, 380)]
    assert "10 of 500 shown" in filtered["count"]
    assert PICK in report["picked"]["checked"] and report["picked"]["legendHasPick"]
    assert "11 selected" in report["picked"]["count"]
    assert report["cleared"]["visible"] == MANY
    # Bounded: usable on a shared 2-core machine.
    assert t["firstDrawMs"] < 30_000
    assert t["filterAfterLastKeyMs"] < 2_000
    assert t["selectMs"] < 10_000
    assert runs_ms < 1_000
