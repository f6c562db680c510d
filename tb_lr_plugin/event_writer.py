"""Writing this plugin's records to a TF event file, without TensorFlow.

`EventWriter` is what the callbacks call. It encodes records with
TensorBoard's protos and `metadata.py`, keeps them in memory, and appends
them to its own event file on `flush()` with one `write` call, so a process
killed at any moment leaves every earlier flush readable and at most one
truncated record at the tail (which every reader skips).

A logger must never hurt the training: an `OSError` while writing is
warned about once and the records stay buffered (up to a bound) for the
next flush, so a disk that fills and frees, or a log directory deleted and
recreated, loses as little as possible. A write that fails half-way is cut
back, so the retried records follow complete ones.
"""

import itertools
import os
import socket
import threading
import time
import warnings

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2

from tb_lr_plugin import metadata, record

# Records kept while the disk refuses them; past this the oldest go.
_MAX_PENDING_BYTES = 256 << 20
_file_counter = itertools.count()


class EventWriter:
    """Appends this plugin's records to one new event file in `logdir`.

    Args:
      logdir: the run directory (created if missing).
      filename_suffix: appended to the event file name.

    Example:
      >>> w = EventWriter("/tmp/logs/run1")
      >>> w.add_array(metadata.KIND_LR, "lr/adam", [[1, 1e-3, 1e-3]], optimizer="adam")
      >>> w.flush()
      True
    """

    def __init__(self, logdir, filename_suffix=".lr"):
        self._logdir = os.fspath(logdir)
        self._suffix = filename_suffix
        self._lock = threading.Lock()
        self._pending = []
        self._pending_bytes = 0
        self._fd = None
        self._path = None
        self._tags_in_file = set()
        self._last_step = {}  # tag -> step of its last record written
        self._warned = False
        self.closed = False

    @property
    def path(self):
        """The event file currently written to (`None` before the first flush)."""
        return self._path

    def add_array(self, kind, tag, rows, **fields):
        """Buffers a float64 `[n, width]` record (`lr` or `batch`).

        Args:
          kind: `metadata.KIND_LR` or `metadata.KIND_BATCH`.
          tag: the record's tag, from `metadata.lr_tag` / `metadata.batch_tag`.
          rows: array-like `[n, width]` whose first column is the step.
          **fields: extra metadata fields (the optimizer's name for `lr`).
        """
        rows = np.asarray(rows, dtype=np.float64)
        if len(rows):
            self._add(kind, tag, int(rows[0, 0]), rows, fields)

    def add_json(self, kind, tag, items, step):
        """Buffers a JSON-list record (`epochs`, `events`, `plateau`, ...).

        Args:
          kind: one of `metadata.JSON_KINDS`.
          tag: the record's tag.
          items: a non-empty list of JSON-serialisable dicts.
          step: the step of the first item.
        """
        if items:
            self._add(kind, tag, int(step), list(items), {})

    def _add(self, kind, tag, step, payload, fields):
        with self._lock:
            self._pending.append((kind, tag, step, payload, fields, time.time()))
            self._pending_bytes += _size(payload)

    def _records(self):
        """The pending data as one record per tag, each at a step above the
        tag's previous record.

        TensorBoard keeps one record per step of a tag (the Rust loader drops
        earlier ones at an equal or lower step), so two events at one step
        must travel in one record. Items keep their own steps; the record's
        step only orders records.
        """
        merged, encoded = {}, []
        for kind, tag, step, payload, fields, wall_time in self._pending:
            if tag in merged:
                merged[tag][3].append(payload)
            else:
                merged[tag] = (kind, tag, step, [payload], fields, wall_time)
        for kind, tag, step, payloads, fields, wall_time in merged.values():
            last = self._last_step.get(tag)
            if last is not None and step <= last:
                step = last + 1
            if kind in metadata.ARRAY_KINDS:
                tensor = metadata.array_to_tensor_proto(np.concatenate(payloads))
            else:
                tensor = metadata.json_to_tensor_proto([i for p in payloads for i in p])
            encoded.append((tag, step, self._encode(kind, tag, step, tensor, fields, wall_time)))
        framed = record.frame_all([payload for _, _, payload in encoded])
        return [(tag, step, data) for (tag, step, _), data in zip(encoded, framed, strict=True)]

    def _encode(self, kind, tag, step, tensor, fields, wall_time):
        value = summary_pb2.Summary.Value(tag=tag, tensor=tensor)
        if tag not in self._tags_in_file:
            value.metadata.CopyFrom(metadata.create_summary_metadata(kind, **fields))
            self._tags_in_file.add(tag)
        event = event_pb2.Event(
            wall_time=wall_time, step=step, summary=summary_pb2.Summary(value=[value])
        )
        return event.SerializeToString()

    def _open(self):
        os.makedirs(self._logdir, exist_ok=True)
        while True:
            name = (
                f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}."
                f"{os.getpid()}.{next(_file_counter)}{self._suffix}"
            )
            path = os.path.join(self._logdir, name)
            try:
                # Never append to a file another writer owns (the name can
                # repeat: two containers sharing a host name and a pid).
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
                break
            except FileExistsError:
                continue
        header = event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2")
        try:
            _write_all(fd, record.frame(header.SerializeToString()))
        except OSError:
            # Disk full: leave no headless file behind (one per retry).
            os.close(fd)
            _remove(path)
            raise
        self._fd, self._path = fd, path
        self._tags_in_file = set()

    def _file_is_gone(self):
        try:
            return os.fstat(self._fd).st_nlink == 0
        except OSError:
            return True

    def flush(self):
        """Writes every buffered record. Never raises.

        Returns:
          True if everything buffered is now in the file.
        """
        with self._lock:
            if not self._pending or self.closed:
                return not self._pending
            try:
                if self._fd is not None and self._file_is_gone():
                    # The directory was removed under us: start a new file
                    # rather than writing into an unlinked inode.
                    self._warn(
                        f"tb_lr_plugin's event file {self._path!r} was deleted during "
                        f"training, with the records it held; writing goes on in a new file."
                    )
                    self._close_fd()
                if self._fd is None:
                    self._open()
                tags_before = set(self._tags_in_file)
                records = list(self._records())
                size = os.fstat(self._fd).st_size
                try:
                    _write_all(self._fd, b"".join(r[2] for r in records))
                except OSError:
                    self._tags_in_file = tags_before
                    self._cut_back(size)
                    raise
                for tag, step, _ in records:
                    self._last_step[tag] = step
                self._pending = []
                self._pending_bytes = 0
                return True
            except OSError as e:
                self._warn(
                    f"tb_lr_plugin could not write learning-rate logs to {self._logdir!r} "
                    f"({e}); training goes on, and writing will be retried at the next flush."
                )
                self._trim_pending()
                return False

    def _cut_back(self, size):
        """Removes what a failed write left after `size` bytes.

        A write that fails half-way (disk full) leaves a partial record at
        the tail; the retry must not append complete records after it,
        where no reader would find them. If even truncating fails, the file
        is left with that torn tail (readers skip it) for a new one.
        """
        try:
            os.ftruncate(self._fd, size)
        except OSError:
            self._close_fd()

    def _trim_pending(self):
        while self._pending_bytes > _MAX_PENDING_BYTES and len(self._pending) > 1:
            self._pending_bytes -= _size(self._pending.pop(0)[3])

    def _warn(self, message):
        """One warning per writer, whatever goes wrong and however often."""
        if not self._warned:
            self._warned = True
            warnings.warn(message, RuntimeWarning, stacklevel=3)

    def _close_fd(self):
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
        self._fd = None

    def close(self):
        """Flushes and closes the file. Never raises."""
        self.flush()
        with self._lock:
            self._close_fd()
            self.closed = True


def _size(payload):
    return payload.nbytes if isinstance(payload, np.ndarray) else 200 * len(payload)


def _remove(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
