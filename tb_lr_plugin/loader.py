"""Reading a logdir for `tb-lr-audit`, as TensorBoard reads it, without TensorFlow.

Discovery walks the logdir as TensorBoard's
`io_wrapper.GetLogdirSubdirectories` does (without importing TensorBoard's
TF stub), and every event file is read by `event_file.events`, which yields exactly the events
TensorBoard's `event_file_loader.EventFileLoader` (with its read-time
compat layers) yields, framed and CRC-checked in bulk; what differs from
TensorBoard's Python loader is that nothing is sampled away: every record
is kept. Our own records, nearly all of a run's, are read by layout
(`event_scan`, `_DirReader.take`) rather than parsed by protobuf, with
the same result (tests/test_event_scan.py).

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
seconds), and makes the stub's record reader (`CheckedRecordReader`)
check CRCs in bulk rather than a byte at a time in pure Python.
"""

import contextlib
import dataclasses
import os
import sys
import tempfile
import types

import numpy as np

from tb_lr_plugin import event_file, event_scan, fork_map, metadata, run_model, storage
from tb_lr_plugin.sources import records as records_source

KERAS_SPLITS = run_model.KERAS_TRAIN, run_model.KERAS_VALIDATION
SCALARS_PLUGIN = "scalars"

_NOTF = "tensorboard.compat.notf"
# `load(jobs=None)` forks workers for logdirs of at least this many bytes:
# below it, reading takes less than starting them.
PARALLEL_BYTES = 8 << 20


def prefer_tensorboard_stub():
    """Makes TensorBoard resolve `tensorboard.compat.tf` to its TF-free stub,
    without importing the stub (what `tb-lr-audit` does: it reads with
    `event_file`, and the stub costs 0.15 s to import).

    Returns:
      False if TensorFlow is already imported (then TensorBoard uses it).
    """
    if "tensorflow" in sys.modules:
        return False
    if _NOTF not in sys.modules:
        sys.modules[_NOTF] = types.ModuleType(_NOTF)
    return True


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
    if not prefer_tensorboard_stub():
        return False
    from tensorboard.compat import tf

    if getattr(tf, "__version__", None) != "stub":
        return False
    from tensorboard.compat.tensorflow_stub import pywrap_tensorflow

    pywrap_tensorflow.PyRecordReader_New = CheckedRecordReader
    return True


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
        framed = event_file.frame(data)
        self._records = framed.payloads(data)
        self._error = framed.error

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


# A run as the CLI and the audit see it: the one run model.
Run = run_model.Run


@dataclasses.dataclass
class Logdir:
    """What `load()` found.

    Attributes:
      runs: `{name: Run}` in name order, only runs with LR data.
      damaged: event files read only up to a truncated or corrupt record,
        or not readable at all.
      damage_offsets: `{path: byte offset}` of the first bad record of each
        damaged file that could be read.
      files: how many event files were read.
      bytes: their total size.
    """

    runs: dict
    damaged: list
    damage_offsets: dict = dataclasses.field(default_factory=dict)
    files: int = 0
    bytes: int = 0


def run_name(logdir, directory):
    """TensorBoard's name for the run in `directory`."""
    rel = os.path.relpath(directory, logdir)
    return "." if rel == os.curdir else rel.replace(os.sep, "/")


def discover(logdir):
    """Run directories under `logdir`, by TensorBoard's discovery.

    Returns:
      `{name: absolute directory}` of every directory with event files.

    Raises:
      FileNotFoundError: `logdir` does not exist.
      NotADirectoryError: `logdir` is not a directory.
    """
    logdir = os.path.abspath(logdir)
    if not os.path.exists(logdir):
        raise FileNotFoundError(logdir)
    if not os.path.isdir(logdir):
        raise NotADirectoryError(logdir)
    dirs = [d for d, files in _walk(logdir) if any(_is_events_file(f) for f in files)]
    return {run_name(logdir, d): d for d in sorted(dirs)}


def _walk(top):
    """`(directory, file names)` of `top` and every directory below it.

    What TensorBoard's `io_wrapper.GetLogdirSubdirectories` walks on a local
    disk (its stub's `gfile.walk`: top-down, directories by `os.path.isdir`,
    so symlinked ones too, a directory gone meanwhile skipped), without
    importing the stub, whose `gfile` imports boto3 and fsspec (0.15 s).
    """
    if not os.path.isdir(top):
        return
    files, subdirs = [], []
    for name in os.listdir(top):
        path = os.path.join(top, name)
        (subdirs if os.path.isdir(path) else files).append(path)
    yield top, files
    for path in subdirs:
        yield from _walk(path)


def _is_events_file(path):
    """TensorBoard's `io_wrapper.IsTensorFlowEventsFile`."""
    return "tfevents" in os.path.basename(path)


def _event_files(directory):
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    paths = [os.path.join(directory, n) for n in names]
    # `io_wrapper.IsSummaryEventsFile`: `.profile-empty` files hold no summaries.
    return [
        p
        for p in paths
        if _is_events_file(p) and not p.endswith(".profile-empty") and os.path.isfile(p)
    ]


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
        self._scanner = event_scan.Scanner()

    def take(self, data, start, end, verdicts):
        """Keeps one record of ours read by layout (`event_scan`), without
        protobuf; False leaves the record to be parsed and `add_event`-ed.

        Only a record that `add_event` would keep as it is: of a tag whose
        values of ours pass TensorBoard's compat layers unchanged in this
        file (`verdicts`) and whose first metadata here named our plugin.
        """
        scanned = self._scanner.scan(data, start, end)
        if scanned is None:
            return False
        wall_time, step, layout, at = scanned
        tag = layout.tag
        meta = self._parsed.get(tag)
        if meta is None or verdicts.get(tag) is not True:
            return False
        item = event_scan.decode(meta.get("kind"), layout, data, at)
        if item is None:
            return False
        self.records.append((tag, meta, wall_time, step, metadata.Decoded(item)))
        return True

    def add_event(self, event, values):
        """Keeps what is ours or a scalar of `values` (`event_file.events_with_values`)."""
        for tag, value in values:
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
            elif (
                plugin == SCALARS_PLUGIN
                and run_model.wants_scalar(tag)
                and value.HasField("tensor")
            ):
                number = _scalar_value(value.tensor)
                if number is not None:
                    self.scalars.setdefault(tag, []).append((event.step, number))

    def scalar_arrays(self):
        return {
            tag: np.array(points, dtype=np.float64).reshape(-1, 2)
            for tag, points in self.scalars.items()
        }


def load(logdir, run=None, progress=None, options=None, jobs=1, per_run=None):
    """Reads every run with learning-rate data under `logdir`.

    Args:
      logdir: the directory given to TensorBoard, or a URL (`s3://...`,
        `gs://...`, any fsspec URL: see `storage`).
      run: only this run (and its Keras `train`/`validation` siblings).
      progress: called as `progress(files_done, files_total, bytes_done,
        bytes_total)` as event files are read.
      options: the user's tag patterns (`sources.patterns.Options`, from
        `--lr-tag` and `--loss-tag`), or `None` for the defaults.
      jobs: read runs in up to this many forked processes (`fork_map`); a
        local logdir only, `None` for one per CPU when the logdir is big
        enough (`PARALLEL_BYTES`) to gain from it.
      per_run: called on each `Run` where it was read; its result (which
        must pickle when `jobs` > 1) is what `Logdir.runs` holds.

    Returns:
      A `Logdir`.

    Raises:
      FileNotFoundError, NotADirectoryError: `logdir` is unusable.
      ValueError: `logdir` is a URL no installed filesystem serves.
    """
    listing = list_files(logdir)
    if run is not None:
        wanted = {run, *run_model.siblings(run)}
        listing = {n: f for n, f in listing.items() if n in wanted}
    files = [(name, path, size) for name, found in listing.items() for path, size in found]
    total = sum(size for *_, size in files)
    groups = _groups(files)
    jobs = _jobs(logdir, jobs, total)
    if jobs > 1:
        event_file.prepare()  # once, before the workers fork
    runs, unreadable, offsets = {}, [], {}
    done_files = done_bytes = 0
    with _Opener(logdir, [path for group in groups for _, path, _ in group]) as opener:

        def read(group):
            group_runs, group_bad, n, size = _read_group(group, opener, options)
            if per_run is not None:
                group_runs = {name: per_run(r) for name, r in group_runs.items()}
            return group_runs, group_bad, n, size

        weights = [sum(size for *_, size in group) + 1 for group in groups]
        for _, (group_runs, group_bad, n, size) in fork_map.imap(read, groups, jobs, weights):
            runs.update(group_runs)
            unreadable += group_bad
            offsets.update((path, offset) for path, offset in group_bad if offset is not None)
            done_files, done_bytes = done_files + n, done_bytes + size
            if progress is not None:
                progress(done_files, len(files), done_bytes, total)
    runs = {name: runs[name] for name in sorted(runs)}
    damaged = sorted(path for path, _ in unreadable)
    return Logdir(runs, damaged, damage_offsets=offsets, files=len(files), bytes=total)


def _jobs(logdir, jobs, total):
    """How many processes read a logdir of `total` bytes (`load`'s `jobs`)."""
    if storage.is_url(logdir):
        return 1  # fetched by threads (`storage.read_many`): no fork
    if jobs is None:
        return fork_map.default_jobs() if total >= PARALLEL_BYTES else 1
    return jobs


def _groups(files):
    """The event files in groups that are read together: a run with its
    sub-runs (a group's runs depend on its files only).

    Returns:
      `[[(name, path, size), ...], ...]`, in file order.
    """
    groups = {}
    for name, path, size in files:
        owner = run_model.parent_of(name)
        groups.setdefault(owner[0] if owner else name, []).append((name, path, size))
    return list(groups.values())


def _read_group(files, opener, options=None):
    """Reads one group's event files and builds its runs.

    Returns:
      `(runs, unreadable, files, bytes)`: `{name: Run}` of the runs with LR
      data, `(path, offset)` of the files read only up to the bad record at
      `offset` or (offset `None`) not at all, and how many files and bytes
      were read.
    """
    readers, unreadable = {}, []
    for name, path, _ in files:
        reader = readers.setdefault(name, _DirReader())
        try:
            with opener.local(path) as local:
                read = event_file.events_with_values(local, metadata.PLUGIN_NAME, reader.take)
                for event, values in read:
                    reader.add_event(event, values)
        except event_file.DamagedFile as e:
            unreadable.append((path, e.offset))
        except Exception:  # noqa: BLE001 - one bad file must not stop the rest
            unreadable.append((path, None))
    return _build_runs(readers, options), unreadable, len(files), sum(size for *_, size in files)


def list_files(logdir):
    """`{run name: [(event file, size), ...]}` of a local logdir or a URL."""
    if storage.is_url(logdir):
        return storage.list_event_files(logdir)
    listing = {}
    for name, directory in discover(logdir).items():
        found = listing.setdefault(name, [])
        for path in _event_files(directory):
            try:
                found.append((path, os.path.getsize(path)))
            except OSError:
                found.append((path, 0))
    return listing


class _Opener:
    """A local file for each event file: in place, or a temporary copy of a URL's object.

    Objects of a URL logdir are fetched in concurrent batches
    (`storage.read_many`, in the order they are read) and each is read from a
    temporary local copy, so every record goes through the same reader as a
    local file's.
    """

    def __init__(self, logdir, paths):
        self._remote = storage.is_url(logdir)
        self._fetched = storage.read_many(paths) if self._remote else None
        self._tmp = None

    def __enter__(self):
        if self._remote:
            self._tmp = tempfile.TemporaryDirectory(prefix="tb-lr-audit-")
        return self

    def __exit__(self, *exc):
        if self._tmp is not None:
            self._tmp.cleanup()

    @contextlib.contextmanager
    def local(self, path):
        """The local path to read `path` (an event file or a URL) from."""
        if not self._remote:
            yield path
            return
        url, data = next(self._fetched)
        if url != path:
            raise RuntimeError(f"fetched {url!r} while reading {path!r}")
        if data is None:
            raise OSError(f"could not read {url}")
        copy = os.path.join(self._tmp.name, "events.out.tfevents.copy")
        with open(copy, "wb") as f:
            f.write(data)
        try:
            yield copy
        finally:
            os.unlink(copy)


def _build_runs(readers, options=None):
    keras = {}
    for name, reader in readers.items():
        if not reader.scalars:
            continue
        arrays = reader.scalar_arrays()
        for owner, split in run_model.owners(name):
            keras.setdefault(owner, {})[split] = arrays
    runs = {}
    for name in sorted(set(readers) | set(keras)):
        reader = readers.get(name)
        data, dropped = records_source.read(reader.records if reader else [])
        data.skipped += dropped + (reader.skipped if reader else 0)
        run = run_model.build(name, data, keras.get(name), options=options)
        if run_model.has_data(run):
            runs[name] = run
    return runs
