"""The object-store writer's layout and its fault handling, on fsspec
filesystems in memory (no network), plus the URL rules of every callback.

`memory://` is fsspec's real in-memory filesystem; the slow and failing
stores below are it with `pipe_file` gated or failing, so each fault is
switched on and off exactly.
"""

import os
import subprocess
import sys
import threading
import time
import warnings

import fsspec
import numpy as np
import pytest
from faults import run_from_payloads
from fsspec.implementations.memory import MemoryFileSystem
from s3_store import blocked_imports

from tb_lr_plugin import metadata, record, remote_writer, storage
from tb_lr_plugin.event_writer import EventWriter


class GatedFileSystem(MemoryFileSystem):
    """`memory://` whose uploads wait for `gate` and fail while `failing`."""

    protocol = "gatedmem"
    gate = threading.Event()
    failing = False
    attempts = 0

    def pipe_file(self, path, value, **kwargs):
        type(self).attempts += 1
        self.gate.wait()
        if self.failing:
            raise ConnectionError("store unreachable")
        return super().pipe_file(path, value, **kwargs)


fsspec.register_implementation("gatedmem", GatedFileSystem, clobber=True)


@pytest.fixture
def gated():
    GatedFileSystem.gate.set()
    GatedFileSystem.failing = False
    GatedFileSystem.attempts = 0
    yield GatedFileSystem
    GatedFileSystem.gate.set()
    GatedFileSystem.failing = False


@pytest.fixture
def url(request):
    base = f"memory://tests/{request.node.name}/run"
    yield base
    fs, path = storage.filesystem(base)
    if fs.exists(path):
        fs.rm(path, recursive=True)


def write_steps(writer, first, count, flush=True):
    rows = [[s, 1e-3, 1e-3 / (1 + s)] for s in range(first, first + count)]
    writer.add_array(metadata.KIND_LR, metadata.lr_tag("adam"), rows, optimizer="adam")
    event = {"kind": "lr_change", "epoch": 0, "step": first, "optimizer": "adam"}
    writer.add_json(metadata.KIND_EVENTS, metadata.TAG_EVENTS, [event], first)
    if flush:
        assert writer.flush()


def objects(url):
    """`[(name, payloads)]` of the run's objects in name order, each parsed
    by the independent TFRecord parser (complete records only)."""
    fs, root = storage.filesystem(url)
    found = []
    for path in sorted(fs.find(root)):
        data = fs.cat_file(path)
        payloads = record_payloads(data)
        found.append((path.rsplit("/", 1)[-1], payloads, len(data)))
    return found


def record_payloads(data):
    payloads, pos = [], 0
    while pos < len(data):
        (length,) = np.frombuffer(data[pos : pos + 8], dtype="<u8")
        payload = data[pos + 12 : pos + 12 + int(length)]
        assert record.frame(payload) == data[pos : pos + 16 + int(length)], "a torn record"
        payloads.append(payload)
        pos += 16 + int(length)
    return payloads


def test_each_upload_is_one_new_complete_event_file_in_name_order(url):
    writer = remote_writer.RemoteEventWriter(url, min_upload_secs=0)
    for k in range(5):
        write_steps(writer, 1 + 10 * k, 10)
        writer.close() if k == 4 else _drain(writer)
    found = objects(url)
    assert len(found) == 5
    from tensorboard.compat.proto import event_pb2

    steps = []
    for name, payloads, _ in found:
        assert name.startswith("events.out.tfevents.") and name.endswith(".lr")
        assert event_pb2.Event.FromString(payloads[0]).file_version == "brain.Event:2"
        # Every object is readable alone: its tags carry their metadata.
        alone = run_from_payloads([payloads])
        assert len(alone.optimizers["adam"]) == 10
        steps.append(alone.optimizers["adam"][0, 0])
    assert steps == sorted(steps) == [1, 11, 21, 31, 41]
    run = run_from_payloads([p for _, p, _ in found])
    np.testing.assert_array_equal(run.optimizers["adam"][:, 0], np.arange(1, 51))
    assert len(run.events) == 5


def _drain(writer, timeout=30):
    with writer._cond:
        assert writer._cond.wait_for(lambda: not writer._queue, timeout)


def test_upload_cost_per_flush_does_not_grow_with_the_run(url):
    writer = remote_writer.RemoteEventWriter(url, min_upload_secs=0)
    for k in range(200):
        write_steps(writer, 1 + 100 * k, 100)
        _drain(writer)
    writer.close()
    sizes = [size for _, size, _ in writer.uploads]
    assert len(sizes) == 200
    # Same records per flush, same bytes per object (but for the varints
    # of larger steps): the 200th upload sends what the first sent, not
    # the run so far (which is 200 times more).
    assert abs(sizes[-1] - sizes[0]) <= 16, (sizes[0], sizes[-1])


def test_flush_never_waits_for_the_store(gated):
    url = "gatedmem://tests/slow/run"
    gated.gate.clear()  # every upload blocks until the gate opens
    writer = remote_writer.RemoteEventWriter(url, min_upload_secs=0)
    for k in range(20):
        write_steps(writer, 1 + 10 * k, 10)  # returns although nothing is stored
    assert writer.uploads == [] and writer.pending_bytes() > 0
    gated.gate.set()
    writer.close()
    run = run_from_payloads([p for _, p, _ in objects(url)])
    np.testing.assert_array_equal(run.optimizers["adam"][:, 0], np.arange(1, 201))


def test_unreachable_store_warns_once_spills_past_the_bound_then_uploads_all(gated, tmp_path):
    url = "gatedmem://tests/down/run"
    gated.failing = True
    spill = tmp_path / "spill"
    writer = remote_writer.RemoteEventWriter(
        url, min_upload_secs=0, max_memory_bytes=20_000, spill_dir=str(spill)
    )
    remote_writer_backoff = remote_writer.BACKOFF_SECS
    remote_writer.BACKOFF_SECS = (0.01, 0.05)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for k in range(40):
                write_steps(writer, 1 + 100 * k, 100)  # 2.4 KB per flush
            # The retry comes after a 10-50 ms backoff; the 40 flushes can take less.
            deadline = time.monotonic() + 10
            while gated.attempts <= 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert gated.attempts > 1  # retried
            spilled = sorted(os.listdir(spill))
            assert spilled and all("tfevents" in n for n in spilled)
            # The spill files are event files: readable by every reader.
            on_disk = run_from_payloads(
                [record_payloads((spill / n).read_bytes()) for n in spilled]
            )
            assert len(on_disk.optimizers["adam"]) > 0
            gated.failing = False
            writer.close()
    finally:
        remote_writer.BACKOFF_SECS = remote_writer_backoff
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1, messages
    assert str(spill) in messages[0] and url in messages[0]
    assert os.listdir(spill) == []  # uploaded, then removed
    run = run_from_payloads([p for _, p, _ in objects(url)])
    np.testing.assert_array_equal(run.optimizers["adam"][:, 0], np.arange(1, 4001))


def test_close_waits_a_bounded_time_then_keeps_the_records_on_disk(gated, tmp_path):
    url = "gatedmem://tests/gone/run"
    gated.failing = True
    writer = remote_writer.RemoteEventWriter(
        url, min_upload_secs=0, close_timeout=0.5, spill_dir=str(tmp_path)
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for k in range(3):
            write_steps(writer, 1 + 10 * k, 10)
        writer.close()
    assert len([w for w in caught if issubclass(w.category, RuntimeWarning)]) == 1
    assert str(tmp_path) in str(caught[0].message)
    spilled = [record_payloads(p.read_bytes()) for p in sorted(tmp_path.iterdir())]
    run = run_from_payloads(spilled)
    np.testing.assert_array_equal(run.optimizers["adam"][:, 0], np.arange(1, 31))


def test_large_backlogs_are_split_into_bounded_objects(gated):
    url = "gatedmem://tests/big/run"
    gated.gate.clear()
    writer = remote_writer.RemoteEventWriter(url, min_upload_secs=0, max_object_bytes=10_000)
    for k in range(30):
        write_steps(writer, 1 + 100 * k, 100)
    gated.gate.set()
    writer.close()
    found = objects(url)
    assert len(found) > 3 and max(size for *_, size in found) < 10_000 + 3_000
    run = run_from_payloads([p for _, p, _ in found])
    np.testing.assert_array_equal(run.optimizers["adam"][:, 0], np.arange(1, 3001))


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("s3://bucket/logs", True),
        ("gs://bucket", True),
        ("memory://x", True),
        ("file:///tmp/logs", False),
        ("logs/run1", False),
        ("C://logs", False),
        ("/abs/with://inside", False),
    ],
)
def test_what_counts_as_a_url(path, expected):
    assert storage.is_url(path) is expected


def test_local_paths_and_file_urls_keep_the_local_writer(tmp_path):
    assert type(remote_writer.writer_for(tmp_path)) is EventWriter
    writer = remote_writer.writer_for(f"file://{tmp_path}/run")
    assert type(writer) is EventWriter
    write_steps(writer, 1, 5)
    writer.close()
    assert len(os.listdir(tmp_path / "run")) == 1


_NO_GCSFS = blocked_imports("gcsfs") + """
import os
from tb_lr_plugin.callbacks import LearningRateFinder, LearningRateLogger, ReduceLROnPlateau
from tb_lr_plugin import cli

for url in ["gs://my-bucket/logs/run1", "nosuchscheme://bucket/logs/run1"]:
    for make in (
        lambda: LearningRateLogger(url),
        lambda: ReduceLROnPlateau(log_dir=url),
        lambda: LearningRateFinder(url),
    ):
        try:
            make()
        except ValueError as e:
            print("ValueError:", e)
        else:
            print("no error")
    print("cli:", cli.run([url]))
print("files:", sorted(os.listdir(".")))
"""


def test_a_url_without_its_filesystem_fails_at_construction_and_is_never_a_folder(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", _NO_GCSFS],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    errors = [line for line in lines if line.startswith("ValueError")]
    assert len(errors) == 6 and "no error" not in lines, out.stdout
    for line in errors[:3]:
        assert "gs://" in line and "pip install 'tb-lr-plugin[gcs]'" in line, line
    for line in errors[3:]:
        assert "unknown URL scheme 'nosuchscheme'" in line, line
    assert lines.count("cli: 2") == 2
    assert "tb-lr-audit: error: logdir 'gs://my-bucket/logs/run1' needs" in out.stderr
    # Nothing named after the URL (no "gs:" folder), nothing at all.
    assert lines[-1] == "files: []" and os.listdir(tmp_path) == []
