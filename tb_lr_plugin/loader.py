"""Reading a logdir for `tb-lr-audit`, with TensorBoard's own loading code.

Discovery is `io_wrapper.GetLogdirSubdirectories` and every event file is
read by `event_file_loader.EventFileLoader` (with TensorBoard's read-time
compat layers), exactly as TensorBoard's Python loader reads them; what
differs is that nothing is sampled away: every record is kept.

- A directory holding records of this plugin is a run, named as
  TensorBoard names it (its path relative to the logdir, `.` for the
  logdir itself).
- Keras's `TensorBoard` callback writes `<run>/train` and
  `<run>/validation`; their scalars are attached to `<run>`, which becomes
  a run of its own (the audit's fallback) when it has no records of ours
  but Keras logged `epoch_learning_rate`.
- A truncated or corrupt event file is read up to the damage (what
  TensorBoard also does) and reported once.

TensorFlow is never imported by this module. `use_tensorboard_stub()`,
which the command line calls first, makes TensorBoard use its TF-free
stub even where TensorFlow is installed (importing TensorFlow costs
seconds). The stub's record reader checks CRC32C in pure Python, a byte at
a time (about 6 MB/s), so that one piece is replaced by
`CheckedRecordReader`: the same interface and the same errors, reading a
file's records at once and checking every CRC in one vectorized numpy
pass (about 150 MB/s). Everything above the record level stays
TensorBoard's.
"""

import dataclasses
import functools
import logging
import os
import struct
import sys
import time
import types

import numpy as np

from tb_lr_plugin import metadata, run_data, sanitize

KERAS_SPLITS = ("train", "validation")
SCALARS_PLUGIN = "scalars"

_NOTF = "tensorboard.compat.notf"


def use_tensorboard_stub():
    """Makes TensorBoard read event files without importing TensorFlow.

    TensorBoard resolves `tensorboard.compat.tf` lazily: to its stub when
    the module `tensorboard.compat.notf` exists (the `no_tensorflow` build
    of TensorBoard ships it), else to TensorFlow if installed. This
    registers that module, so it must run before anything asks for
    `tensorboard.compat.tf`, and does nothing once TensorFlow is imported.
    It also makes the stub read records with `CheckedRecordReader`.

    Returns:
      True if the stub is (or will be) used.
    """
    if "tensorflow" in sys.modules:
        return False
    if _NOTF not in sys.modules:
        sys.modules[_NOTF] = types.ModuleType(_NOTF)
    from tensorboard.compat import tf

    if getattr(tf, "__version__", None) != "stub":
        return False
    from tensorboard.compat.tensorflow_stub import pywrap_tensorflow

    pywrap_tensorflow.PyRecordReader_New = CheckedRecordReader
    return True


# -- CRC32C of many records at once ----------------------------------------
#
# The CRC register update over one byte is affine over GF(2): after a
# message m of n bytes, register = A^n(init) xor f(m), where A advances the
# register over a zero byte and f is linear (with f(zeros || m) = f(m)).
# So every record is right-aligned in 64-byte lanes, all lanes of all
# records are run through a two-byte table together (32 vectorized steps), each
# lane is advanced over the zero bytes of the lanes after it (A^k by
# binary powers), and the lanes of a record are xor-ed together.

_POLY = 0x82F63B78  # CRC32C (Castagnoli), reflected
_LANE = 64
_SMALL_RECORD = 512
_BATCH_BYTES = 8 << 20


def _byte_table():
    table = np.zeros(256, dtype=np.uint32)
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ (_POLY if crc & 1 else 0)
        table[i] = crc
    return table


_TABLE = _byte_table()


def _pair_table():
    """The register after two zero bytes, for every 16-bit register value."""
    regs = np.arange(1 << 16, dtype=np.uint32)
    regs = _TABLE[regs & 0xFF] ^ (regs >> 8)
    return (_TABLE[regs & 0xFF] ^ (regs >> 8)).astype(np.uint32)


_PAIR_TABLE = _pair_table()  # 256 KB: two bytes per vectorized step


def _linear_tables(images):
    """Four byte tables applying the linear map with these unit images."""
    values = np.arange(256, dtype=np.uint32)
    tables = []
    for k in range(4):
        table = np.zeros(256, dtype=np.uint32)
        for bit in range(8):
            table ^= np.where((values >> bit) & 1, images[8 * k + bit], 0).astype(np.uint32)
        tables.append(table)
    return tables


def _apply(tables, regs):
    t0, t1, t2, t3 = tables
    return t0[regs & 0xFF] ^ t1[(regs >> 8) & 0xFF] ^ t2[(regs >> 16) & 0xFF] ^ t3[regs >> 24]


@functools.lru_cache(maxsize=4)
def _powers(unit):
    """Tables of A^(unit * 2^j) for j = 0..47."""
    images = np.uint32(1) << np.arange(32, dtype=np.uint32)
    for _ in range(unit):
        images = _TABLE[images & 0xFF] ^ (images >> 8)
    powers = [_linear_tables(images)]
    for _ in range(47):
        images = _apply(powers[-1], images)
        powers.append(_linear_tables(images))
    return powers


def _advance(regs, counts, unit):
    """Advances each register over `counts * unit` zero bytes."""
    powers = _powers(unit)
    counts = np.asarray(counts, dtype=np.int64)
    j = 0
    while counts.any():
        sel = np.flatnonzero(counts & 1)
        if len(sel):
            regs[sel] = _apply(powers[j], regs[sel])
        counts = counts >> 1
        j += 1
    return regs


def _gather(buf, starts, lengths, dest, padded):
    """Copies `buf[starts[i]:][:lengths[i]]` to `padded[dest[i]:]`, for all i."""
    small = lengths <= _SMALL_RECORD
    # Many small records: one fancy-indexing copy. Large ones: memcpy each.
    if small.any():
        s_starts, s_lengths, s_dest = starts[small], lengths[small], dest[small]
        owner = np.repeat(np.arange(len(s_lengths)), s_lengths)
        within = np.arange(int(s_lengths.sum())) - np.repeat(
            np.cumsum(s_lengths) - s_lengths, s_lengths
        )
        padded[s_dest[owner] + within] = buf[s_starts[owner] + within]
    for i in np.flatnonzero(~small).tolist():
        size = int(lengths[i])
        padded[dest[i] : dest[i] + size] = buf[starts[i] : starts[i] + size]


def crc32c_many(buf, starts, lengths, lane=_LANE):
    """CRC32C of many byte ranges of `buf` in one vectorized pass.

    Args:
      buf: a `uint8` numpy array.
      starts, lengths: where each range begins and how long it is.
      lane: bytes per lane, even (64 suits records of a few KB; use 8 for
        the 8-byte record headers).

    Returns:
      A `uint32` array: `crc32c(buf[s:s + n])` for each range.
    """
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    n = len(starts)
    lanes = -(-lengths // lane)
    total = int(lanes.sum())
    ends = np.cumsum(lanes) * lane
    padded = np.zeros(total * lane, dtype=np.uint8)
    _gather(buf, starts, lengths, ends - lengths, padded)
    regs = np.zeros(total, dtype=np.uint32)
    if total:
        # Column j holds bytes 2j and 2j+1 of every lane, as one uint16.
        columns = np.ascontiguousarray(padded.view("<u2").reshape(total, lane // 2).T)
        index = np.empty(total, dtype=np.uint16)
        looked = np.empty(total, dtype=np.uint32)
        low = regs.view(np.uint16)[0::2] if sys.byteorder == "little" else None
        for column in columns:
            if low is not None:
                np.bitwise_xor(low, column, out=index)
            else:
                index[:] = (regs & 0xFFFF).astype(np.uint16) ^ column
            np.take(_PAIR_TABLE, index, out=looked)
            regs >>= 16
            regs ^= looked
        first = np.cumsum(lanes) - lanes
        owner = np.repeat(np.arange(n), lanes)
        regs = _advance(regs, (first + lanes - 1)[owner] - np.arange(total), lane)
    combined = np.zeros(n, dtype=np.uint32)
    has = lanes > 0
    if total:
        combined[has] = np.bitwise_xor.reduceat(regs, (np.cumsum(lanes) - lanes)[has])
    return combined ^ _init_terms(lengths) ^ np.uint32(0xFFFFFFFF)


_INIT_TERMS = {}


def _init_terms(lengths):
    """A^n(0xFFFFFFFF) for each length n: what the initial register adds.

    It depends on the length only, and a file's records have few distinct
    lengths (every epoch's `lr` record has the same), so values are cached.
    """
    unique, inverse = np.unique(lengths, return_inverse=True)
    missing = [int(n) for n in unique.tolist() if n not in _INIT_TERMS]
    if missing:
        regs = np.full(len(missing), 0xFFFFFFFF, dtype=np.uint32)
        values = _advance(regs, np.array(missing, dtype=np.int64), 1)
        if len(_INIT_TERMS) > 100_000:
            _INIT_TERMS.clear()
        _INIT_TERMS.update(zip(missing, values.tolist(), strict=True))
    table = np.array([_INIT_TERMS[int(n)] for n in unique.tolist()], dtype=np.uint32)
    return table[inverse.reshape(-1)]


def _u32_at(buf, offsets):
    """Little-endian uint32s stored at `offsets` of `buf`."""
    raw = buf[offsets[:, None] + np.arange(4)].astype(np.uint32)
    return raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16) | (raw[:, 3] << 24)


def _masked(crc):
    crc = crc.astype(np.uint64)
    return ((((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF).astype(np.uint32)


class CheckedRecordReader:
    """TensorBoard's stub `PyRecordReader_New`, with the CRCs checked in bulk.

    Same constructor, `GetNext()` (raising `OutOfRangeError` at the end and
    `DataLossError` at a truncated or corrupt record, after which nothing
    more of the file is read) and `record()`. The file is read once, when
    the first record is asked for.
    """

    def __init__(self, filename=None, start_offset=0, compression_type=None, status=None):
        from tensorboard.compat.tensorflow_stub import errors

        if filename is None:
            raise errors.NotFoundError(None, None, "No filename provided, cannot read Events")
        if start_offset or compression_type:
            raise errors.UnimplementedError(
                None, None, "start offset and compression are not supported"
            )
        self.filename = os.fsdecode(filename)
        if not os.path.exists(self.filename):
            raise errors.NotFoundError(
                None, None, f"{self.filename} does not point to valid Events file"
            )
        self.curr_event = None
        self._records = None
        self._next = 0
        self._error = None

    def _load(self):
        with open(self.filename, "rb") as f:
            data = f.read()
        offsets, lengths = [], []
        pos, size = 0, len(data)
        while pos < size:
            if pos + 12 > size:
                self._error = "truncated record header"
                break
            (length,) = struct.unpack_from("<Q", data, pos)
            if pos + 16 + length > size:
                self._error = "truncated record data"
                break
            offsets.append(pos)
            lengths.append(length)
            pos += 16 + length
        offsets = np.array(offsets, dtype=np.int64)
        lengths = np.array(lengths, dtype=np.int64)
        buf = np.frombuffer(data, dtype=np.uint8)
        good = len(offsets)
        start = 0
        while start < good:
            # Batches bound the memory the lanes take on huge files.
            stop = start + 1
            budget = int(lengths[start])
            while stop < good and budget + lengths[stop] <= _BATCH_BYTES:
                budget += int(lengths[stop])
                stop += 1
            bad = self._check(data, buf, offsets[start:stop], lengths[start:stop])
            if bad is not None:
                good = start + bad
                break
            start = stop
        self._records = [
            data[o + 12 : o + 12 + n]
            for o, n in zip(offsets[:good].tolist(), lengths[:good].tolist(), strict=True)
        ]

    def _check(self, data, buf, offsets, lengths):
        """Index of the first record whose header or data CRC is wrong."""
        head = _masked(crc32c_many(buf, offsets, np.full(len(offsets), 8), lane=8))
        body = _masked(crc32c_many(buf, offsets + 12, lengths))
        stored_head = _u32_at(buf, offsets + 8)
        stored_body = _u32_at(buf, offsets + 12 + lengths)
        wrong = np.flatnonzero((head != stored_head) | (body != stored_body))
        if len(wrong):
            self._error = "failed crc32 check"
            return int(wrong[0])
        return None

    def GetNext(self):  # noqa: N802 - TensorBoard's reader interface
        from tensorboard.compat.tensorflow_stub import errors

        if self._records is None:
            self._load()
        if self._next < len(self._records):
            self.curr_event = self._records[self._next]
            self._next += 1
            return
        self.curr_event = None
        if self._error:
            raise errors.DataLossError(None, None, f"{self.filename}: {self._error}")
        raise errors.OutOfRangeError(None, None, "No more events to read")

    def record(self):
        return self.curr_event


@dataclasses.dataclass
class Run:
    """One run as the audit sees it.

    Attributes:
      name: TensorBoard's run name (`.` for the logdir itself).
      data: the `RunData` of our records (empty for a Keras-only run).
      keras: `{"train": {tag: [n, 2]}, "validation": {...}}` of the scalars
        Keras's `TensorBoard` callback wrote for this run, or `None`.
    """

    name: str
    data: run_data.RunData
    keras: dict | None = None


@dataclasses.dataclass
class Logdir:
    """What `load()` found.

    Attributes:
      runs: `{name: Run}` in name order, only runs with LR data.
      damaged: event files read only up to a truncated or corrupt record,
        or not readable at all.
      files: how many event files were read.
      bytes: their total size.
    """

    runs: dict
    damaged: list
    files: int = 0
    bytes: int = 0


class _DamageWatch(logging.Filter):
    """Notes the files TensorBoard's loader stopped reading at a bad record.

    `RawEventFileLoader.Load` swallows a truncated or corrupt record and
    logs it at debug level ("Truncated record in <path>"); this filter,
    installed on TensorBoard's logger while loading, records those paths
    and lets through only what would have been emitted anyway.
    """

    def __init__(self, level):
        super().__init__()
        self.level = level
        self.paths = set()

    def filter(self, record):
        msg = record.msg if isinstance(record.msg, str) else ""
        if msg.startswith("Truncated record in") and record.args:
            self.paths.add(str(record.args[0]))
        return record.levelno >= self.level


def run_name(logdir, directory):
    """TensorBoard's name for the run in `directory`."""
    rel = os.path.relpath(directory, logdir)
    return "." if rel == os.curdir else rel.replace(os.sep, "/")


def _keras_owner(name):
    """`(run, split)` if `name` looks like Keras's `<run>/train`, else None."""
    head, _, tail = name.rpartition("/")
    if tail in KERAS_SPLITS:
        return (head or ".", tail)
    return None


def discover(logdir):
    """Run directories under `logdir`, by TensorBoard's discovery.

    Returns:
      `{name: absolute directory}` of every directory with event files.

    Raises:
      FileNotFoundError: `logdir` does not exist.
      NotADirectoryError: `logdir` is not a directory.
    """
    from tensorboard.backend.event_processing import io_wrapper

    logdir = os.path.abspath(logdir)
    if not os.path.exists(logdir):
        raise FileNotFoundError(logdir)
    if not os.path.isdir(logdir):
        raise NotADirectoryError(logdir)
    dirs = io_wrapper.GetLogdirSubdirectories(logdir)
    return {run_name(logdir, d): d for d in sorted(dirs)}


def _event_files(directory):
    from tensorboard.backend.event_processing import io_wrapper

    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    paths = [os.path.join(directory, n) for n in names]
    return [p for p in paths if io_wrapper.IsSummaryEventsFile(p) and os.path.isfile(p)]


def _is_keras_tag(tag):
    """The scalars Keras's `TensorBoard` callback writes (as the plugin reads)."""
    return (
        tag.startswith("epoch_")
        or tag.startswith("batch_")
        or (tag.startswith("evaluation_") and tag.endswith("_vs_iterations"))
    )


def _scalar_value(tensor):
    """The float in a scalar `TensorProto` (fast paths for Keras's float32)."""
    if tensor.float_val:
        return float(tensor.float_val[0])
    if tensor.double_val:
        return float(tensor.double_val[0])
    from tensorboard.util import tensor_util

    try:
        arr = tensor_util.make_ndarray(tensor)
    except (ValueError, TypeError):
        return None  # malformed: skipped, as TensorBoard's provider cannot read it either
    # One number, as TensorBoard's scalars are; a vector is not a scalar.
    return float(arr.reshape(-1)[0]) if arr.size == 1 and arr.dtype.kind in "fiub" else None


class _DirReader:
    """Accumulates one directory's records of ours and its scalars."""

    def __init__(self):
        self.records = []
        self.scalars = {}
        self.skipped = 0
        self._plugin = {}  # tag -> plugin name of its first metadata
        self._parsed = {}  # tag -> parsed metadata of ours (or None)

    def add_event(self, event):
        if not event.HasField("summary"):
            return
        for value in event.summary.value:
            tag = value.tag
            plugin = self._plugin.get(tag)
            if plugin is None and value.HasField("metadata"):
                plugin = value.metadata.plugin_data.plugin_name
                self._plugin[tag] = plugin
                if plugin == metadata.PLUGIN_NAME:
                    self._parsed[tag] = metadata.parse_plugin_metadata(
                        value.metadata.plugin_data.content
                    )
            if plugin == metadata.PLUGIN_NAME:
                meta = self._parsed.get(tag)
                if meta is None:
                    self.skipped += 1
                    continue
                self.records.append((tag, meta, event.wall_time, event.step, value.tensor))
            elif plugin == SCALARS_PLUGIN and _is_keras_tag(tag) and value.HasField("tensor"):
                number = _scalar_value(value.tensor)
                if number is not None:
                    self.scalars.setdefault(tag, []).append((event.step, number))

    def scalar_arrays(self):
        return {
            tag: np.array(points, dtype=np.float64).reshape(-1, 2)
            for tag, points in self.scalars.items()
        }


def load(logdir, run=None, progress=None):
    """Reads every run with learning-rate data under `logdir`.

    Args:
      logdir: the directory given to TensorBoard.
      run: only this run (and its Keras `train`/`validation` siblings).
      progress: called as `progress(files_done, files_total, bytes_done,
        bytes_total)` after each event file.

    Returns:
      A `Logdir`.

    Raises:
      FileNotFoundError, NotADirectoryError: `logdir` is unusable.
    """
    from tensorboard.backend.event_processing import event_file_loader

    dirs = discover(logdir)
    if run is not None:
        wanted = {run} | {f"{run}/{s}" if run != "." else s for s in KERAS_SPLITS}
        dirs = {n: d for n, d in dirs.items() if n in wanted}

    files = [(name, path) for name, d in dirs.items() for path in _event_files(d)]
    sizes = []
    for _, path in files:
        try:
            sizes.append(os.path.getsize(path))
        except OSError:
            sizes.append(0)
    total = sum(sizes)

    tb_logger = logging.getLogger("tensorboard")
    watch = _DamageWatch(tb_logger.getEffectiveLevel())
    old_level = tb_logger.level
    tb_logger.addFilter(watch)
    tb_logger.setLevel(logging.DEBUG)
    readers = {}
    unreadable = []
    done_bytes = 0
    try:
        for i, ((name, path), size) in enumerate(zip(files, sizes, strict=True)):
            reader = readers.setdefault(name, _DirReader())
            try:
                for event in event_file_loader.EventFileLoader(path).Load():
                    reader.add_event(event)
            except Exception:  # noqa: BLE001 - one bad file must not stop the rest
                unreadable.append(path)
            done_bytes += size
            if progress is not None:
                progress(i + 1, len(files), done_bytes, total)
    finally:
        tb_logger.removeFilter(watch)
        tb_logger.setLevel(old_level)

    damaged = sorted(set(unreadable) | {os.path.abspath(p) for p in watch.paths})
    return Logdir(runs=_build_runs(readers), damaged=damaged, files=len(files), bytes=total)


def _build_runs(readers):
    from tb_lr_plugin import keras_logs

    keras = {}
    for name, reader in readers.items():
        owner = _keras_owner(name)
        if owner and reader.scalars:
            keras.setdefault(owner[0], {})[owner[1]] = reader.scalar_arrays()
    runs = {}
    for name in sorted(set(readers) | set(keras)):
        reader = readers.get(name)
        records, dropped = sanitize.clean_records(reader.records if reader else [])
        data = run_data.assemble(records)
        data.skipped += dropped + (reader.skipped if reader else 0)
        scalars = keras.get(name)
        if data.empty and not keras_logs.has_lr(scalars):
            continue
        runs[name] = Run(name=name, data=data, keras=scalars)
    return runs


class Progress:
    """Prints loading progress on stderr once loading has taken over 1 s.

    On a terminal the line is redrawn in place; otherwise a line is printed
    at most every 5 s.
    """

    def __init__(self, stream, label, delay=1.0):
        self._stream = stream
        self._label = label
        self._start = time.monotonic()
        self._delay = delay
        self._last = None
        self._shown = False
        try:
            self._tty = stream.isatty()
        except (AttributeError, ValueError):
            self._tty = False

    def __call__(self, files_done, files_total, bytes_done, bytes_total):
        now = time.monotonic()
        if now - self._start < self._delay:
            return
        interval = 0.1 if self._tty else 5.0
        if self._last is not None and now - self._last < interval and files_done < files_total:
            return
        self._last = now
        pct = 100.0 * bytes_done / bytes_total if bytes_total else 100.0
        text = (
            f"{self._label}: {files_done}/{files_total} event files, "
            f"{bytes_done / 1e6:.1f}/{bytes_total / 1e6:.1f} MB ({pct:.0f}%)"
        )
        end = "" if self._tty else "\n"
        prefix = "\r" if self._tty else ""
        self._stream.write(prefix + text + end)
        self._stream.flush()
        self._shown = True

    def finish(self):
        if self._shown and self._tty:
            self._stream.write("\n")
            self._stream.flush()
