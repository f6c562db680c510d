"""The event format: framing, metadata versions, and how runs are assembled."""

import logging
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c
from training import read_run

from tb_lr_plugin import metadata, record, run_data
from tb_lr_plugin.event_writer import EventWriter


@pytest.mark.parametrize("size", [0, 1, 63, 64, 255, 256, 257, 1535, 1536, 1537, 4095, 100_003])
def test_crc_matches_tensorboards_reference(size):
    payload = os.urandom(size)
    assert record.masked_crc32c(payload) == masked_crc32c(payload)


def test_crc_of_many_ranges_at_once_equals_one_by_one():
    rng = np.random.default_rng(0)
    lengths = [0, 1, 7, 8, 63, 64, 65, 511, 512, 513, 4800, 100_000]
    chunks = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in lengths]
    buf = np.frombuffer(b"".join(chunks), dtype=np.uint8)
    starts = np.cumsum([0] + lengths[:-1])
    for lane in (8, 64):
        got = record.crc32c_many(buf, starts, lengths, lane)
        assert [int(c) for c in got] == [record.crc32c(c) for c in chunks]
    # In any order, overlapping, and from the buffer's first byte.
    order = rng.permutation(len(lengths))
    starts, lengths = np.append(starts[order], 3), np.append(np.array(lengths)[order], 5000)
    pairs = zip(starts, lengths, strict=True)
    expected = [record.crc32c(buf[s : s + n].tobytes()) for s, n in pairs]
    assert [int(c) for c in record.crc32c_many(buf, starts, lengths)] == expected


def test_tensorflow_reads_every_record(tmp_path):
    writer = EventWriter(tmp_path)
    rows = np.array([[s, 0.1 / s, 0.1 / s] for s in range(1, 1001)])
    writer.add_array(metadata.KIND_LR, "lr/sgd", rows, optimizer="sgd")
    writer.add_json(
        metadata.KIND_EVENTS, metadata.TAG_EVENTS, [{"kind": "lr_change", "step": 3}], 3
    )
    writer.close()
    (path,) = [p for p in tmp_path.iterdir()]
    values = []
    for event in tf.compat.v1.train.summary_iterator(str(path)):
        for value in event.summary.value:
            values.append((value.tag, tf.make_ndarray(value.tensor)))
    assert values[0][0] == "lr/sgd"
    np.testing.assert_array_equal(values[0][1], rows)
    assert values[1][0] == "events"


def test_newer_format_versions_are_skipped_with_one_warning(caplog, monkeypatch):
    # The warning is once per process: earlier tests may have read version 99.
    monkeypatch.setattr(metadata, "_warned_versions", set())
    newer = b'{"version": 99, "kind": "lr"}'
    with caplog.at_level(logging.WARNING):
        assert metadata.parse_plugin_metadata(newer) is None
        assert metadata.parse_plugin_metadata(newer) is None
    assert sum("version 99" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.parametrize("content", [b"", b"not json", b"[1]", b'{"version": 1, "kind": "??"}'])
def test_malformed_metadata_is_skipped(content):
    assert metadata.parse_plugin_metadata(content) is None


def test_metadata_sets_plugin_and_data_class():
    meta = metadata.create_summary_metadata(metadata.KIND_LR, optimizer="adam")
    assert meta.plugin_data.plugin_name == "learning_rate"
    assert meta.data_class == metadata.summary_pb2.DATA_CLASS_TENSOR
    assert metadata.parse_plugin_metadata(meta.plugin_data.content)["optimizer"] == "adam"


J = metadata.json_to_tensor_proto


def test_a_resume_replaces_the_steps_it_reruns(tmp_path):
    lr = {"version": 1, "kind": "lr", "optimizer": "sgd"}
    session = {"version": 1, "kind": "session"}
    events = {"version": 1, "kind": "events"}
    first = np.array([[s, 1.0, 1.0] for s in range(1, 31)])
    second = np.array([[s, 2.0, 2.0] for s in range(21, 41)])
    run = run_data.assemble(
        [
            ("session", session, 1.0, 0, J([{"start_step": 0}])),
            ("lr/sgd", lr, 2.0, 1, first),
            ("events", events, 2.5, 25, J([{"kind": "lr_change", "step": 25}])),
            ("events", events, 2.6, 10, J([{"kind": "lr_change", "step": 10}])),
            ("session", session, 3.0, 20, J([{"start_step": 20}])),
            ("lr/sgd", lr, 4.0, 21, second),
        ]
    )
    rows = run.optimizers["sgd"]
    np.testing.assert_array_equal(rows[:, 0], np.arange(1, 41))
    np.testing.assert_array_equal(rows[:, 1], [1.0] * 20 + [2.0] * 20)
    assert [e["step"] for e in run.events] == [10]


def test_unreadable_records_are_counted_not_fatal():
    lr = {"version": 1, "kind": "lr", "optimizer": "sgd"}
    run = run_data.assemble(
        [("lr/sgd", lr, 1.0, 1, np.zeros((3, 2))), ("lr/sgd", lr, 2.0, 1, [[1, 0.1, 0.1]])]
    )
    assert run.skipped == 1
    assert run.optimizers["sgd"].tolist() == [[1, 0.1, 0.1]]


def test_truncated_tail_is_skipped(tmp_path):
    writer = EventWriter(tmp_path)
    writer.add_array(metadata.KIND_LR, "lr/sgd", [[1, 0.1, 0.1]], optimizer="sgd")
    writer.flush()
    writer.add_array(metadata.KIND_LR, "lr/sgd", [[2, 0.1, 0.1]], optimizer="sgd")
    writer.close()
    (path,) = list(tmp_path.iterdir())
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 7)
    assert read_run(tmp_path).optimizers["sgd"].tolist() == [[1, 0.1, 0.1]]


def test_records_of_one_tag_never_share_a_step(tmp_path):
    # TensorBoard keeps one record per step of a tag; events at one step
    # (a reduction and its cooldown start) must survive together.
    writer = EventWriter(tmp_path)
    add = writer.add_json
    add(metadata.KIND_EVENTS, metadata.TAG_EVENTS, [{"kind": "reduction", "step": 8}], 8)
    add(metadata.KIND_EVENTS, metadata.TAG_EVENTS, [{"kind": "cooldown", "step": 8}], 8)
    writer.flush()
    add(metadata.KIND_EVENTS, metadata.TAG_EVENTS, [{"kind": "lr_change", "step": 8}], 8)
    writer.close()
    (path,) = list(tmp_path.iterdir())
    steps = [
        event.step
        for event in tf.compat.v1.train.summary_iterator(str(path))
        if event.summary.value
    ]
    assert steps == [8, 9]
    kinds = [e["kind"] for e in read_run(tmp_path).events]
    assert kinds == ["reduction", "cooldown", "lr_change"]


def test_bulk_framing_equals_framing_one_by_one():
    payloads = [os.urandom(n) for n in (10, 10, 10, 37, 37, 5, 300, 300, 1)]
    assert record.frame_many(payloads) == b"".join(record.frame(p) for p in payloads)


@pytest.mark.parametrize("sizes", [(10, 37, 5), (40_000, 3, 20_000, 1, 70_000)])
def test_a_flush_framed_at_once_equals_framing_one_by_one(sizes):
    # Small flushes are framed record by record, large ones in one CRC pass.
    payloads = [os.urandom(n) for n in sizes]
    assert record.frame_all(payloads) == [record.frame(p) for p in payloads]
