"""Corrupt, future and malformed event files: skipped with a message, the rest served.

One logdir holds a clean run next to every kind of damage a logdir meets:
a flipped bit in a record's data, a broken length checksum, a length that
runs past the end of the file, a file cut inside a record header, a file
of random bytes, a run written by a newer version (content version 99),
and a run whose summaries carry our plugin name but malformed content
(metadata that is not JSON, tensors of the wrong dtype or shape, a tensor
TensorBoard itself cannot decode, JSON that is not a list, items with
fields of the wrong type).

Every reader is checked on the same logdir, against what was written: the
in-process app (Python loader), real `tensorboard` processes under both
loaders, and `tb-lr-audit`. Each lists exactly the runs with readable
data, answers every route of those runs with 200 JSON (404 for the
others), serves every intact row exactly, and logs what it skipped.

Not covered here, because TensorBoard itself cannot survive it: a record
header claiming about a terabyte *with a valid length checksum* makes
TensorFlow's record reader (`--load_fast=false`) segfault and the Rust data
server abort on the allocation (measured with TensorBoard 2.21). Only the
CLI reads it, and it is tested below.
"""

import csv
import io
import json
import logging
import os
import struct
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import InProcessTensorBoard, TensorBoardProcess, write_run, write_scalars
from tensorboard.compat.proto import (
    event_pb2,
    summary_pb2,
    tensor_pb2,
    tensor_shape_pb2,
    types_pb2,
)
from tensorboard.util import tensor_util

from tb_lr_plugin import metadata, record

BIN = os.path.join(os.path.dirname(sys.executable), "tb-lr-audit")
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
ROUTES = ("lr", "events", "loss", "audit", "finder", "export")

STEPS, EPOCHS = 60, 3
PER_EPOCH = STEPS // EPOCHS
# Runs that must be listed, and those that must not (nothing readable).
LISTED = (
    "good",
    "crc_data",
    "crc_length",
    "length_past_end",
    "cut_header",
    "mixed",
    "part_future",
    "malformed",
    "keras_only",
)
UNLISTED = ("random", "future")
VALID_EVENT = {
    "kind": "lr_change",
    "epoch": 0,
    "step": 10,
    "optimizer": "sgd",
    "old_lr": 0.1,
    "new_lr": 0.05,
}
SGD_ROWS = np.array([[s, 0.1, 0.1 if s <= 10 else 0.05] for s in range(1, 21)], dtype=np.float64)


# -- writing the damage --------------------------------------------------------------------


def _spans(data):
    """`(offset, length)` of every complete TFRecord in `data`."""
    spans, pos = [], 0
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from("<Q", data, pos)
        if pos + 16 + length > len(data):
            break
        spans.append((pos, length))
        pos += 16 + length
    return spans


def _clean_run(run_dir):
    """A run of 3 epochs, no events: records 1, 2, 3 are epoch 0 (lr, loss, epochs)."""
    spec, writer = write_run(run_dir, steps=STEPS, epochs=EPOCHS, reductions=())
    return spec, writer.path


def _damage(path, how):
    data = bytearray(open(path, "rb").read())
    offset, length = _spans(bytes(data))[4]  # epoch 1's `lr` record
    if how == "data":
        data[offset + 12 + length - 3] ^= 0x01  # inside the last float of the rows
    else:
        data[offset + 8] ^= 0x55  # the length's checksum
    open(path, "wb").write(bytes(data))


def _events_file(path, values_by_step):
    header = event_pb2.Event(wall_time=1.0, file_version="brain.Event:2")
    chunks = [record.frame(header.SerializeToString())]
    for k, value in enumerate(values_by_step):
        event = event_pb2.Event(
            wall_time=2.0 + k, step=1 + k, summary=summary_pb2.Summary(value=[value])
        )
        chunks.append(record.frame(event.SerializeToString()))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"".join(chunks))


def _value(tag, tensor, content):
    value = summary_pb2.Summary.Value(tag=tag, tensor=tensor)
    value.metadata.plugin_data.plugin_name = metadata.PLUGIN_NAME
    value.metadata.plugin_data.content = content
    value.metadata.data_class = summary_pb2.DATA_CLASS_TENSOR
    return value


def _meta(kind, version=1, **fields):
    return json.dumps(dict(fields, version=version, kind=kind)).encode()


def _shape(*dims):
    return tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in dims]
    )


def _strings(*texts, shape=()):
    return tensor_pb2.TensorProto(
        dtype=types_pb2.DT_STRING, tensor_shape=_shape(*shape), string_val=list(texts)
    )


def _malformed_values():
    rows = metadata.array_to_tensor_proto
    short = rows(np.zeros((2, 3)))
    short.tensor_content = short.tensor_content[:13]  # TensorBoard cannot decode it
    unknown_dtype = rows(np.zeros((2, 3)))
    unknown_dtype.dtype = 999
    typed = [
        VALID_EVENT,
        dict(VALID_EVENT, epoch=[1]),
        dict(VALID_EVENT, step=float("nan")),
        dict(VALID_EVENT, step="12"),
        dict(VALID_EVENT, step=2**70),
        dict(VALID_EVENT, monitor=7),
        dict(VALID_EVENT, optimizer={"a": 1}),
        dict(VALID_EVENT, old_lr="0.1"),
    ]
    epochs = [{"epoch": 0, "step": 10, "logs": {"loss": 1.0}}, {"epoch": {"x": 1}, "step": 20}]
    ints = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_INT32, tensor_shape=_shape(2, 3), int_val=[1, 2, 3, 4, 5, 6]
    )
    lr = metadata.KIND_LR
    return [
        _value("lr/sgd", rows(SGD_ROWS), _meta(lr, optimizer="sgd")),
        _value("lr/badmeta", rows(SGD_ROWS), b"{not json"),
        _value("lr/notdict", rows(SGD_ROWS), b"[1, 2]"),
        _value("lr/unknownkind", rows(SGD_ROWS), _meta("nope")),
        _value("lr/int", ints, _meta(lr, optimizer="int")),
        _value("lr/shape", rows(np.zeros((2, 5))), _meta(lr, optimizer="shape")),
        _value("lr/short", short, _meta(lr, optimizer="short")),
        _value("lr/dtype", unknown_dtype, _meta(lr, optimizer="dtype")),
        _value("events", metadata.json_to_tensor_proto(typed), _meta("events")),
        _value("events_badjson", _strings(b"[{not json"), _meta("events")),
        _value("epochs", metadata.json_to_tensor_proto(epochs), _meta("epochs")),
        _value("epochs_notlist", _strings(b'{"epoch": 1}'), _meta("epochs")),
        _value("plateau_vector", _strings(b"[]", b"[]", shape=(2,)), _meta("plateau")),
    ]


def build_logdir(logdir):
    """Writes every case; returns `{run: RunSpec}` of the clean data written."""
    specs = {}
    specs["good"], _ = _clean_run(logdir / "good")
    for name, how in (("crc_data", "data"), ("crc_length", "length")):
        specs[name], path = _clean_run(logdir / name)
        _damage(path, how)
    specs["length_past_end"], path = _clean_run(logdir / "length_past_end")
    header = struct.pack("<Q", 1 << 20)
    with open(path, "ab") as f:
        f.write(header + struct.pack("<I", record.masked_crc32c(header)) + b"\x00" * 100)
    specs["cut_header"], path = _clean_run(logdir / "cut_header")
    with open(path, "ab") as f:
        f.write(b"\x10\x00\x00\x00\x00")
    rng = np.random.default_rng(6)
    (logdir / "random").mkdir()
    noise = rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()
    (logdir / "random" / "events.out.tfevents.1.noise").write_bytes(noise)
    specs["mixed"], _ = _clean_run(logdir / "mixed")
    (logdir / "mixed" / "events.out.tfevents.0.noise").write_bytes(noise[::-1])
    future_rows = metadata.array_to_tensor_proto(np.array([[1.0, 0.5, 0.5], [2.0, 0.5, 0.5]]))
    future = _value("lr/future", future_rows, _meta(metadata.KIND_LR, 99, optimizer="future"))
    _events_file(str(logdir / "future" / "events.out.tfevents.1.v99"), [future])
    specs["part_future"], _ = _clean_run(logdir / "part_future")
    _events_file(str(logdir / "part_future" / "events.out.tfevents.9.v99"), [future])
    _events_file(str(logdir / "malformed" / "events.out.tfevents.1.bad"), _malformed_values())
    # Keras's TensorBoard callback alone, plus scalars TensorBoard cannot read.
    train = logdir / "keras_only" / "train"
    write_scalars(train, {"epoch_learning_rate": [(0, 0.1), (1, 0.1), (2, 0.05)]})
    _events_file(str(train / "events.out.tfevents.2.bad"), _malformed_scalars())
    return specs


def _malformed_scalars():
    def scalar(tag, tensor):
        value = summary_pb2.Summary.Value(tag=tag, tensor=tensor)
        value.metadata.plugin_data.plugin_name = "scalars"
        value.metadata.data_class = summary_pb2.DATA_CLASS_SCALAR
        return value

    short = tensor_util.make_tensor_proto(np.float32(1.0))
    short.ClearField("float_val")
    short.tensor_content = b"\x00\x00\x80"
    vector = tensor_util.make_tensor_proto(np.array([1.0, 2.0], dtype=np.float32))
    good = tensor_util.make_tensor_proto(np.float32(0.25))
    return [scalar("epoch_short", short), scalar("epoch_vector", vector), scalar("epoch_mae", good)]


# -- what every reader must say ----------------------------------------------------------


def check_rows(run, rows, specs):
    """`rows`: `{optimizer: float64 [n, 3]}` as a reader served them."""
    if run == "malformed":
        assert list(rows) == ["sgd"], rows.keys()
        np.testing.assert_array_equal(rows["sgd"], SGD_ROWS)
        return
    expected = specs[run].lr["adam"]
    assert list(rows) == ["adam"], (run, rows.keys())
    got = rows["adam"]
    epoch_of = (got[:, 0] - 1) // PER_EPOCH
    if run == "crc_length":
        # Nothing after a broken length can be framed: epoch 0, exactly.
        np.testing.assert_array_equal(got, expected[:PER_EPOCH])
    elif run == "crc_data":
        # TensorBoard's Python loader and the CLI stop at the damaged record;
        # the Rust loader checksums only records that fail to parse (its
        # default), so it may serve the flipped value. Everything else exact.
        np.testing.assert_array_equal(got[:PER_EPOCH], expected[:PER_EPOCH])
        intact = epoch_of != 1
        np.testing.assert_array_equal(got[intact], expected[got[intact, 0].astype(int) - 1])
    else:
        np.testing.assert_array_equal(got, expected)


def check_served(get, specs):
    """`get(route, **query) -> (status, content_type, body bytes)`."""
    status, ctype, body = get("runs")
    assert status == 200 and ctype.startswith("application/json")
    runs = {r["run"]: r for r in json.loads(body)["runs"]}
    assert sorted(runs) == sorted(LISTED)
    assert runs["good"]["steps"] == STEPS and runs["good"]["epochs"] == EPOCHS
    assert runs["part_future"]["optimizers"] == ["adam"]
    assert runs["malformed"]["optimizers"] == ["sgd"]
    for run in LISTED + UNLISTED:
        for route in ROUTES:
            status, ctype, body = get(route, run=run)
            assert ctype.startswith("application/json"), (run, route, ctype)
            assert status == (200 if run in LISTED else 404), (run, route, status, body[:300])
        if run in UNLISTED:
            continue
        status, ctype, body = get("export", run=run, format="csv")
        assert status == 200 and ctype.startswith("text/csv")
        if run == "keras_only":
            continue
        exported = json.loads(get("export", run=run)[2])
        check_rows(
            run,
            {
                name: np.stack([cols["step"], cols["planned"], cols["actual"]], axis=1)
                for name, cols in exported["optimizers"].items()
            },
            specs,
        )
    keras = json.loads(get("lr", run="keras_only")[2])
    assert keras["source"] == "keras"
    assert keras["optimizers"][0]["actual"] == [0.1, 0.1, 0.05]
    # The malformed scalars are skipped, the good one after them is served.
    series = {s["name"] for s in json.loads(get("loss", run="keras_only")[2])["series"]}
    assert series == {"mae"}
    events = json.loads(get("events", run="malformed")[2])["events"]
    assert events == [VALID_EVENT]
    lr = json.loads(get("lr", run="malformed")[2])
    assert lr["epochs"] == {"epoch": [0], "step": [10]} and lr["axis"] == "step"
    # A run cut before its first `epochs` record is still on the step axis.
    assert json.loads(get("lr", run="crc_length")[2])["axis"] == "step"


SKIP_MESSAGES = (
    "Skipping learning_rate data of format version 99",
    "Skipping learning_rate data with malformed metadata",
    "skipped what could not be read of run 'malformed'",
)


# -- the readers ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("hostile")
    return logdir, build_logdir(logdir)


def test_in_process_app_serves_the_rest(hostile, caplog, monkeypatch):
    logdir, specs = hostile
    # A newer version is warned about once per process: start afresh, and
    # leave the process's record as it was.
    monkeypatch.setattr(metadata, "_warned_versions", set())
    with caplog.at_level(logging.WARNING, logger="tb_lr_plugin"):
        tb = InProcessTensorBoard(logdir)

        def get(route, **query):
            r = tb.get(route, **query)
            return r.status_code, r.headers["Content-Type"], r.data

        check_served(get, specs)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for message in SKIP_MESSAGES:
        assert message in logged, message
    # Once per version of the run, not once per request.
    assert logged.count("skipped what could not be read of run 'malformed'") == 1


@pytest.mark.parametrize("load_fast", ["false", "true"], ids=["python", "rust"])
def test_tensorboard_process_serves_the_rest(hostile, load_fast):
    logdir, specs = hostile
    tb = TensorBoardProcess(logdir, f"--load_fast={load_fast}", "--reload_interval=1")
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            status, _, body = tb.get("runs")
            names = {r["run"] for r in json.loads(body)["runs"]} if status == 200 else set()
            if len(json.loads(tb.get("export", run="good")[2]).get("optimizers", {})) and (
                names >= set(LISTED)
            ):
                break
            time.sleep(0.5)
        time.sleep(1.5)  # one more reload: everything readable has been read

        def get(route, **query):
            status, headers, body = tb.get(route, **query)
            return status, headers["Content-Type"], body

        check_served(get, specs)
        assert tb.proc.poll() is None, "tensorboard died"
    finally:
        tb.stop()
    log = "".join(tb.log)
    for message in SKIP_MESSAGES:
        assert message in log, message
    assert log.count("skipped what could not be read of run 'malformed'") == 1
    if load_fast == "true":
        # The Rust loader names each file it stopped reading.
        for run in ("random", "crc_length", "mixed"):
            assert f"Read error in {logdir / run}" in log, run


def _cli(logdir, *args):
    return subprocess.run(
        [BIN, str(logdir), *args], capture_output=True, text=True, env=ENV, timeout=120
    )


def test_cli_skips_with_one_line_per_kind_of_damage(hostile):
    logdir, specs = hostile
    result = _cli(logdir, "--format", "csv")
    assert result.returncode == 0, result.stderr
    # Progress lines appear only when loading takes over 1 s (a loaded machine).
    progress = f"tb-lr-audit: loading {logdir}: "
    lines = [line for line in result.stderr.splitlines() if not line.startswith(progress)]
    assert any("version 99" in line for line in lines)
    assert any("malformed metadata" in line for line in lines)
    # crc_data, crc_length, length_past_end, cut_header, random, mixed.
    damaged = [line for line in lines if "truncated or corrupt event files" in line]
    assert len(damaged) == 1 and "skipped the unreadable part of 6 " in damaged[0]
    skipped = [line for line in lines if "unreadable learning-rate records" in line]
    assert len(skipped) == 1 and "'malformed'" in skipped[0]
    assert all(line.startswith("tb-lr-audit: warning: ") for line in lines), lines

    rows = {}
    for run, optimizer, step, planned, actual in list(csv.reader(io.StringIO(result.stdout)))[1:]:
        if not planned:  # a Keras-only run: epochs, and no plan
            assert run == "keras_only"
            continue
        rows.setdefault(run, {}).setdefault(optimizer, []).append(
            [float(step), float(planned), float(actual)]
        )
    rows.setdefault("keras_only", {})  # its rows have no planned LR (checked above)
    assert sorted(rows) == sorted(LISTED)
    for run, by_optimizer in rows.items():
        if run == "keras_only":
            continue
        check_rows(run, {k: np.array(v) for k, v in by_optimizer.items()}, specs)

    report = json.loads(_cli(logdir, "--format", "json").stdout)
    keras = next(r for r in report["runs"] if r["run"] == "keras_only")
    changes = [(e["old_lr"], e["new_lr"]) for e in keras["events"]]
    assert changes == [(float(np.float32(0.1)), float(np.float32(0.05)))]  # Keras's float32
    malformed = next(r for r in report["runs"] if r["run"] == "malformed")
    assert malformed["events"] == [VALID_EVENT]
    assert _cli(logdir).returncode == 0  # the table too


def test_cli_skips_a_record_claiming_a_terabyte(tmp_path):
    # TensorBoard itself dies on this file under both loaders (see above).
    _clean_run(tmp_path / "good")
    spec, path = _clean_run(tmp_path / "huge")
    header = struct.pack("<Q", 1 << 40)
    with open(path, "ab") as f:
        f.write(header + struct.pack("<I", record.masked_crc32c(header)) + b"\x00" * 64)
    result = _cli(tmp_path, "--format", "csv", "--run", "huge")
    assert result.returncode == 0
    assert "skipped the unreadable part of 1 truncated or corrupt event file" in result.stderr
    assert len(result.stdout.splitlines()) == 1 + STEPS
