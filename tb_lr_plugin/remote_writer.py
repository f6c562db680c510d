"""Writing this plugin's records to an object store (`gs://`, `s3://`, ...).

Object stores cannot append, so `RemoteEventWriter` writes each upload as
one new, immutable object: a complete event file (its own `brain.Event:2`
header, then the records flushed since the previous upload, each tag's
first record carrying its summary metadata). An upload costs one PUT of
the new bytes only, however long the run has been going.

Object names sort in upload order, which is the order TensorBoard reads
the files of a run in (both loaders sort by name) and the order our steps
increase in:

    events.out.tfevents.<unix time, 10 digits>.<host>.<pid>.<writer>.<seq, 6 digits>.lr

The training thread only encodes and queues (what `EventWriter` does
before its `write`); a daemon thread uploads. While the store fails, it
retries with exponential backoff and the records wait in memory up to a
bound, past which the oldest go to local event files in a spill directory
(uploaded, then removed, when the store answers again). One warning says
what happened and where the spill directory is. `close()` waits a bounded
time for the queue to drain, then spills what is left.
"""

import collections
import os
import re
import secrets
import socket
import tempfile
import threading
import time

from tensorboard.compat.proto import event_pb2

from tb_lr_plugin import record, storage
from tb_lr_plugin.event_writer import EventWriter

MAX_MEMORY_BYTES = 64 << 20
MAX_OBJECT_BYTES = 16 << 20
CLOSE_TIMEOUT_SECS = 60.0
MIN_UPLOAD_SECS = 0.0
BACKOFF_SECS = (0.25, 8.0)


def writer_for(log_dir, filename_suffix=".lr"):
    """The writer for `log_dir`: `EventWriter` for a local path (or
    `file://`), `RemoteEventWriter` for any other URL.

    Raises:
      ValueError: `log_dir` is a URL no installed filesystem serves.
    """
    if storage.is_url(log_dir):
        return RemoteEventWriter(log_dir, filename_suffix)
    return EventWriter(storage.local_path(log_dir), filename_suffix)


class _Chunk:
    """Queued bytes: in memory (`data`), or spilled to a local file (`path`)."""

    __slots__ = ("data", "path", "size")

    def __init__(self, data=None, path=None, size=0):
        self.data, self.path, self.size = data, path, size


class RemoteEventWriter(EventWriter):
    """Uploads this plugin's records to `url`, one new object per upload.

    Same interface as `EventWriter` (`add_array`, `add_json`, `flush`,
    `close`), and it never raises after construction either. `flush()`
    queues; it returns True once the records are queued.

    Args:
      url: the run's URL, e.g. `"s3://bucket/logs/run1"`.
      filename_suffix: appended to each object's name.
      max_memory_bytes: records kept in memory while the store fails;
        older ones go to `spill_dir`.
      max_object_bytes: largest object one upload writes.
      close_timeout: longest `close()` waits for the uploads.
      min_upload_secs: shortest time between two uploads (flushes in
        between share an object).
      spill_dir: local directory for records the store did not take
        (default: a new directory under the system's temp directory).

    Raises:
      ValueError: no installed filesystem serves `url`.

    Example:
      >>> w = RemoteEventWriter("memory://logs/run1")
      >>> w.add_array(metadata.KIND_LR, "lr/adam", [[1, 1e-3, 1e-3]], optimizer="adam")
      >>> w.flush(), w.close()
      (True, None)
    """

    def __init__(
        self,
        url,
        filename_suffix=".lr",
        *,
        max_memory_bytes=MAX_MEMORY_BYTES,
        max_object_bytes=MAX_OBJECT_BYTES,
        close_timeout=CLOSE_TIMEOUT_SECS,
        min_upload_secs=MIN_UPLOAD_SECS,
        spill_dir=None,
    ):
        self._fs, self._root = storage.filesystem(url)
        super().__init__(url, filename_suffix)
        self._url = url.rstrip("/")
        self._max_memory = max_memory_bytes
        self._max_object = max_object_bytes
        self._close_timeout = close_timeout
        self._min_interval = min_upload_secs
        self._token = secrets.token_hex(3)
        self._spill_dir = spill_dir or os.path.join(
            tempfile.gettempdir(),
            "tb_lr_plugin-spill",
            f"{re.sub(r'[^A-Za-z0-9._-]+', '_', self._url)[-80:]}.{os.getpid()}.{self._token}",
        )
        self._cond = threading.Condition()
        self._queue = collections.deque()
        self._memory = 0  # bytes of in-memory chunks, in flight included
        self._inflight = 0  # chunks at the queue's head being uploaded
        self._closing = False
        self._abandon = threading.Event()
        self._thread = None
        self._problem = None  # left by the upload thread for the next flush
        self._seq = 0
        self._last_time = 0
        self.uploads = []  # (object name, bytes, seconds) of each upload

    @property
    def spill_dir(self):
        """Where records go that the store did not take in time."""
        return self._spill_dir

    def flush(self):
        """Queues every buffered record for upload. Never raises.

        Returns:
          True (records wait in memory or on local disk, never dropped
          unless both bounds are exceeded).
        """
        with self._lock:
            if not self.closed and self._pending:
                # Each chunk carries the metadata of its tags, so that any
                # run of chunks behind a header is a valid event file.
                self._tags_in_file = set()
                records = list(self._records())
                for tag, step, _ in records:
                    self._last_step[tag] = step
                self._pending = []
                self._pending_bytes = 0
                self._enqueue(b"".join(r[2] for r in records))
            self._emit_problem()
            return not self._pending

    def _enqueue(self, data):
        with self._cond:
            self._queue.append(_Chunk(data=data, size=len(data)))
            self._memory += len(data)
            if self._memory > self._max_memory:
                self._spill(start=self._inflight)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="tb_lr_plugin-upload", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def _run(self):
        """The upload thread: one object per round, until closed and empty."""
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                batch = self._take()
            self._upload(batch)
            with self._cond:
                self._inflight = 0
                if self._abandon.is_set():
                    return  # close() spilled the queue, this batch included
                for _ in batch:
                    chunk = self._queue.popleft()
                    if chunk.path is None:
                        self._memory -= chunk.size
                    else:
                        _remove(chunk.path)
                self._cond.notify_all()
                if self._min_interval and not self._closing:
                    self._cond.wait_for(lambda: self._closing, self._min_interval)

    def _take(self):
        """The chunks of the next object (a spilled file goes alone)."""
        if self._queue[0].path is not None:
            batch = [self._queue[0]]
        else:
            batch, size = [], 0
            for chunk in self._queue:
                if chunk.path is not None or (batch and size + chunk.size > self._max_object):
                    break
                batch.append(chunk)
                size += chunk.size
        self._inflight = len(batch)
        return batch

    def _upload(self, batch):
        """PUTs `batch` as one object, retrying with backoff until it is
        stored or `close()` gives up."""
        if batch[0].path is not None:
            try:
                with open(batch[0].path, "rb") as f:
                    data = f.read()
            except OSError:
                return  # the spill file is gone: nothing left to send
        else:
            data = _header() + b"".join(c.data for c in batch)
        name = self._next_name()
        url = storage.join(self._url, name)
        delay = BACKOFF_SECS[0]
        while not self._abandon.is_set():
            start = time.perf_counter()
            try:
                self._fs.pipe_file(storage.join(self._root, name), data)
            except Exception as e:  # noqa: BLE001 - any store error is retried
                self._note_problem(e)
                self._abandon.wait(delay)
                delay = min(delay * 2, BACKOFF_SECS[1])
                continue
            self.uploads.append((name, len(data), time.perf_counter() - start))
            self._path = url
            return

    def _next_name(self):
        now = max(int(time.time()), self._last_time)
        self._last_time = now
        self._seq += 1
        return (
            f"events.out.tfevents.{now:010d}.{socket.gethostname()}.{os.getpid()}."
            f"{self._token}.{self._seq:06d}{self._suffix}"
        )

    def _spill(self, start):
        """Moves the in-memory chunks after index `start` into one local
        event file, which takes their place in the queue."""
        chunks = [c for c in list(self._queue)[start:] if c.path is None]
        if not chunks:
            return
        data = _header() + b"".join(c.data for c in chunks)
        path = os.path.join(self._spill_dir, self._spill_name())
        try:
            os.makedirs(self._spill_dir, exist_ok=True)
            with open(path, "xb") as f:
                f.write(data)
        except OSError:
            # Neither the store nor the disk takes them: drop the oldest
            # rather than grow without bound.
            self._drop_oldest(start)
            return
        keep = list(self._queue)[:start] + [c for c in list(self._queue)[start:] if c.path]
        self._queue = collections.deque(keep + [_Chunk(path=path, size=len(data))])
        self._memory -= sum(c.size for c in chunks)

    def _spill_name(self):
        self._seq += 1
        return (
            f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}."
            f"{os.getpid()}.{self._token}.{self._seq:06d}{self._suffix}"
        )

    def _drop_oldest(self, start):
        while self._memory > self._max_memory and len(self._queue) > start + 1:
            chunk = self._queue[start]
            del self._queue[start]
            if chunk.path is None:
                self._memory -= chunk.size

    def _note_problem(self, error):
        if self._problem is None:
            self._problem = (
                f"tb_lr_plugin could not upload learning-rate logs to {self._url!r} "
                f"({type(error).__name__}: {error}); training goes on and uploads are retried. "
                f"Until the store answers, records are kept in memory (up to "
                f"{self._max_memory >> 20} MB), then in {self._spill_dir!r}."
            )

    def _emit_problem(self):
        if self._problem is not None:
            self._warn(self._problem)

    def close(self):
        """Uploads what is left, waiting at most `close_timeout` seconds,
        then keeps the rest in `spill_dir`. Never raises."""
        self.flush()
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(self._close_timeout)
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                self._abandon.set()
                with self._cond:
                    self._spill(start=0)
                self._note_problem(TimeoutError(f"not done after {self._close_timeout:g} s"))
            self._emit_problem()
            self.closed = True

    def pending_bytes(self):
        """Bytes queued or spilled and not yet uploaded."""
        with self._cond:
            return sum(c.size for c in self._queue)


def _header():
    event = event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2")
    return record.frame(event.SerializeToString())


def _remove(path):
    try:
        os.unlink(path)
    except OSError:
        pass
