"""Helpers shared by the fault-injection tests (tests/test_faults_*.py).

Every reader a user has is asked the same question: TensorBoard's event
file loader (`training.read_run`), `tf.compat.v1.train.summary_iterator`,
the CLI (`tb_lr_plugin.cli.run`, `loader.load`), the plugin inside the real
TensorBoard app, and an independent TFRecord parser written here, which
says what a file really holds (which records are complete, where a torn
tail starts) without trusting any of them.
"""

import contextlib
import csv
import io
import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
from tensorboard.compat.proto import event_pb2

from tb_lr_plugin import cli, metadata, record, run_data

HERE = os.path.dirname(os.path.abspath(__file__))


def framed_records(path, limit=None):
    """The complete, CRC-valid records at the start of an event file.

    Args:
      path: the event file.
      limit: read only its first `limit` bytes.

    Returns:
      `(payloads, end, size)`: the serialized `Event`s up to the first
      truncated or corrupt record, the offset where they end, and the size
      read. `end < size` means a damaged tail.
    """
    with open(path, "rb") as f:
        data = f.read() if limit is None else f.read(limit)
    payloads, pos = [], 0
    while pos + 12 <= len(data):
        header = data[pos : pos + 8]
        (length,) = struct.unpack("<Q", header)
        if struct.unpack_from("<I", data, pos + 8)[0] != record.masked_crc32c(header):
            break
        if pos + 16 + length > len(data):
            break
        payload = data[pos + 12 : pos + 12 + length]
        if struct.unpack_from("<I", data, pos + 12 + length)[0] != record.masked_crc32c(payload):
            break
        payloads.append(payload)
        pos += 16 + length
    return payloads, pos, len(data)


def event_files(directory):
    return sorted(os.path.join(directory, n) for n in os.listdir(directory) if "tfevents" in n)


def run_from_payloads(payloads_by_file):
    """Assembles a `RunData` from raw `Event` payloads, file by file, as
    `training.read_run` does (metadata is per file and tag)."""
    records = []
    for payloads in payloads_by_file:
        metas = {}
        for payload in payloads:
            event = event_pb2.Event.FromString(payload)
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name
                if value.HasField("metadata") and plugin:
                    if plugin != metadata.PLUGIN_NAME:
                        continue
                    metas[value.tag] = metadata.parse_plugin_metadata(
                        value.metadata.plugin_data.content
                    )
                meta = metas.get(value.tag)
                if meta:
                    records.append((value.tag, meta, event.wall_time, event.step, value.tensor))
    return run_data.assemble(records)


def summary_iterator_events(path):
    """`(events, errors)`: what `tf.compat.v1.train.summary_iterator` yields
    before it stops, and how many errors it stopped with (0 or 1)."""
    import tensorflow as tf

    events = []
    try:
        for event in tf.compat.v1.train.summary_iterator(path):
            events.append(event.SerializeToString())
    except tf.errors.DataLossError:
        return events, 1
    return events, 0


def _jsonable(items):
    return json.loads(json.dumps(items))


def assert_same_run(got, want, context=""):
    """Asserts two `RunData`s hold exactly the same records."""
    assert sorted(got.optimizers) == sorted(want.optimizers), context
    for name, rows in want.optimizers.items():
        np.testing.assert_array_equal(got.optimizers[name], rows, err_msg=f"{context} lr {name}")
    assert sorted(got.batch) == sorted(want.batch), context
    for name, rows in want.batch.items():
        np.testing.assert_array_equal(got.batch[name], rows, err_msg=f"{context} batch {name}")
    for field in ("epochs", "events", "plateau", "sessions"):
        assert _jsonable(getattr(got, field)) == _jsonable(getattr(want, field)), (
            f"{context} {field}"
        )


def assert_contiguous(rows, first=1):
    """Steps `first, first + 1, ...` with no gap and no duplicate."""
    steps = rows[:, 0]
    np.testing.assert_array_equal(steps, np.arange(first, first + len(steps)))


def run_cli(logdir, *args):
    """`tb-lr-audit` in process: `(status, stdout, stderr)`."""
    out, err = io.StringIO(), io.StringIO()
    code = cli.run([str(logdir), *args], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def csv_rows(text):
    """`{(run, optimizer): float64 [n, 3]}` from the export CSV."""
    rows = {}
    reader = csv.reader(io.StringIO(text))
    assert next(reader) == ["run", "optimizer", "step", "planned", "actual"]
    for run, opt, step, planned, actual in reader:
        rows.setdefault((run, opt), []).append([float(step), float(planned), float(actual)])
    return {k: np.array(v) for k, v in rows.items()}


def plugin_view(tb, run):
    """What the plugin serves for `run` in an `InProcessTensorBoard`:
    `(lr rows per optimizer, events)`, both exact (export and events)."""
    response = tb.get("export", run=run, format="csv")
    assert response.status_code == 200, response.data
    rows = {opt: r for (_, opt), r in csv_rows(response.data.decode()).items()}
    response = tb.get("events", run=run)
    assert response.status_code == 200, response.data
    return rows, json.loads(response.data)["events"]


def assert_plugin_serves(tb, run, want):
    """The plugin's exact routes match `want` (a `RunData`)."""
    rows, events = plugin_view(tb, run)
    assert sorted(rows) == sorted(want.optimizers), run
    for name, expected in want.optimizers.items():
        np.testing.assert_array_equal(rows[name], expected, err_msg=f"plugin {run} {name}")
    assert events == _jsonable(want.events), run


def python(args, timeout, env=None, **kwargs):
    """Runs a Python subprocess with the test directory importable."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [HERE, env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return subprocess.run(
        [sys.executable, *args], env=env, timeout=timeout, capture_output=True, text=True, **kwargs
    )


@contextlib.contextmanager
def tmpfs(path, size="256k", options=""):
    """Mounts a small tmpfs at `path` for the block (skips if impossible)."""
    os.makedirs(path, exist_ok=True)
    opts = f"size={size}" + (f",{options}" if options else "")
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip() or result.returncode}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


class ReadOnly:
    """Makes a directory read-only for new files, and writable again.

    As root (who ignores permissions) the directory is bind-mounted onto
    itself read-only: opening or creating a file in it fails with EROFS,
    while a file already open elsewhere stays writable (Linux refuses to
    remount a file system read-only under an open writer). Otherwise its
    mode becomes 0o555.
    """

    def __init__(self, path):
        self.path = str(path)
        self.mounted = False
        self._mode = None

    def on(self):
        if os.geteuid() == 0:
            bind = subprocess.run(["mount", "--bind", self.path, self.path], capture_output=True)
            if bind.returncode != 0:
                pytest.skip(f"cannot bind-mount as root: {bind.stderr.decode().strip()}")
            self.mounted = True
            subprocess.run(["mount", "-o", "remount,bind,ro", self.path], check=True)
        else:
            self._mode = os.stat(self.path).st_mode & 0o777
            os.chmod(self.path, 0o555)

    def off(self):
        if self.mounted:
            subprocess.run(["umount", self.path], check=True)
            self.mounted = False
        elif self._mode is not None:
            os.chmod(self.path, self._mode)
            self._mode = None


def fill(directory, leave=0):
    """Fills the file system of `directory`, then frees `leave` bytes.

    Returns:
      The path of the filler file (delete it to free the space).
    """
    path = os.path.join(directory, "filler")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    size = 0
    try:
        chunk = b"\0" * 4096
        while True:
            try:
                size += os.write(fd, chunk)
            except OSError:
                break
        os.ftruncate(fd, max(0, size - leave))
    finally:
        os.close(fd)
    return path
