"""`tb-lr-audit`: the command line, its formats, errors and the loader behind it.

Synthetic logdirs are written with the real `EventWriter` (no TensorFlow);
the acceptance tests train tiny real models with the stock Keras callbacks.
The console script is run as a subprocess where it matters (exit status,
stderr, no TensorFlow import), and in process (`cli.run`) elsewhere.
"""

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest
from tensorboard.compat.proto import event_pb2, summary_pb2

from tb_lr_plugin import audit, cli, loader, metadata, record
from tb_lr_plugin.event_writer import EventWriter
from tb_lr_plugin.progress import Progress

# Keras 3.15 on numpy 2 warns inside its own code; nothing to act on here.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

BIN = os.path.join(os.path.dirname(sys.executable), "tb-lr-audit")
LINE = re.compile(r"Epoch (\d+): ReduceLROnPlateau reducing learning rate to ([0-9.eE+-]+)\.")
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


# -- writing logdirs without TensorFlow ---------------------------------------


def write_ours(run_dir, *, epochs=6, per_epoch=10, reductions=(2,), lr=1e-3, optimizer="sgd"):
    """A run as LearningRateLogger + our ReduceLROnPlateau write it."""
    writer = EventWriter(run_dir)
    writer.add_json(
        metadata.KIND_SESSION, metadata.TAG_SESSION, [{"start_step": 0, "initial_epoch": 0}], 0
    )
    current = lr
    for epoch in range(epochs):
        s = np.arange(epoch * per_epoch + 1, (epoch + 1) * per_epoch + 1, dtype=np.float64)
        rows = np.stack([s, np.full_like(s, lr), np.full_like(s, current)], 1)
        writer.add_array(metadata.KIND_LR, f"lr/{optimizer}", rows, optimizer=optimizer)
        loss = np.stack([s, 1.0 / s], 1)
        writer.add_array(metadata.KIND_BATCH, "batch/loss", loss, metric="loss")
        end = int(s[-1])
        logs = {"loss": 1.0 / end, "val_loss": 1.0}
        item = {"epoch": epoch, "step": end, "logs": logs}
        writer.add_json(metadata.KIND_EPOCHS, metadata.TAG_EPOCHS, [item], end)
        if epoch in reductions:
            event = {
                "kind": "reduction", "epoch": epoch, "step": end, "optimizer": optimizer,
                "monitor": "val_loss", "value": 1.0, "best": 1.0, "wait": 2, "patience": 2,
                "old_lr": current, "new_lr": current / 2, "factor": 0.5, "min_lr": 0.0,
                "cooldown": 0,
            }  # fmt: skip
            writer.add_json(metadata.KIND_EVENTS, metadata.TAG_EVENTS, [event], end)
            current /= 2
        writer.flush()
    writer.close()
    return writer.path


def write_scalars(run_dir, tags):
    """Keras-style scalars: `{tag: [(step, value), ...]}`, plugin `scalars`."""
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, "events.out.tfevents.1.keras.v2")
    chunks = [record.frame(event_pb2.Event(file_version="brain.Event:2").SerializeToString())]
    for tag, points in tags.items():
        for i, (step, value) in enumerate(points):
            value_pb = summary_pb2.Summary.Value(tag=tag)
            value_pb.tensor.dtype = 1  # DT_FLOAT
            value_pb.tensor.float_val.append(value)
            if i == 0:
                value_pb.metadata.plugin_data.plugin_name = "scalars"
                value_pb.metadata.data_class = summary_pb2.DATA_CLASS_SCALAR
            event = event_pb2.Event(
                wall_time=1.0 + step, step=step, summary=summary_pb2.Summary(value=[value_pb])
            )
            chunks.append(record.frame(event.SerializeToString()))
    with open(path, "wb") as f:
        f.write(b"".join(chunks))
    return path


def run_cli(*args):
    out, err = io.StringIO(), io.StringIO()
    code = cli.run([str(a) for a in args], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def run_bin(*args):
    return subprocess.run(
        [BIN, *map(str, args)], capture_output=True, text=True, env=ENV, timeout=120
    )


@pytest.fixture
def logdir(tmp_path):
    path = tmp_path / "logs"
    write_ours(path / "exp" / "a")
    write_ours(path / "exp" / "b", reductions=(1, 2, 3), optimizer="adam")
    write_scalars(
        path / "exp" / "a" / "train",
        {"epoch_learning_rate": [(e, 1e-3) for e in range(6)], "epoch_loss": [(0, 1.0)]},
    )
    lrs = [1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4]
    write_scalars(path / "konly" / "train", {"epoch_learning_rate": list(enumerate(lrs))})
    write_scalars(path / "konly" / "validation", {"epoch_loss": [(e, 1.0) for e in range(5)]})
    write_scalars(path / "nolr" / "train", {"epoch_loss": [(0, 1.0)]})
    return path


# -- imports and the process ------------------------------------------------------


def test_import_loads_neither_tensorflow_nor_keras():
    code = (
        "import sys, tb_lr_plugin, tb_lr_plugin.cli, tb_lr_plugin.audit, tb_lr_plugin.loader, "
        "tb_lr_plugin.keras_logs\n"
        "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=ENV)


def test_the_command_reads_a_logdir_without_tensorflow(logdir):
    code = (
        "import os, sys\n"
        "from tb_lr_plugin import cli\n"
        "exit = os._exit\n"
        "def report(code):\n"
        "    sys.stderr.write('exit=%s tf=%s' % (code, 'tensorflow' in sys.modules))\n"
        "    sys.stderr.flush()\n"
        "    exit(code)\n"
        "os._exit = report\n"
        "cli.main()\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(logdir), "--format", "json"],
        capture_output=True,
        text=True,
        env=ENV,
        check=True,
    )
    assert out.stderr.endswith("exit=0 tf=False")
    assert {r["run"] for r in json.loads(out.stdout)["runs"]} == {"exp/a", "exp/b", "konly"}


# -- errors: exit 2 and one line on stderr -----------------------------------------


@pytest.mark.parametrize(
    "args, needle",
    [
        (("{missing}",), "does not exist"),
        (("{file}",), "is not a directory"),
        (("{empty}",), "no learning-rate data"),
        (("{logdir}", "--run", "nope"), "no run 'nope'"),
        (("{logdir}", "--run", "nolr"), "no run 'nolr'"),
        (("{logdir}", "--format", "xml"), "invalid choice"),
        (("{logdir}", "--jobs", "0"), "must be a positive integer, not '0'"),
        ((), "required"),
    ],
)
def test_bad_usage_exits_2_with_one_line(tmp_path, logdir, args, needle):
    (tmp_path / "empty").mkdir()
    (tmp_path / "afile").write_text("x")
    paths = {
        "missing": tmp_path / "missing",
        "file": tmp_path / "afile",
        "empty": tmp_path / "empty",
        "logdir": logdir,
    }
    argv = [a.format(**paths) for a in args]
    result = run_bin(*argv)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("tb-lr-audit: error: ")
    assert needle in result.stderr and "Traceback" not in result.stderr


def test_help_exits_0():
    code, out, _ = run_cli("--help")
    assert code == 0 and "--format" in out


# -- runs ---------------------------------------------------------------------------


def test_keras_siblings_attach_to_their_run(logdir):
    found = loader.load(str(logdir))
    assert list(found.runs) == ["exp/a", "exp/b", "konly"]
    a = found.runs["exp/a"]
    assert not a.data.empty and "epoch_learning_rate" in a.keras["train"]
    konly = found.runs["konly"]
    assert konly.data.empty and set(konly.keras) == {".", "train", "validation"}


def test_logdir_that_is_a_run(tmp_path):
    write_ours(tmp_path)
    write_scalars(tmp_path / "train", {"epoch_learning_rate": [(0, 1e-3)]})
    code, out, _ = run_cli(tmp_path, "--format", "json", "--run", ".")
    assert code == 0
    (run,) = json.loads(out)["runs"]
    assert run["run"] == "." and run["events"][0]["kind"] == "reduction"


# -- formats ---------------------------------------------------------------------------


def test_json_has_the_routes_events_and_findings(logdir):
    code, out, _ = run_cli(logdir, "--format", "json")
    assert code == 0
    body = json.loads(out)
    found = loader.load(str(logdir))
    for item in body["runs"]:
        assert set(item) == {"run", "source", "limits", "events", "findings", "finder"}
        run = found.runs[item["run"]]
        assert item["findings"] == json.loads(json.dumps(audit.find(run.data, run.keras)))
    b = next(r for r in body["runs"] if r["run"] == "exp/b")
    assert [e["epoch"] for e in b["events"]] == [1, 2, 3]
    assert "reduction_every_epoch" in [f["kind"] for f in b["findings"]]
    konly = next(r for r in body["runs"] if r["run"] == "konly")
    assert [(e["kind"], e["epoch"]) for e in konly["events"]] == [
        ("lr_change", 2),
        ("lr_change", 4),
    ]
    assert [e["new_lr"] for e in konly["events"]] == pytest.approx([5e-4, 2.5e-4], rel=1e-7)


def test_json_is_strict_json_with_nulls_for_nan(tmp_path):
    writer = EventWriter(tmp_path)
    writer.add_array(metadata.KIND_LR, "lr/sgd", [[1, 1e-3, 1e-3]], optimizer="sgd")
    event = {"kind": "reduction", "epoch": 0, "step": 1, "value": float("nan"), "old_lr": 1e-3}
    event["new_lr"] = 1e-3
    writer.add_json(metadata.KIND_EVENTS, metadata.TAG_EVENTS, [event], 1)
    writer.close()
    code, out, _ = run_cli(tmp_path, "--format", "json")
    assert code == 0 and "NaN" not in out
    assert json.loads(out)["runs"][0]["events"][0]["value"] is None


def test_csv_is_every_recorded_step_exactly(logdir):
    code, out, _ = run_cli(logdir, "--format", "csv")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "run,optimizer,step,planned,actual"
    found = loader.load(str(logdir))
    # Every row of the export route: our records' steps, and a Keras-only
    # run's epochs (planned empty: Keras logs only the LR used).
    expected = [
        (name, opt, row)
        for name, run in found.runs.items()
        for opt, rows in run.optimizers.items()
        for row in rows.tolist()
    ]
    assert len(lines) - 1 == len(expected) == 120 + 5  # konly: 5 epochs
    for line, (name, opt, row) in zip(lines[1:], expected, strict=True):
        r, o, step, planned, actual = line.split(",")
        assert (r, o) == (name, opt)
        planned = float(planned) if planned else float("nan")
        assert [int(step), planned, float(actual)] == pytest.approx(row, nan_ok=True)


def test_table_fits_80_columns_and_aligns(logdir):
    code, out, _ = run_cli(logdir)
    assert code == 0
    lines = out.splitlines()
    assert max(map(len, lines)) <= 80
    assert "Run: exp/b" in lines and "Run: konly" in lines
    run_b = lines.index("Run: exp/b")
    header = next(i for i in range(run_b, len(lines)) if lines[i].startswith("  epoch  step"))
    rows = lines[header + 1 : header + 4]  # its three reductions
    # Right-aligned numbers end in the same column as their header.
    step_end = lines[header].index("step") + len("step")
    assert all(row[step_end - 1] != " " and row[step_end] == " " for row in rows)
    # Epochs as Keras prints them (from 1), LRs in compact notation.
    assert rows[0].split()[:2] == ["2", "20"] and "1e-3 -> 5e-4" in rows[0]
    assert "reduction_every_epoch" in out and "Findings (" in out


def test_table_shrinks_long_names_to_80_columns(tmp_path):
    writer = EventWriter(tmp_path)
    writer.add_array(metadata.KIND_LR, "lr/x", [[1, 1e-3, 1e-3]], optimizer="x")
    event = {
        "kind": "reduction", "epoch": 123456, "step": 123456789, "optimizer": "x" * 40,
        "monitor": "val_" + "m" * 60, "value": -1.23456e-10, "best": -1.23456e-10,
        "wait": 10, "patience": 10, "old_lr": 1.23456e-10, "new_lr": 1.23456e-11, "cooldown": 100,
    }  # fmt: skip
    writer.add_json(metadata.KIND_EVENTS, metadata.TAG_EVENTS, [event], 1)
    writer.close()
    code, out, _ = run_cli(tmp_path)
    assert code == 0 and max(map(len, out.splitlines())) <= 80


# -- damaged files and progress ----------------------------------------------------------


def test_damaged_files_are_read_up_to_the_damage_with_one_message(logdir):
    path = write_ours(logdir / "cut", epochs=3, reductions=())
    data = open(path, "rb").read()
    open(path, "wb").write(data[:-37])  # a killed writer's partial record
    bad = write_ours(logdir / "flipped", epochs=3, reductions=())
    data = bytearray(open(bad, "rb").read())
    data[len(data) // 2] ^= 0xFF  # a bit flip in the middle
    open(bad, "wb").write(bytes(data))
    (logdir / "garbage").mkdir()
    (logdir / "garbage" / "events.out.tfevents.1.x").write_bytes(b"\x00\xffnot a record" * 50)

    result = run_bin(logdir, "--format", "json")
    assert result.returncode == 0
    assert result.stderr.count("\n") == 1 and "3 truncated or corrupt event files" in result.stderr
    runs = {r["run"] for r in json.loads(result.stdout)["runs"]}
    assert {"exp/a", "exp/b", "konly", "cut", "flipped"} <= runs
    cut = loader.load(str(logdir), run="cut").runs["cut"]
    assert cut.data.optimizers["sgd"][-1, 0] >= 20  # the complete records are all there


def test_progress_only_after_a_second(logdir):
    stream = io.StringIO()
    progress = Progress(stream, "tb-lr-audit: loading x", delay=0.0)
    loader.load(str(logdir), progress=progress)
    progress.finish()
    assert "event files" in stream.getvalue() and "(100%)" in stream.getvalue()
    result = run_bin(logdir)
    assert result.returncode == 0 and result.stderr == ""  # a fast load prints nothing


# -- acceptance: Keras-only logs with the stock ReduceLROnPlateau ---------------------------


@pytest.fixture(scope="module")
def keras_logdir(tmp_path_factory):
    """Two runs by stock Keras callbacks only, in both callback orders, with
    what `ReduceLROnPlateau(verbose=1)` printed; plus a run of ours."""
    keras = pytest.importorskip("keras")
    import training
    from tb_lr_plugin.callbacks import LearningRateLogger, ReduceLROnPlateau

    root = tmp_path_factory.mktemp("keras_logs")
    printed = {}
    x, y = training.data(256, noise=2.0)
    for name in ("plateau_first", "tensorboard_first"):
        log_dir = str(root / name)
        plateau = keras.callbacks.ReduceLROnPlateau(patience=2, factor=0.5, verbose=1)
        board = keras.callbacks.TensorBoard(log_dir)
        order = [plateau, board] if name == "plateau_first" else [board, plateau]
        out = io.StringIO()
        model = training.model(keras.optimizers.SGD(0.3))
        with contextlib.redirect_stdout(out):
            model.fit(
                x, y, epochs=15, batch_size=32, verbose=0, validation_split=0.25, callbacks=order
            )
        printed[name] = [(int(n) - 1, float(lr)) for n, lr in LINE.findall(out.getvalue())]
    log_dir = str(root / "ours")
    model = training.model(keras.optimizers.SGD(0.01))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(
            x,
            y,
            epochs=6,
            batch_size=32,
            verbose=0,
            validation_split=0.25,
            callbacks=[
                ReduceLROnPlateau(patience=1, factor=0.5, min_delta=10.0),
                LearningRateLogger(log_dir),
                keras.callbacks.TensorBoard(log_dir),
            ],
        )
    return root, printed


@pytest.mark.parametrize("name", ["plateau_first", "tensorboard_first"])
def test_cli_lists_every_reduction_keras_printed(keras_logdir, name):
    root, printed = keras_logdir
    expected = printed[name]
    assert len(expected) >= 3 and expected[-1][0] < 14  # none at the last epoch
    result = run_bin(root, "--run", name, "--format", "json")
    assert result.returncode == 0, result.stderr
    (run,) = json.loads(result.stdout)["runs"]
    events = run["events"]
    assert [e["epoch"] for e in events] == [epoch for epoch, _ in expected]
    assert [e["new_lr"] for e in events] == pytest.approx([lr for _, lr in expected], rel=1e-6)
    assert [e["step"] for e in events] == [6 * (epoch + 1) for epoch, _ in expected]
    table = run_bin(root, "--run", name).stdout
    for epoch, lr in expected:
        row = next(ln for ln in table.splitlines() if ln.split()[:1] == [str(epoch + 1)])
        assert f"-> {audit.fmt_lr(lr)}" in row


def _route_app(logdir):
    """The real TensorBoard WSGI app with this plugin (Python loader)."""
    plugin = pytest.importorskip("tb_lr_plugin.plugin")
    from tensorboard import program
    from tensorboard.backend import application
    from tensorboard.backend.event_processing import data_ingester
    from tensorboard.plugins.core import core_plugin
    from tensorboard.plugins.scalar import scalars_plugin
    from werkzeug import test as werkzeug_test
    from werkzeug import wrappers

    loaders = [
        core_plugin.CorePluginLoader(include_debug_info=False),
        scalars_plugin.ScalarsPlugin,
        plugin.LearningRateLoader,
    ]
    tb = program.TensorBoard(plugins=loaders)
    tb.configure(logdir=str(logdir), reload_interval=0, reload_task="blocking", load_fast="false")
    ingester = data_ingester.LocalDataIngester(tb.flags)
    ingester.start()
    app = application.TensorBoardWSGIApp(
        tb.flags,
        tb.plugin_loaders,
        ingester.data_provider,
        tb.assets_zip_provider,
        ingester.deprecated_multiplexer,
    )
    return werkzeug_test.Client(app, wrappers.Response)


def test_cli_and_the_audit_route_agree(keras_logdir, tmp_path):
    root, _ = keras_logdir
    logdir = tmp_path / "both"
    shutil.copytree(root, logdir)
    write_ours(logdir / "synthetic", reductions=(1, 2, 3))
    result = run_bin(logdir, "--format", "json")
    assert result.returncode == 0, result.stderr
    cli_runs = {r["run"]: r for r in json.loads(result.stdout)["runs"]}
    assert set(cli_runs) == {"plateau_first", "tensorboard_first", "ours", "synthetic"}

    client = _route_app(logdir)
    listed = json.loads(client.get("/data/plugin/learning_rate/runs").data)["runs"]
    assert {r["run"] for r in listed} == set(cli_runs)
    some_findings = False
    for name, item in cli_runs.items():
        route = "/data/plugin/learning_rate/"
        audit_body = json.loads(client.get(route + "audit", query_string={"run": name}).data)
        assert audit_body["findings"] == item["findings"], name
        events = json.loads(client.get(route + "events", query_string={"run": name}).data)
        assert events["events"] == item["events"], name
        some_findings |= bool(item["findings"])
    assert some_findings
