"""The bulk event-file reader against TensorBoard's own loader, event by event.

`event_file.events` must yield what `EventFileLoader(path).Load()` yields
(the compat layers' output, byte for byte once serialized) on every event
file the tests have: the demo logdir (our records, Keras's `train` and
`validation` files), a benchmark-shaped logdir, and hand-made files with
old-style values, a graph and damage. The CLI's output read both ways, in
worker processes or not, is the same, and on the demo logs it is what it
was before the reader was made faster (`data/demo_cli.json`, never
regenerated).
"""

import io
import json
import os
import struct
import subprocess
import sys

import pytest
from tensorboard.backend.event_processing import event_file_loader, io_wrapper
from tensorboard.compat.proto import event_pb2, graph_pb2, summary_pb2

from tb_lr_plugin import cli, event_file, loader, metadata, record

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEMO = os.path.join(HERE, "data", "demo_logs")
sys.path.insert(0, os.path.join(ROOT, "bench"))

import bench_audit  # noqa: E402
import test_hostile_files  # noqa: E402


def _event_files(logdir):
    return sorted(os.path.join(d, f) for d, _, fs in os.walk(logdir) for f in fs if "tfevents" in f)


def _ours(path):
    """`(serialized events, damage)` read by `event_file.events`."""
    out = []
    try:
        for event in event_file.events(path, metadata.PLUGIN_NAME):
            out.append(event.SerializeToString(deterministic=True))
    except event_file.DamagedFile as e:
        return out, (e.offset, e.reason)
    return out, None


def _tensorboards(path):
    return [
        e.SerializeToString(deterministic=True)
        for e in event_file_loader.EventFileLoader(path).Load()
    ]


@pytest.fixture(scope="module")
def bench_logdir(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("bench_shape")
    bench_audit.write_logdir(str(logdir), runs=3, steps=1200)
    return str(logdir)


def _old_style_file(path):
    """Events as TF 1.x, PyTorch and Keras write them, which TensorBoard migrates."""
    events = [event_pb2.Event(wall_time=1.0, file_version="brain.Event:2")]
    events.append(
        event_pb2.Event(wall_time=2.0, step=1, graph_def=graph_pb2.GraphDef().SerializeToString())
    )
    for step in range(3):
        summary = summary_pb2.Summary(
            value=[
                summary_pb2.Summary.Value(tag="loss", simple_value=0.5 / (step + 1)),
                summary_pb2.Summary.Value(
                    tag="lr/adam",
                    metadata=summary_pb2.SummaryMetadata(
                        plugin_data=summary_pb2.SummaryMetadata.PluginData(
                            plugin_name=metadata.PLUGIN_NAME, content=b"{}"
                        )
                    )
                    if step == 0
                    else None,
                    simple_value=1e-3,
                ),
            ]
        )
        events.append(event_pb2.Event(wall_time=3.0 + step, step=step, summary=summary))
    with open(path, "wb") as f:
        f.write(b"".join(record.frame(e.SerializeToString()) for e in events))


def test_demo_and_bench_files_read_as_tensorboard_reads_them(bench_logdir):
    paths = _event_files(DEMO) + _event_files(bench_logdir)
    assert len(paths) >= 15
    for path in paths:
        ours, damage = _ours(path)
        assert damage is None, path
        assert ours == _tensorboards(path), path


def test_old_style_values_and_graphs_are_migrated_as_tensorboard_does(tmp_path):
    path = str(tmp_path / "events.out.tfevents.1.old")
    _old_style_file(path)
    ours, damage = _ours(path)
    theirs = _tensorboards(path)
    assert damage is None and ours == theirs
    # The graph became two events and every simple_value a tensor.
    assert len(theirs) == 6
    assert all(b"simple_value" not in e for e in theirs)


@pytest.mark.parametrize("cut", ["header", "data", "crc"])
def test_damage_ends_the_file_where_tensorboard_stops_and_says_where(tmp_path, cut):
    source = _event_files(os.path.join(DEMO, "6_reduce_on_plateau"))[0]
    data = open(source, "rb").read()
    framed = event_file.frame(data)
    third = int(framed.offsets[3])
    if cut == "header":
        damaged = data[: third + 5]
    elif cut == "data":
        damaged = data[: third + 20]
    else:
        body = third + 12
        damaged = data[:body] + bytes([data[body] ^ 1]) + data[body + 1 :]
    path = str(tmp_path / "events.out.tfevents.1.cut")
    with open(path, "wb") as f:
        f.write(damaged)
    ours, damage = _ours(path)
    assert ours == _tensorboards(path) and len(ours) == 3
    assert damage[0] == third
    assert (
        damage[1]
        == {
            "header": "truncated record header",
            "data": "truncated record data",
            "crc": "failed crc32 check",
        }[cut]
    )


def test_header_crc_is_checked(tmp_path):
    data = record.frame(b"x" * 40) + record.frame(b"y" * 40)
    second = 56
    length = struct.pack("<Q", 40)
    bad = data[:second] + length + struct.pack("<I", 0) + data[second + 12 :]
    assert event_file.frame(bad).error_offset == second
    assert event_file.frame(data).error is None


def _cli_json(logdir, *args):
    out = io.StringIO()
    assert cli.run([logdir, "--format", "json", *args], stdout=out, stderr=io.StringIO()) == 0
    return out.getvalue()


@pytest.fixture(scope="module")
def hostile_logdir(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("hostile")
    test_hostile_files.build_logdir(logdir)
    return str(logdir)


def test_cli_output_on_the_demo_logs_is_pinned():
    with open(os.path.join(HERE, "data", "demo_cli.json")) as f:
        assert _cli_json(DEMO) == f.read()


def _tensorboards_values(path, _plugin, take=None):
    """`event_file.events_with_values` as TensorBoard's own loader reads the
    file (every record parsed by protobuf; `take` is never offered one)."""
    for event in event_file_loader.EventFileLoader(path).Load():
        values = [(v.tag, v) for v in event.summary.value]
        yield event, (values if event.HasField("summary") else ())


def _read_by_tensorboard(m):
    m.setattr(event_file, "events", lambda p, _: event_file_loader.EventFileLoader(p).Load())
    m.setattr(event_file, "events_with_values", _tensorboards_values)


@pytest.mark.parametrize("which", ["demo", "bench", "hostile"])
def test_cli_output_is_the_same_read_in_workers_alone_or_by_tensorboard(
    which, bench_logdir, hostile_logdir, monkeypatch
):
    logdir = {"demo": DEMO, "bench": bench_logdir, "hostile": hostile_logdir}[which]
    outputs = {}
    for jobs in ("1", "2"):
        err = io.StringIO()
        out = io.StringIO()
        cli.run([logdir, "--format", "json", "--jobs", jobs], stdout=out, stderr=err)
        outputs[jobs] = out.getvalue(), err.getvalue()
    assert outputs["1"] == outputs["2"] and json.loads(outputs["1"][0])["runs"]
    with monkeypatch.context() as m:
        _read_by_tensorboard(m)
        assert _cli_json(logdir, "--jobs", "2") == outputs["1"][0]
    if which == "hostile":
        # Damaged files are named with the byte their bad record starts at.
        assert "truncated or corrupt event files: crc_data/" in outputs["2"][1]
        assert " (from byte " in outputs["2"][1]


def test_runs_read_in_workers_report_progress_and_damage(hostile_logdir):
    calls = []
    found = loader.load(hostile_logdir, progress=lambda *a: calls.append(a), jobs=2)
    serial = loader.load(hostile_logdir)
    assert calls[-1][0] == calls[-1][1] == serial.files and calls[-1][2] == calls[-1][3]
    assert found.damage_offsets == serial.damage_offsets and found.damage_offsets
    assert found.damaged == serial.damaged and sorted(found.runs) == sorted(serial.runs)


def test_our_records_are_read_without_tensorboards_tf_stub(bench_logdir):
    # The stub imports boto3 and fsspec (0.15 s); only old-style values need it.
    code = (
        "import os, runpy, sys\n"
        "exit = os._exit\n"  # the command's last call
        "def report(code):\n"
        "    sys.stderr.write(' stub=%s' % ('tensorboard.compat.tensorflow_stub' in sys.modules))\n"
        "    sys.stderr.flush()\n"
        "    exit(code)\n"
        "os._exit = report\n"
        "runpy.run_module('tb_lr_plugin.cli', run_name='__main__')\n"
    )
    args = [sys.executable, "-c", code, bench_logdir, "--format", "json"]
    out = subprocess.run(args, capture_output=True, text=True, check=True)
    assert out.stderr.endswith(" stub=False") and json.loads(out.stdout)["runs"]


def test_discovery_finds_the_directories_tensorboard_finds(tmp_path):
    for d in ("a", "a/b/c", "empty", "x.tfevents.dir", "deep/er/est", "profile"):
        (tmp_path / d).mkdir(parents=True)
    for f in ("a/events.out.tfevents.1", "a/b/c/events.out.tfevents.2", "deep/er/est/tfevents"):
        (tmp_path / f).write_bytes(b"")
    (tmp_path / "x.tfevents.dir" / "notes.txt").write_bytes(b"")
    (tmp_path / "profile" / "events.out.tfevents.3.profile-empty").write_bytes(b"")
    (tmp_path / "linked").symlink_to(tmp_path / "a" / "b")
    theirs = sorted(io_wrapper.GetLogdirSubdirectories(str(tmp_path)))
    ours = sorted(loader.discover(str(tmp_path)).values())
    assert ours == theirs and len(ours) == 5
    assert loader.list_files(str(tmp_path))["profile"] == []


def test_cli_output_is_the_same_as_read_by_tensorboards_loader(bench_logdir, monkeypatch):
    for logdir in (DEMO, bench_logdir):
        ours = _cli_json(logdir)
        with monkeypatch.context() as m:
            _read_by_tensorboard(m)
            theirs = _cli_json(logdir)
        assert ours == theirs, logdir


def test_runs_and_their_sub_runs_are_read_in_one_group():
    files = [("a", "a/f", 1), ("a/train", "a/train/f", 2), ("a/validation", "a/v/f", 3)]
    groups = loader._groups([*files, ("b", "b/f", 4)])
    assert [[name for name, _, _ in g] for g in groups] == [
        ["a", "a/train", "a/validation"],
        ["b"],
    ]


def test_the_cli_says_where_a_file_is_damaged(tmp_path):
    import shutil

    run = tmp_path / "6_reduce_on_plateau"
    shutil.copytree(os.path.join(DEMO, "6_reduce_on_plateau"), run)
    path = _event_files(str(run))[0]
    data = open(path, "rb").read()
    fifth = int(event_file.frame(data).offsets[5])
    open(path, "wb").write(data[: fifth + 30])
    err = io.StringIO()
    assert cli.run([str(tmp_path), "--format", "json"], stdout=io.StringIO(), stderr=err) == 0
    name = os.path.relpath(path, tmp_path)
    assert f"1 truncated or corrupt event file: {name} (from byte {fifth})" in err.getvalue()
    assert loader.load(str(tmp_path)).damage_offsets == {path: fifth}
