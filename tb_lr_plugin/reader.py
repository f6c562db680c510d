"""A run's data, read only through TensorBoard's data provider.

`RunReader` lists and reads this plugin's tensors (`list_tensors` /
`read_tensors`) and the scalars the sources read (`read_scalars`, of the
run and its sub-runs such as Keras's `<run>/train`), and hands them to
`run_model.build`, which the CLI's loader shares: this module only lists
and reads.

Reading a long run costs a full pass over its records, so each run's
`Snapshot` is cached, keyed by every tag's `(max_step, max_wall_time)` as
listed by the provider: a repeated request costs two cheap `list_*` calls,
and any new record (a live training) changes the key and is read at the
next request.

A run that has no records of ours but whose `train` sub-run has Keras's
`epoch_learning_rate` (Keras's `TensorBoard` callback alone) is listed
too, under the parent's name; `run_model` decides its `source`.
"""

import collections
import concurrent.futures
import dataclasses
import logging
import threading
import weakref

from tensorboard import context as tb_context
from tensorboard import errors

from tb_lr_plugin import listing, run_model, run_version, tolerant_read
from tb_lr_plugin.sources import records as records_source

logger = logging.getLogger(__name__)

SOURCE_LOGGER = run_model.SOURCE_LOGGER
SOURCE_KERAS = run_model.SOURCE_KERAS
SOURCE_SCALARS = run_version.SOURCE_SCALARS
AXIS_STEP = run_model.AXIS_STEP
AXIS_EPOCH = run_model.AXIS_EPOCH
KERAS_TRAIN = run_model.KERAS_TRAIN
KERAS_VALIDATION = run_model.KERAS_VALIDATION

_DEFAULT_CACHE_SIZE = 8
# Runs read per provider call when listing many (bounds the memory a read takes).
_RUNS_PER_READ = 32
# Rows (steps listed, over a run's tags) read per provider call: a larger
# run is read alone (`_read_each`).
_ROWS_PER_READ = 100_000


@dataclasses.dataclass
class Snapshot(run_model.Run):
    """A `run_model.Run` as read at one version of its data, with its answers.

    Attributes:
      version: the cache key this snapshot was read at.
      memo: derived answers, computed once per snapshot (see `memoize`).
    """

    version: tuple = ()
    memo: dict = dataclasses.field(default_factory=dict)
    lock: threading.RLock = dataclasses.field(default_factory=threading.RLock)
    worker: object = dataclasses.field(default=None, repr=False, compare=False)

    def memoize(self, key, compute):
        """Returns `compute()`, computed once for this snapshot.

        Computed on `worker` (`RunReader.on_worker`) when there is one.
        """
        with self.lock:
            if key in self.memo:
                return self.memo[key]

        def once():
            with self.lock:
                if key not in self.memo:
                    self.memo[key] = compute()
                return self.memo[key]

        return once() if self.worker is None else self.worker(once)


class RunReader:
    """Reads runs through a TensorBoard `DataProvider`, with a small cache.

    Args:
      data_provider: the `tensorboard.data.provider.DataProvider`, or
        `None` (then there are no runs).
      cache_size: how many runs' snapshots to keep.
      listing_ttl: seconds a listing (what the cache is validated against)
        is reused for. A listing is a round trip to the Rust data server
        (a few ms with `quick_ack`), which a cached request otherwise does
        without; reusing it for a fraction of TensorBoard's reload interval
        delays new data by at most that. 0 lists on every request.
      options: the user's tag patterns (`sources.patterns.Options`, from
        the `--lr_tag` and `--loss_tag` flags), or `None` for the defaults.
    """

    def __init__(
        self, data_provider, cache_size=_DEFAULT_CACHE_SIZE, listing_ttl=0.0, options=None
    ):
        self._provider = data_provider
        self.options = options
        self._cache_size = cache_size
        self._listing = listing.Listing(data_provider, listing_ttl, options)
        self._cache = collections.OrderedDict()  # (experiment, run) -> Snapshot
        self._lock = threading.Lock()
        self._run_locks = {}
        # Reading a run, computing its answers (`Snapshot.memoize`) and
        # building an export (`plugin.export_impl`) allocate several times
        # the run's size for a moment. TensorBoard answers each request on a
        # new thread, and glibc gives threads their own heaps, each keeping
        # its high-water mark: done on whichever thread asked, this work made
        # the RSS of TensorBoard follow the size of a growing run
        # (bench/soak.py). Done on one thread, it reuses one heap.
        idents = []  # the worker thread's (not a reference to self: see below)
        self._worker_idents = idents
        self._worker = concurrent.futures.ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix="learning_rate_reader",
            initializer=lambda: idents.append(threading.get_ident()),
        )
        # The thread ends with the reader (many readers live in tests).
        weakref.finalize(self, self._worker.shutdown, False)
        self._summaries = {}  # (experiment, run) -> (version, summary)
        self._summary_lock = threading.Lock()
        self._warned = set()  # (experiment, run, version) with unreadable parts logged

    # Listing.

    def has_data(self, ctx, experiment):
        """Whether any run has something to show (for `is_active`)."""
        return self._listing.has_data(ctx, experiment)

    def index(self, ctx, experiment):
        """`listing.Listing.index`: what every run's version is computed from.

        What `summaries`, `names` and `versions` take as `index`, so that one
        request lists once, however long its reads take.
        """
        return self._listing.index(ctx, experiment)

    def warm(self, ctx, experiment):
        """`listing.Listing.warm`: lists in the background, at once."""
        self._listing.warm(ctx, experiment)

    def runs(self, ctx, experiment):
        """Every run with something to show, as sorted `Snapshot`s."""
        return [
            self._snapshot(ctx, experiment, run, logger_tags, keras)
            for run, (logger_tags, keras) in self._listing.index(ctx, experiment).items()
        ]

    def summaries(self, ctx, experiment, summarize, index=None):
        """`summarize(snapshot)` of every run with something to show, by run name.

        A listing must not read every run at every request: with hundreds of
        runs that is seconds (one provider call per run), and the snapshot
        cache holds a few runs only. So each run's summary is kept (it is
        small) with the version of the data it was computed from, and only
        runs whose data changed are read, many per provider call.

        Args:
          ctx, experiment: as for `snapshot`.
          summarize: `Snapshot -> JSON-ready object`.
          index: an `index()` to use instead of listing again.

        Returns:
          A list of summaries, sorted by run name.
        """
        index = self._listing.index(ctx, experiment) if index is None else index
        with self._summary_lock:
            result = {}
            todo = {}
            for run, (logger_tags, keras) in index.items():
                source, version = run_version.version(run, logger_tags, keras, self.options)
                hit = self._summaries.get((experiment, run))
                if hit is not None and hit[0] == version:
                    result[run] = hit[1]
                    continue
                with self._lock:
                    snap = self._cache.get((experiment, run))
                if snap is not None and snap.version == version:
                    result[run] = summarize(snap)
                    self._summaries[(experiment, run)] = (version, result[run])
                else:
                    todo[run] = (source, version, logger_tags, keras)
            names = list(todo)
            for start in range(0, len(names), _RUNS_PER_READ):
                batch = {run: todo[run] for run in names[start : start + _RUNS_PER_READ]}
                for run, summary in self._summarize(ctx, experiment, batch, summarize).items():
                    result[run] = summary
                    self._summaries[(experiment, run)] = (todo[run][1], summary)
            for key in [k for k in self._summaries if k[0] == experiment and k[1] not in index]:
                del self._summaries[key]
        return [result[run] for run in sorted(result)]

    def _summarize(self, ctx, experiment, batch, summarize):
        """`{run: summarize(snapshot)}` of a batch; a run that fails is left out.

        A listing must not fail because of one run: if reading the batch
        raises something unexpected, each run is read on its own, and a run
        that still fails is logged and left out (and read again next time).
        """
        try:
            result = {}
            for run, snap in self._read_each(ctx, experiment, batch):
                # A run in the snapshot cache is one being looked at (a live
                # training, typically): keep its fresh snapshot, so the next
                # `lr` request does not read the run a second time.
                with self._lock:
                    if (experiment, run) in self._cache:
                        self._cache[(experiment, run)] = snap
                result[run] = summarize(snap)
            return result
        except errors.PublicError:
            raise
        except Exception:
            if len(batch) == 1:
                logger.exception("learning_rate: cannot read run %r; not listed", next(iter(batch)))
                return {}
        result = {}
        for run, spec in batch.items():
            result.update(self._summarize(ctx, experiment, {run: spec}, summarize))
        return result

    def snapshot(self, ctx, experiment, run):
        """The run's current `Snapshot`.

        Raises:
          errors.NotFoundError: the run has no data of ours and no Keras
            learning rate.
        """
        return self._snapshot(ctx, experiment, run, *self._listed_run(ctx, experiment, run))

    def version(self, ctx, experiment, run):
        """The version `snapshot` would read the run at, from its listing alone.

        Raises:
          errors.NotFoundError: as `snapshot`.
        """
        return run_version.version(run, *self._listed_run(ctx, experiment, run), self.options)[1]

    def _listed_run(self, ctx, experiment, run):
        """`(logger_tags, keras_index)` of one run, from listings of it alone."""
        logger_tags = self._listing.logger(ctx, experiment, runs=[run]).get(run)
        return logger_tags, self._listing.keras(ctx, experiment, runs=run_model.siblings(run))

    def names(self, ctx, experiment, index=None):
        """The sorted names of every run with something to show (one listing, or `index`)."""
        return list(self._listing.index(ctx, experiment) if index is None else index)

    def versions(self, ctx, experiment, runs, index=None):
        """`{run: spec}` of `runs` from one listing of every run (reused for `listing_ttl`).

        A `spec` is what `read` takes; `spec[1]` is the run's version.
        `index`: an `index()` to use instead of listing again.

        Raises:
          errors.NotFoundError: a run with nothing to show.
        """
        index = self._listing.index(ctx, experiment) if index is None else index
        specs = {}
        for run in runs:
            if run not in index:
                raise errors.NotFoundError(f"No learning-rate data for run {run!r}")
            logger_tags, keras = index[run]
            source, version = run_version.version(run, logger_tags, keras, self.options)
            specs[run] = (source, version, logger_tags, keras)
        return specs

    def read(self, ctx, experiment, specs):
        """`{run: Snapshot}` of `specs` (from `versions`): cached ones as they are,
        the others read many per provider call, on the worker. Not cached:
        the batched `view` route keeps the answers, not the runs."""
        snaps, todo = {}, {}
        for run, spec in specs.items():
            with self._lock:
                snap = self._cache.get((experiment, run))
            if snap is not None and snap.version == spec[1]:
                snaps[run] = snap
            else:
                todo[run] = spec
        snaps.update(self._read_each(ctx, experiment, todo))
        return snaps

    def on_worker(self, fn, *args):
        """Runs `fn(*args)` on the reader's one worker thread; returns its result.

        Re-entrant: called on the worker itself, it calls `fn` at once.
        """
        if threading.get_ident() in self._worker_idents:
            return fn(*args)
        return self._worker.submit(fn, *args).result()

    # Reading.

    def _snapshot(self, ctx, experiment, run, logger_tags, keras_index):
        source, version = run_version.version(run, logger_tags, keras_index, self.options)
        key = (experiment, run)
        with self._lock:
            snap = self._cache.get(key)
            if snap is not None and snap.version == version:
                self._cache.move_to_end(key)
                return snap
            run_lock = self._run_locks.setdefault(key, threading.Lock())
        # One reader per run: concurrent requests for a run being read wait
        # for that read instead of each reading it again.
        with run_lock:
            with self._lock:
                snap = self._cache.get(key)
            if snap is None or snap.version != version:
                batch = {run: (source, version, logger_tags, keras_index)}
                snap = self.on_worker(self._read_many, ctx, experiment, batch)[run]
                with self._lock:
                    self._cache[key] = snap
                    self._cache.move_to_end(key)
                    while len(self._cache) > self._cache_size:
                        old, _ = self._cache.popitem(last=False)
                        self._run_locks.pop(old, None)
            return snap

    def _read_many(self, ctx, experiment, batch):
        """Reads runs with one provider call for their tensors and one for Keras's scalars.

        Args:
          batch: `{run: (source, version, logger_tags, keras_index)}`.

        Returns:
          `{run: Snapshot}`.
        """
        fetched = tolerant_read.fetch(self._provider, ctx, experiment, batch)
        return self._assemble(experiment, batch, fetched)

    def _read_each(self, ctx, experiment, batch):
        """Yields `(run, Snapshot)` of `batch`, a group of runs at a time (`_groups`).

        A large run is read on its own, so the runs before it are ready
        (and their answers computed by the caller) before it is read.
        Reading the next group on another thread meanwhile was measured
        slower: decoding the provider's answer holds the GIL.
        """
        for group in _groups(batch):
            yield from self.on_worker(self._read_many, ctx, experiment, group).items()

    def _assemble(self, experiment, batch, fetched):
        """`{run: Snapshot}` of `batch` from `tolerant_read.fetch`'s points."""
        tensors, scalars, bad = fetched
        snaps = {}
        for run, (_, version, logger_tags, _) in batch.items():
            records = []
            for tag, points in tensors.get(run, {}).items():
                meta = logger_tags[tag][0]
                records.extend((tag, meta, p.wall_time, p.step, p.numpy) for p in points)
            data, dropped = records_source.read(records)
            unreadable = [t for r, t in bad if r in (run, *run_model.siblings(run))]
            if data.skipped or dropped or unreadable:
                self._warn_skipped(experiment, run, version, data.skipped, dropped, unreadable)
            snaps[run] = run_model.build(
                run,
                data,
                tolerant_read.keras_points(run, scalars),
                cls=Snapshot,
                options=self.options,
                version=version,
                worker=self.on_worker,
            )
        return snaps

    def _warn_skipped(self, experiment, run, version, records, items, tags):
        """Logs, once per version of a run's data, what could not be read."""
        key = (experiment, run, version)
        with self._lock:
            if key in self._warned:
                return
            if len(self._warned) > 10000:
                self._warned.clear()
            self._warned.add(key)
        parts = []
        if tags:
            parts.append(f"tags TensorBoard could not decode: {', '.join(map(repr, tags))}")
        if records:
            parts.append(f"{records} malformed record{'s' if records != 1 else ''}")
        if items:
            parts.append(f"{items} malformed item{'s' if items != 1 else ''} or rows")
        logger.warning(
            "learning_rate: skipped what could not be read of run %r (%s); the rest is served",
            run,
            "; ".join(parts),
        )


def _groups(batch):
    """`batch` in groups read by one provider call each: up to `_RUNS_PER_READ`
    runs and about `_ROWS_PER_READ` rows (their tags' listed last steps)."""
    groups, group, rows = [], {}, 0
    for run, spec in batch.items():
        group[run] = spec
        rows += _listed_rows(spec)
        if rows >= _ROWS_PER_READ or len(group) >= _RUNS_PER_READ:
            groups.append(group)
            group, rows = {}, 0
    if group:
        groups.append(group)
    return groups


def _listed_rows(spec):
    """About how many rows a run holds: the sum of its tags' listed last steps."""
    _, _, logger_tags, keras = spec
    steps = [s for _, s, _ in (logger_tags or {}).values()]
    steps += [s for tags in keras.values() for s, _ in tags.values()]
    return sum(max(0, int(s)) for s in steps)


def background_context():
    """A request context for calls made outside a request (`is_active`)."""
    return tb_context.RequestContext()
