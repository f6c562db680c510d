"""The plugin inside the real TensorBoard WSGI app (Python loader).

Runs are written with the real `EventWriter` into a temp logdir, read back
through TensorBoard's data provider, and requested with werkzeug's test
client. The real `tensorboard` command is exercised in
test_plugin_server.py.
"""

import argparse
import csv
import io
import json
import math
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from conftest import InProcessTensorBoard, write_corrupt_run, write_run, write_scalars
from tensorboard.plugins import base_plugin

from tb_lr_plugin import metadata
from tb_lr_plugin import plugin as lr_plugin
from tb_lr_plugin.event_writer import EventWriter
from tb_lr_plugin.plugin import LearningRateLoader, LearningRatePlugin

ROUTES = ("lr", "events", "loss", "audit", "export")


def body(response):
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    return json.loads(response.data)


def assert_json_error(response, status):
    assert response.status_code == status, response.data
    data = body(response)
    assert set(data) == {"error"} and isinstance(data["error"], str)
    assert "Traceback" not in data["error"] and 'File "' not in data["error"]
    return data["error"]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """A 6000-step, 60-epoch run with 3 reductions, served (read-only tests)."""
    logdir = tmp_path_factory.mktemp("app")
    spec, _ = write_run(logdir / "run1", steps=6000, epochs=60, reductions=(10, 25, 40))
    tb = InProcessTensorBoard(logdir)
    tb.spec = spec
    return tb


# The loader and the tab's registration.


def test_loader_keeps_every_record_of_the_plugin_by_default():
    flags = argparse.Namespace(samples_per_plugin={"images": 3})
    LearningRateLoader().fix_flags(flags)
    assert flags.samples_per_plugin == {"images": 3, "learning_rate": 0}


def test_loader_respects_the_users_choice_and_parses_strings():
    flags = argparse.Namespace(samples_per_plugin={"learning_rate": 50})
    LearningRateLoader().fix_flags(flags)
    assert flags.samples_per_plugin == {"learning_rate": 50}
    flags = argparse.Namespace(samples_per_plugin="scalars=10, learning_rate=7")
    LearningRateLoader().fix_flags(flags)
    assert flags.samples_per_plugin == {"scalars": 10, "learning_rate": 7}
    flags = argparse.Namespace(samples_per_plugin="")
    LearningRateLoader().fix_flags(flags)
    assert flags.samples_per_plugin == {"learning_rate": 0}
    with pytest.raises(base_plugin.FlagsError):
        LearningRateLoader().fix_flags(argparse.Namespace(samples_per_plugin="images"))


def test_loader_flag_fix_reaches_tensorboards_parsed_flags(logdir, tensorboard_app):
    tb = tensorboard_app(logdir)
    assert tb.tb.flags.samples_per_plugin["learning_rate"] == 0


def test_entry_point_names_the_loader():
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="tensorboard_plugins") if e.name == "learning_rate"]
    assert ep.load() is LearningRateLoader


def test_tab_is_listed_as_an_es_module_named_learning_rate(app):
    listing = json.loads(app.client.get("/data/plugins_listing").data)
    entry = listing["learning_rate"]
    assert entry["enabled"] is True
    assert entry["tab_name"] == "Learning Rate"
    assert entry["loading_mechanism"] == {
        "type": "IFRAME",
        "module_path": "/data/plugin/learning_rate/index.js",
    }


def test_tab_is_disabled_without_data_and_enabled_by_keras_lr_alone(logdir, tensorboard_app):
    tb = tensorboard_app(logdir)
    listing = json.loads(tb.client.get("/data/plugins_listing").data)
    assert listing["learning_rate"]["enabled"] is False
    write_scalars(logdir / "k" / "train", {"epoch_learning_rate": [(0, 1e-3)]})
    tb.reload()
    listing = json.loads(tb.client.get("/data/plugins_listing").data)
    assert listing["learning_rate"]["enabled"] is True


def test_the_plugin_imports_neither_tensorflow_nor_keras():
    code = (
        "import sys, tb_lr_plugin.plugin; "
        "sys.exit(bool({'tensorflow', 'keras'} & set(sys.modules)))"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_plugin_works_without_a_data_provider():
    plugin = LearningRatePlugin(base_plugin.TBContext())
    assert plugin.is_active() is False


# Routes.


def test_runs_lists_logger_and_keras_only_runs(logdir, tensorboard_app):
    write_run(logdir / "a", steps=120, epochs=4, optimizers=("gen", "disc"), reductions=(1,))
    write_scalars(
        logdir / "k" / "train",
        {"epoch_learning_rate": [(0, 1e-3), (1, 1e-3), (2, 5e-4)], "epoch_loss": [(0, 1.0)]},
    )
    write_scalars(logdir / "plain" / "train", {"epoch_loss": [(0, 1.0)]})
    tb = tensorboard_app(logdir)
    r = tb.get("runs")
    assert r.status_code == 200
    runs = body(r)["runs"]
    assert runs == [
        {
            "run": "a",
            "optimizers": ["gen", "disc"],
            "source": "logger",
            "limits": [],
            "steps": 120,
            "epochs": 4,
            "events": 2,
            "finder": 0,
        },
        {
            "run": "k",
            "optimizers": ["learning_rate"],
            "source": "keras",
            "limits": [
                "planned LR not recorded",
                "LR changes inferred from the data",
                "epochs not placed on steps",
            ],
            "steps": None,
            "epochs": 3,
            "events": 1,
            "finder": 0,
        },
    ]


def test_logdir_root_run_and_its_keras_siblings(logdir, tensorboard_app):
    write_run(logdir, steps=60, epochs=3, reductions=())
    write_scalars(logdir / "train", {"epoch_loss": [(0, 3.0), (1, 2.0), (2, 1.0)]})
    tb = tensorboard_app(logdir)
    runs = body(tb.get("runs"))["runs"]
    assert [r["run"] for r in runs] == ["."]
    loss = body(tb.get("loss", run="."))
    keras_loss = [s for s in loss["series"] if s["source"] == "keras"]
    # The logger's own epoch `loss` wins; Keras's adds nothing new here.
    assert not keras_loss


def test_lr_is_columnar_downsampled_and_keeps_change_points_and_events(app):
    r = app.get("lr", run="run1")
    assert r.status_code == 200
    data = body(r)
    assert data["run"] == "run1" and data["source"] == "logger" and data["axis"] == "step"
    assert data["points"] == 6000
    (opt,) = data["optimizers"]
    assert opt["name"] == "adam"
    assert len(opt["step"]) == len(opt["planned"]) == len(opt["actual"])
    assert data["downsampled"] is True and len(opt["step"]) <= 2000
    assert opt["step"][0] == 1 and opt["step"][-1] == 6000
    assert opt["step"] == sorted(opt["step"])
    rows = app.spec.lr["adam"]
    by_step = dict(zip(opt["step"], opt["actual"], strict=True))
    for event in app.spec.events:
        s = event["step"]
        assert s in by_step and s + 1 in by_step
        # The drop is drawn exactly at the event: old LR at s, new at s + 1.
        assert by_step[s + 1] == pytest.approx(by_step[s] * 0.5, rel=1e-2)
    for s, a in by_step.items():
        assert float(np.float32(a)) == rows[s - 1, 2]
    assert data["epochs"]["epoch"] == list(range(60))
    assert data["epochs"]["step"] == [100 * (e + 1) for e in range(60)]


def test_short_run_is_not_downsampled(logdir, tensorboard_app):
    spec, _ = write_run(logdir / "short", steps=300, epochs=3)
    tb = tensorboard_app(logdir)
    data = body(tb.get("lr", run="short"))
    assert data["downsampled"] is False
    (opt,) = data["optimizers"]
    assert opt["step"] == list(range(1, 301))
    assert np.array_equal(np.float32(opt["planned"]), np.float32(spec.lr["adam"][:, 1]))


def test_events_are_every_event_sorted_by_step(app):
    data = body(app.get("events", run="run1"))
    assert data["events"] == app.spec.events
    assert [e["step"] for e in data["events"]] == sorted(e["step"] for e in data["events"])


def test_loss_has_batch_and_epoch_series_on_one_step_axis(logdir, tensorboard_app):
    spec, _ = write_run(logdir / "r", steps=400, epochs=4, reductions=(1,))
    write_scalars(
        logdir / "r" / "train",
        {"epoch_accuracy": [(e, 0.5 + 0.1 * e) for e in range(4)], "epoch_learning_rate": []},
    )
    write_scalars(logdir / "r" / "validation", {"epoch_accuracy": [(e, 0.4) for e in range(4)]})
    tb = tensorboard_app(logdir)
    data = body(tb.get("loss", run="r"))
    assert data["monitor"] == "val_loss"
    assert data["epochs"] == {"epoch": [0, 1, 2, 3], "step": [100, 200, 300, 400]}
    series = {s["name"]: s for s in data["series"]}
    assert set(series) == {"batch_loss", "loss", "val_loss", "accuracy", "val_accuracy"}
    batch = series["batch_loss"]
    assert (batch["source"], batch["resolution"]) == ("logger", "step")
    assert batch["step"] == list(range(1, 401))
    assert "epoch" not in batch
    np.testing.assert_allclose(batch["value"], spec.loss[:, 1], rtol=1e-6)
    acc = series["accuracy"]
    assert (acc["source"], acc["resolution"]) == ("keras", "epoch")
    assert acc["epoch"] == [0, 1, 2, 3] and acc["step"] == [100, 200, 300, 400]
    assert acc["value"] == pytest.approx([0.5, 0.6, 0.7, 0.8])
    assert series["val_loss"]["value"] == pytest.approx([1, 1 / 2, 1 / 3, 1 / 4])


def test_keras_only_run_is_served_from_kerass_scalars(logdir, tensorboard_app):
    lr = [1e-3, 1e-3, 1e-3, 5e-4, 5e-4]
    val = [1.0, 0.9, 0.9, 0.95, 0.8]
    write_scalars(
        logdir / "k" / "train",
        {
            "epoch_learning_rate": list(enumerate(lr)),
            "epoch_loss": [(e, 1.0 - 0.1 * e) for e in range(5)],
        },
    )
    write_scalars(
        logdir / "k" / "validation",
        {
            "epoch_loss": list(enumerate(val)),
            "evaluation_loss_vs_iterations": [(10 * (e + 1), v) for e, v in enumerate(val)],
        },
    )
    tb = tensorboard_app(logdir)
    (run,) = body(tb.get("runs"))["runs"]
    assert run["source"] == "keras" and run["steps"] == 50 and run["epochs"] == 5
    data = body(tb.get("lr", run="k"))
    assert data["axis"] == "step"
    (opt,) = data["optimizers"]
    assert opt["step"] == [10, 20, 30, 40, 50]
    assert opt["planned"] == [None] * 5
    assert opt["actual"] == pytest.approx(lr)
    events = body(tb.get("events", run="k"))["events"]
    assert [e["kind"] for e in events] == ["lr_change"]
    assert events[0]["new_lr"] == pytest.approx(5e-4)
    series = {s["name"]: s for s in body(tb.get("loss", run="k"))["series"]}
    assert series["val_loss"]["step"] == [10, 20, 30, 40, 50]
    assert series["loss"]["source"] == "keras"
    assert isinstance(body(tb.get("audit", run="k"))["findings"], list)
    text = tb.get("export", run="k", format="csv").data.decode()
    assert text.splitlines()[1] == "k,learning_rate,10,,0.0010000000474974513"


def test_keras_only_run_without_steps_uses_an_epoch_axis(logdir, tensorboard_app):
    write_scalars(logdir / "k" / "train", {"epoch_learning_rate": [(0, 0.1), (1, 0.1)]})
    tb = tensorboard_app(logdir)
    data = body(tb.get("lr", run="k"))
    assert data["axis"] == "epoch"
    assert data["optimizers"][0]["step"] == [0, 1]


def test_audit_returns_findings(app):
    data = body(app.get("audit", run="run1"))
    assert set(data) == {"findings"} and isinstance(data["findings"], list)
    for finding in data["findings"]:
        assert {"kind", "severity", "epoch", "step", "message"} <= set(finding)


def test_export_csv_is_every_row_exactly(app):
    r = app.get("export", run="run1", format="csv")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in r.headers["Content-Disposition"]
    text = r.data.decode("utf-8")
    lines = text.splitlines()
    assert lines[0] == "run,optimizer,step,planned,actual"
    rows = app.spec.lr["adam"]
    assert len(lines) == 1 + len(rows)
    parsed = np.array([[float(x) for x in ln.split(",")[2:]] for ln in lines[1:]])
    assert np.array_equal(parsed, rows)  # repr round-trips float64 exactly
    assert lines[1] == f"run1,adam,1,{float(rows[0, 1])!r},{float(rows[0, 2])!r}"


def test_export_json_is_every_row_and_event(app):
    for query in ({"run": "run1"}, {"run": "run1", "format": "json"}):
        data = body(app.get("export", **query))
        assert data["run"] == "run1"
        opt = data["optimizers"]["adam"]
        rows = app.spec.lr["adam"]
        assert opt["step"] == rows[:, 0].astype(int).tolist()
        assert opt["planned"] == rows[:, 1].tolist()
        assert opt["actual"] == rows[:, 2].tolist()
        assert data["events"] == app.spec.events


def test_several_optimizers_are_separate_series(logdir, tensorboard_app):
    spec, _ = write_run(logdir / "gan", steps=200, epochs=2, optimizers=("gen", "disc"))
    tb = tensorboard_app(logdir)
    data = body(tb.get("lr", run="gan"))
    assert [o["name"] for o in data["optimizers"]] == ["gen", "disc"]
    assert data["points"] == 400
    lines = tb.get("export", run="gan", format="csv").data.decode().splitlines()
    assert len(lines) == 401
    assert {ln.split(",")[1] for ln in lines[1:]} == {"gen", "disc"}


def test_non_finite_values_are_json_null(logdir, tensorboard_app):
    w = EventWriter(logdir / "nan")
    rows = [[1, 0.1, 0.1], [2, float("nan"), 0.1], [3, float("inf"), float("-inf")]]
    w.add_array(metadata.KIND_LR, "lr/sgd", rows, optimizer="sgd")
    w.add_array(metadata.KIND_BATCH, "batch/loss", [[1, 1.0], [2, float("nan")]], metric="loss")
    item = {"epoch": 0, "step": 3, "logs": {"loss": float("nan"), "val_loss": None}}
    w.add_json(metadata.KIND_EPOCHS, "epochs", [item], 3)
    event = {"kind": "lr_change", "epoch": 0, "step": 2, "old_lr": 0.1, "new_lr": float("nan")}
    w.add_json(metadata.KIND_EVENTS, "events", [event], 2)
    w.close()
    tb = tensorboard_app(logdir)
    for route in ROUTES:
        r = tb.get(route, run="nan")
        assert r.status_code == 200, r.data
        text = r.data.decode()
        assert "NaN" not in text and "Infinity" not in text
        json.loads(text)  # strict JSON
    (opt,) = body(tb.get("lr", run="nan"))["optimizers"]
    assert opt["planned"] == [0.1, None, None] and opt["actual"] == [0.1, 0.1, None]
    assert body(tb.get("events", run="nan"))["events"][0]["new_lr"] is None
    csv_lines = tb.get("export", run="nan", format="csv").data.decode().splitlines()
    assert csv_lines[3] == "nan,sgd,3,inf,-inf"


# Live data.


def test_new_data_is_served_after_a_reload(logdir, tensorboard_app):
    spec, writer = write_run(logdir / "live", steps=100, epochs=2, reductions=(), close=False)
    tb = tensorboard_app(logdir)
    assert body(tb.get("lr", run="live"))["points"] == 100
    assert body(tb.get("events", run="live"))["events"] == []
    write_run(
        logdir / "live",
        steps=100,
        epochs=2,
        reductions=(0,),
        start_step=101,
        start_epoch=2,
        writer=writer,
    )
    assert body(tb.get("lr", run="live"))["points"] == 100  # not reloaded yet
    tb.reload()
    data = body(tb.get("lr", run="live"))
    assert data["points"] == 200 and data["optimizers"][0]["step"][-1] == 200
    assert [e["step"] for e in body(tb.get("events", run="live"))["events"]] == [150, 150]
    assert len(body(tb.get("runs"))["runs"]) == 1


def test_repeated_requests_reuse_the_assembled_run(app, monkeypatch):
    app.get("lr", run="run1")
    calls = []
    from tb_lr_plugin import run_data

    monkeypatch.setattr(run_data, "assemble", lambda *a: calls.append(a))
    for route in ROUTES:
        assert app.get(route, run="run1").status_code == 200
    assert calls == []


def test_reads_answers_and_exports_are_built_on_one_thread(logdir, tensorboard_app, monkeypatch):
    """TensorBoard answers each request on a new thread, and glibc gives
    threads their own heaps, each keeping its high-water mark. The large,
    short-lived work (reading a run, an answer, an export) is done on the
    reader's one thread, so TensorBoard's memory does not follow the size
    of a growing run (`make soak`)."""
    from tb_lr_plugin import answers, responses, run_data

    for i in range(3):
        write_run(logdir / f"run{i}", steps=300, epochs=3)
    tb = tensorboard_app(logdir)
    built = {"read": set(), "answer": set(), "export": set()}

    def spy(kind, fn):
        def on_thread(*args, **kwargs):
            built[kind].add(threading.get_ident())
            return fn(*args, **kwargs)

        return on_thread

    monkeypatch.setattr(run_data, "assemble", spy("read", run_data.assemble))
    monkeypatch.setattr(responses, "dumps", spy("answer", responses.dumps))
    monkeypatch.setattr(answers, "export_body", spy("export", answers.export_body))
    requesters, statuses = set(), []

    def client(i):
        requesters.add(threading.get_ident())
        for route in ROUTES:
            query = {"format": "csv"} if route == "export" else {}
            statuses.append(tb.get(route, run=f"run{i % 3}", **query).status_code)

    clients = [threading.Thread(target=client, args=(i,)) for i in range(6)]
    for c in clients:
        c.start()
    for c in clients:
        c.join()

    assert statuses == [200] * 6 * len(ROUTES)
    assert all(len(threads) == 1 for threads in built.values()), built
    assert built["read"] == built["answer"] == built["export"]
    assert not built["read"] & requesters


# Bad input: JSON errors, never a stack trace.


@pytest.mark.parametrize("route", ROUTES)
def test_unknown_run_is_a_json_404(app, route):
    error = assert_json_error(app.get(route, run="no such run"), 404)
    assert "'no such run'" in error


@pytest.mark.parametrize("route", ROUTES)
def test_missing_or_empty_run_is_a_json_400(app, route):
    assert "'run'" in assert_json_error(app.get(route), 400)
    assert_json_error(app.get(route, run=""), 400)


@pytest.mark.parametrize(
    "query",
    [
        "run=run1&run=run1",
        "run=run1&foo=1",
        "run=run1&format=csv&format=json",
        "run=run1&Run=x",
        "run",
    ],
)
def test_malformed_queries_are_json_400(app, query):
    r = app.client.get("/data/plugin/learning_rate/export?" + query)
    assert_json_error(r, 400)


def test_runs_takes_no_parameters(app):
    assert_json_error(app.get("runs", run="run1"), 400)


@pytest.mark.parametrize("fmt", ["xml", "", "CSV", "csv "])
def test_unknown_export_format_is_a_json_400(app, fmt):
    error = assert_json_error(app.get("export", run="run1", format=fmt), 400)
    assert repr(fmt) in error


def test_other_methods_are_refused_as_json(app):
    r = app.client.post("/data/plugin/learning_rate/lr?run=run1")
    assert_json_error(r, 405)


def test_unexpected_errors_are_a_json_500_without_internals(app, monkeypatch, caplog):
    def boom(*args, **kwargs):
        raise RuntimeError("secret /home/me/path details")

    monkeypatch.setattr(app.ingester.data_provider, "list_tensors", boom)
    for route in ("runs",) + ROUTES:
        r = app.get(route, run="run1") if route != "runs" else app.get(route)
        error = assert_json_error(r, 500)
        assert "secret" not in error
    assert "secret /home/me/path details" in caplog.text


HOSTILE_NAMES = [
    "<script>alert(1)</script>",
    "quote\"d 'run'",
    "ünïcödé 学习率 🚀",
    "with/slashes/deep",
    "comma, and space",
    "amp&semi;=?#",
]


def test_hostile_run_names_round_trip(logdir, tensorboard_app):
    for name in HOSTILE_NAMES:
        write_run(logdir / name, steps=30, epochs=3, reductions=(1,))
    tb = tensorboard_app(logdir)
    r = tb.get("runs")
    assert b"<" not in r.data  # escaped in the JSON text
    listed = [x["run"] for x in body(r)["runs"]]
    assert sorted(listed) == sorted(HOSTILE_NAMES)
    for name in HOSTILE_NAMES:
        assert body(tb.get("lr", run=name))["run"] == name
        assert len(body(tb.get("events", run=name))["events"]) == 2
        assert body(tb.get("loss", run=name))["run"] == name
        assert body(tb.get("export", run=name))["run"] == name
        r = tb.get("export", run=name, format="csv")
        rows = list(csv.reader(io.StringIO(r.data.decode("utf-8"))))
        assert rows[1][0] == name and len(rows) == 31
        r.headers["Content-Disposition"].encode("latin-1")  # a valid header
        error = assert_json_error(tb.get("lr", run=name + "x"), 404)
        assert repr(name + "x") in error


def test_a_corrupt_event_file_does_not_break_other_runs(logdir, tensorboard_app):
    spec, _ = write_run(logdir / "good", steps=300, epochs=3)
    write_corrupt_run(logdir / "bad")
    tb = tensorboard_app(logdir)
    runs = {r["run"]: r for r in body(tb.get("runs"))["runs"]}
    assert runs["good"]["steps"] == 300
    lines = tb.get("export", run="good", format="csv").data.decode().splitlines()
    assert len(lines) == 301
    # What could be read of the damaged run is served, the rest skipped.
    for route in ROUTES:
        assert tb.get(route, run="bad/cut").status_code == 200


def test_a_record_with_a_malformed_payload_is_skipped(logdir, tensorboard_app):
    w = EventWriter(logdir / "odd")
    w.add_array(metadata.KIND_LR, "lr/sgd", [[1, 0.1, 0.1], [2, 0.1, 0.1]], optimizer="sgd")
    w.add_json(metadata.KIND_EVENTS, "events", [{"kind": "lr_change", "no": "step"}], 1)
    w.close()
    tb = tensorboard_app(logdir)
    for route in ROUTES:
        assert tb.get(route, run="odd").status_code == 200
    assert body(tb.get("events", run="odd"))["events"] == []


# The frontend files.


@pytest.fixture
def static_dir(tmp_path, monkeypatch):
    root = tmp_path / "pkg"
    static = root / "static"
    (static / "chunks").mkdir(parents=True)
    (static / "index.js").write_text("export function render() {}\n")
    (static / "app.js").write_text("export function render() {}\n")
    (static / "chunks" / "view.js").write_text("export const x = 1;\n")
    (static / "style.css").write_text("body {}\n")
    (root / "secret.txt").write_text("secret")
    os.symlink(root / "secret.txt", static / "link.txt")
    monkeypatch.setattr(lr_plugin, "STATIC_DIR", str(static))
    return static


def test_index_js_serves_the_bundle(app, static_dir):
    r = app.get("index.js")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/javascript")
    assert r.data == b"export function render() {}\n"


def test_index_js_explains_a_bundle_missing_the_tab_it_imports(app, static_dir):
    (static_dir / "app.js").unlink()
    r = app.get("index.js")
    assert r.status_code == 200 and b"make build" in r.data


def test_index_js_explains_a_missing_bundle(app, tmp_path, monkeypatch):
    monkeypatch.setattr(lr_plugin, "STATIC_DIR", str(tmp_path / "nothing"))
    r = app.get("index.js")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/javascript")
    text = r.data.decode()
    assert "export function render()" in text
    assert "The frontend bundle is missing: run `make build`" in text


def test_static_files_are_served(app, static_dir):
    r = app.client.get("/data/plugin/learning_rate/static/chunks/view.js")
    assert r.status_code == 200 and r.data == b"export const x = 1;\n"
    assert r.headers["Content-Type"].startswith("text/javascript")
    r = app.client.get("/data/plugin/learning_rate/static/style.css")
    assert r.headers["Content-Type"].startswith("text/css")


def test_static_files_are_gzipped_once_and_a_changed_file_anew(app, static_dir, monkeypatch):
    import gzip

    reads = []
    original = lr_plugin._read
    monkeypatch.setattr(lr_plugin, "_read", lambda path: reads.append(path) or original(path))
    url = "/data/plugin/learning_rate/static/chunks/view.js"
    zipped = [app.client.get(url, headers={"Accept-Encoding": "gzip"}) for _ in range(2)]
    assert [z.headers.get("Content-Encoding") for z in zipped] == ["gzip", "gzip"]
    assert gzip.decompress(zipped[0].data) == b"export const x = 1;\n" and len(reads) == 1
    assert app.client.get(url).data == b"export const x = 1;\n" and len(reads) == 1
    (static_dir / "chunks" / "view.js").write_text("export const x = 22;\n")
    assert app.client.get(url).data == b"export const x = 22;\n" and len(reads) == 2


@pytest.mark.parametrize(
    "path",
    [
        "../secret.txt",
        "../plugin.py",
        "..%2fsecret.txt",
        "%2e%2e/secret.txt",
        "%2e%2e%2fsecret.txt",
        "chunks/../../secret.txt",
        "chunks/%2e%2e/%2e%2e/secret.txt",
        "..\\secret.txt",
        "chunks\\..\\..\\secret.txt",
        "%5c..%5csecret.txt",
        "/etc/passwd",
        "//etc/passwd",
        "link.txt",
        "./index.js",
        "chunks//view.js",
        "index.js%00.css",
        "C:/Windows/win.ini",
        "",
        "chunks",
        "nonexistent.js",
    ],
)
def test_static_never_leaves_the_static_folder(app, static_dir, path):
    r = app.client.get("/data/plugin/learning_rate/static/" + path)
    assert r.status_code in (400, 404), (path, r.status_code, r.data)
    assert b"secret" not in r.data


def test_json_text_never_carries_raw_html():
    from tb_lr_plugin import responses

    text = responses.dumps({"run": "</script><b>&", "x": math.nan})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"run": "</script><b>&", "x": None}
