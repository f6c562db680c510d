"""Shared fixtures: synthetic runs written with the real writer, and the
real TensorBoard app around the plugin (in process, or as a subprocess).

Nothing here imports TensorFlow or Keras: runs are written with
`tb_lr_plugin.event_writer.EventWriter`, and Keras-style scalars (what
`keras.callbacks.TensorBoard` writes) are framed with `tb_lr_plugin.record`.
"""

# First: under KERAS_BACKEND=jax/torch, TensorFlow must stay unimportable.
from keras_backend import keras_backend, keras_flavour  # noqa: F401, I001 - fixtures

import dataclasses
import itertools
import os
import re
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.util import tensor_util

from tb_lr_plugin import metadata, record
from tb_lr_plugin.event_writer import EventWriter

VENV_BIN = os.path.dirname(sys.executable)
_scalar_files = itertools.count()


@dataclasses.dataclass
class RunSpec:
    """What a synthetic run holds, for the assertions."""

    lr: dict  # optimizer -> float64 [n, 3] step, planned, actual
    loss: np.ndarray  # [n, 2] step, batch loss
    epochs: list
    events: list


def write_run(
    run_dir,
    *,
    steps=600,
    epochs=6,
    optimizers=("adam",),
    reductions=(2, 4),
    start_step=1,
    start_epoch=0,
    writer=None,
    close=True,
    flushes_per_epoch=1,
):
    """Writes a run the way `LearningRateLogger` + `ReduceLROnPlateau` do.

    One flush per epoch: per optimizer an `lr` record of the epoch's rows,
    a `batch/loss` record, an `epochs` record, and at a reduction two
    `events` records at one step (the reduction, the cooldown start), each
    written on its own as the callbacks' `record_event` writes them.

    Args:
      run_dir: the run directory.
      steps: updates in total; epochs: how many epochs they make.
      optimizers: names; each gets its own planned/actual series.
      reductions: epochs (0-based, relative) after which the LR halves.
      start_step, start_epoch: where this stretch starts (for appending).
      writer: an existing `EventWriter` to append with.
      close: close the writer at the end.
      flushes_per_epoch: flush the rows of an epoch in this many records
        (as the logger's `flush_secs` timer does in long epochs).

    Returns:
      `(RunSpec, writer)`.
    """
    writer = writer or EventWriter(run_dir)
    per_epoch = steps // epochs
    spec = RunSpec(lr={o: [] for o in optimizers}, loss=[], epochs=[], events=[])
    factor = 1.0
    for e in range(epochs):
        epoch = start_epoch + e
        first = start_step + e * per_epoch
        s = np.arange(first, first + per_epoch, dtype=np.float64)
        loss_rows = np.stack([s, 2.0 / np.sqrt(s) + 0.01 * np.cos(s)], axis=1)
        spec.loss.append(loss_rows)
        lr_rows = {}
        for k, name in enumerate(optimizers):
            planned = np.float32(1e-3 * (k + 1)) * np.ones(len(s), dtype=np.float32)
            # A tiny per-step ripple so every row carries its own value.
            planned = (planned * (1 + 1e-3 * np.sin(s / 7))).astype(np.float32)
            actual = (planned * np.float32(factor)).astype(np.float32)
            lr_rows[name] = np.stack(
                [s, planned.astype(np.float64), actual.astype(np.float64)], axis=1
            )
            spec.lr[name].append(lr_rows[name])
        for part in np.array_split(np.arange(len(s)), flushes_per_epoch):
            for name, rows in lr_rows.items():
                writer.add_array(
                    metadata.KIND_LR, metadata.lr_tag(name), rows[part], optimizer=name
                )
            writer.add_array(
                metadata.KIND_BATCH, metadata.batch_tag("loss"), loss_rows[part], metric="loss"
            )
            if len(part) and part[-1] != len(s) - 1:
                writer.flush()
        last = int(s[-1])
        logs = {"loss": float(loss_rows[-1, 1]), "val_loss": 1.0 / (epoch + 1)}
        item = metadata.epoch_item(epoch, last, logs)
        writer.add_json(metadata.KIND_EPOCHS, metadata.TAG_EPOCHS, [item], last)
        spec.epochs.append(item)
        if e in reductions:
            old = 1e-3 * factor
            factor *= 0.5
            events = [
                metadata.event_item(
                    metadata.EVENT_REDUCTION,
                    epoch,
                    last,
                    optimizer=optimizers[0],
                    monitor="val_loss",
                    value=1.0 / (epoch + 1),
                    best=1.0 / (epoch + 1),
                    wait=2,
                    patience=2,
                    old_lr=old,
                    new_lr=old * 0.5,
                    factor=0.5,
                    min_lr=0.0,
                    cooldown=1,
                ),
                metadata.event_item(
                    metadata.EVENT_COOLDOWN,
                    epoch,
                    last,
                    phase="start",
                    cooldown=1,
                    monitor="val_loss",
                ),
            ]
            for event in events:  # one record each, as the callbacks' `record_event`
                writer.add_json(metadata.KIND_EVENTS, metadata.TAG_EVENTS, [event], last)
            spec.events.extend(events)
        writer.flush()
    if close:
        writer.close()
    spec.lr = {k: np.concatenate(v) for k, v in spec.lr.items()}
    spec.loss = np.concatenate(spec.loss)
    return spec, writer


def write_scalars(run_dir, series, wall_time=None):
    """Writes `tf.summary.scalar`-style events (plugin `scalars`), TF-free.

    Args:
      run_dir: the run directory (e.g. `<run>/train`).
      series: `{tag: [(step, value) or (step, value, wall_time), ...]}`.
      wall_time: default wall time of the points (now).
    """
    os.makedirs(run_dir, exist_ok=True)
    wall_time = time.time() if wall_time is None else wall_time
    chunks = [
        record.frame(
            event_pb2.Event(wall_time=wall_time, file_version="brain.Event:2").SerializeToString()
        )
    ]
    points = []
    for tag, values in series.items():
        for v in values:
            points.append((v[2] if len(v) > 2 else wall_time, tag, v[0], v[1]))
    seen = set()
    for wt, tag, step, value in sorted(points, key=lambda p: p[0]):
        val = summary_pb2.Summary.Value(
            tag=tag, tensor=tensor_util.make_tensor_proto(np.float32(value))
        )
        if tag not in seen:
            seen.add(tag)
            val.metadata.plugin_data.plugin_name = "scalars"
            val.metadata.data_class = summary_pb2.DATA_CLASS_SCALAR
        event = event_pb2.Event(
            wall_time=wt, step=int(step), summary=summary_pb2.Summary(value=[val])
        )
        chunks.append(record.frame(event.SerializeToString()))
    name = f"events.out.tfevents.{int(wall_time)}.test.{os.getpid()}.{next(_scalar_files)}.v2"
    with open(os.path.join(run_dir, name), "wb") as f:
        f.write(b"".join(chunks))


def write_corrupt_run(run_dir):
    """A run with a garbage event file and one cut in the middle of a record."""
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, "events.out.tfevents.1.garbage"), "wb") as f:
        f.write(b"\x00\xff not a tfrecord at all " * 40)
    spec, writer = write_run(os.path.join(run_dir, "cut"), steps=60, epochs=3, reductions=())
    with open(writer.path, "rb") as f:
        data = f.read()
    with open(writer.path, "wb") as f:
        f.write(data[: len(data) - 37])


@pytest.fixture
def logdir(tmp_path):
    path = tmp_path / "logs"
    path.mkdir()
    return path


class InProcessTensorBoard:
    """The real TensorBoard WSGI app (core + scalars + this plugin) over a
    logdir, with the Python loader and explicit reloads."""

    def __init__(self, logdir, plugins=None, **flags):
        from tensorboard import program
        from tensorboard.backend import application
        from tensorboard.backend.event_processing import data_ingester
        from tensorboard.plugins.core import core_plugin
        from tensorboard.plugins.scalar import scalars_plugin
        from werkzeug import test as werkzeug_test
        from werkzeug import wrappers

        from tb_lr_plugin.plugin import LearningRateLoader

        plugins = plugins or [
            core_plugin.CorePluginLoader(include_debug_info=False),
            scalars_plugin.ScalarsPlugin,
            LearningRateLoader,
        ]
        self.tb = program.TensorBoard(plugins=plugins)
        self.tb.configure(
            logdir=str(logdir),
            reload_interval=0,
            reload_task="blocking",
            load_fast="false",
            **flags,
        )
        self.logdir = str(logdir)
        self.ingester = data_ingester.LocalDataIngester(self.tb.flags)
        self.ingester.start()
        self.app = application.TensorBoardWSGIApp(
            self.tb.flags,
            self.tb.plugin_loaders,
            self.ingester.data_provider,
            self.tb.assets_zip_provider,
            self.ingester.deprecated_multiplexer,
        )
        self.client = werkzeug_test.Client(self.app, wrappers.Response)

    def reload(self):
        multiplexer = self.ingester.deprecated_multiplexer
        multiplexer.AddRunsFromDirectory(self.logdir)
        multiplexer.Reload()

    def get(self, route, **query):
        """GETs `/data/plugin/learning_rate/<route>` with `query`."""
        return self.client.get("/data/plugin/learning_rate/" + route, query_string=query)


@pytest.fixture
def tensorboard_app():
    """Factory: `tensorboard_app(logdir, **flags) -> InProcessTensorBoard`."""
    return InProcessTensorBoard


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TensorBoardProcess:
    """A real `tensorboard` command on 127.0.0.1 at a port the OS chose."""

    def __init__(self, logdir, *args, timeout=90, command=None):
        self.log = []
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [
                *(command or [os.path.join(VENV_BIN, "tensorboard")]),
                "--logdir",
                str(logdir),
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        ready = threading.Event()
        self.url = None

        def pump():
            for line in self.proc.stdout:
                self.log.append(line)
                m = re.search(r"TensorBoard \S+ at (http://127\.0\.0\.1:\d+)/", line)
                if m and not ready.is_set():
                    self.url = m.group(1)
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(timeout) or self.url is None:
            self.stop()
            raise RuntimeError("tensorboard did not start:\n" + "".join(self.log))

    def get(self, path, timeout=30, **query):
        """GETs `path` (absolute, or a route of the plugin): (status, headers, body)."""
        import urllib.error
        import urllib.parse
        import urllib.request

        if not path.startswith("/"):
            path = "/data/plugin/learning_rate/" + path
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def tensorboard_process():
    """Factory: `tensorboard_process(logdir, *flags)`, stopped after the module."""
    started = []

    def start(logdir, *args):
        tb = TensorBoardProcess(logdir, *args)
        started.append(tb)
        return tb

    yield start
    for tb in started:
        tb.stop()


@pytest.fixture(scope="session")
def framework_logs(tmp_path_factory):
    """`(logdir, {framework: truth})`: tf_keras, Lightning, Hugging Face and
    SummaryWriter runs the real libraries wrote (tests/framework_logs.py)."""
    import framework_logs as writers

    return writers.write_all(str(tmp_path_factory.mktemp("frameworks")))
