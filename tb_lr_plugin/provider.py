"""A run's data, read only through TensorBoard's data provider.

`RunReader` lists and reads this plugin's tensors (`list_tensors` /
`read_tensors`), feeds them to `run_data.assemble` (the one assembly the
CLI shares), and adds the scalars that `keras.callbacks.TensorBoard` wrote
to the sibling runs `<run>/train` and `<run>/validation`.

Reading a long run costs a full pass over its records, so each run's
`Snapshot` is cached, keyed by every tag's `(max_step, max_wall_time)` as
listed by the provider: a repeated request costs two cheap `list_*` calls,
and any new record (a live training) changes the key and is read at the
next request.

A run that has no records of ours but whose `train` sibling has Keras's
`epoch_learning_rate` (Keras's `TensorBoard` callback alone) is served
too, under the parent's name, with `source == "keras"`.
"""

import collections
import dataclasses
import threading
import time

import numpy as np
from tensorboard import context as tb_context
from tensorboard import errors
from tensorboard.data import provider

from tb_lr_plugin import keras_logs, metadata, run_data

SOURCE_LOGGER = "logger"
SOURCE_KERAS = "keras"
AXIS_STEP = "step"
AXIS_EPOCH = "epoch"

KERAS_PLUGIN = "scalars"
KERAS_TRAIN = "train"
KERAS_VALIDATION = "validation"
KERAS_LR_PREFIX = "epoch_learning_rate"

# "Everything": our plugin's records are few (many rows each) and
# TensorBoard keeps them all (see `plugin.LearningRateLoader.fix_flags`).
_ALL = 10**9
_DEFAULT_CACHE_SIZE = 8


def sibling(run, sub):
    """The run Keras's `TensorBoard` callback writes for `run` (`train`...)."""
    return sub if run in ("", ".") else f"{run}/{sub}"


def keras_parent(run):
    """The run whose `train` sibling `run` is, or `None`."""
    if run == KERAS_TRAIN:
        return "."
    if run.endswith("/" + KERAS_TRAIN) and len(run) > len(KERAS_TRAIN) + 1:
        return run[: -len(KERAS_TRAIN) - 1]
    return None


def _keras_tag(tag):
    return (
        tag.startswith("epoch_")
        or tag.startswith("batch_")
        or (tag.startswith("evaluation_") and tag.endswith("_vs_iterations"))
    )


def _has_keras_lr(tags):
    return any(t.startswith(KERAS_LR_PREFIX) for t in tags)


def keras_optimizer_name(tag):
    """`epoch_learning_rate` -> `learning_rate`; `epoch_learning_rate_adam` -> `adam`."""
    rest = tag[len(KERAS_LR_PREFIX) :]
    return rest[1:] if rest.startswith("_") and len(rest) > 1 else "learning_rate"


@dataclasses.dataclass
class Snapshot:
    """One run, assembled, at one version of its data.

    Attributes:
      run: the run name.
      source: `"logger"` (our records) or `"keras"` (Keras's scalars only).
      data: the `run_data.RunData` (empty for a Keras-only run).
      keras: `{"train": {tag: float64 [n, 2]}, "validation": {...}}` of
        step and value, as Keras wrote them (`epoch_*` at step = epoch).
      optimizers: `{name: float64 [n, 3]}` step, planned, actual; for a
        Keras-only run, built from `epoch_learning_rate*` with planned NaN.
      epoch: int64 array of epochs; `step`: the step of each epoch's last
        update (for `axis == "epoch"`, the epoch itself).
      axis: `"step"`, or `"epoch"` for a Keras-only run whose epochs cannot
        be placed on the step axis.
      version: the cache key this snapshot was read at.
      memo: derived answers, computed once per snapshot (see `memoize`).
    """

    run: str
    source: str
    data: run_data.RunData
    keras: dict
    optimizers: dict
    epoch: np.ndarray
    step: np.ndarray
    axis: str
    version: tuple
    memo: dict = dataclasses.field(default_factory=dict)
    lock: threading.RLock = dataclasses.field(default_factory=threading.RLock)

    def memoize(self, key, compute):
        """Returns `compute()`, computed once for this snapshot."""
        with self.lock:
            if key not in self.memo:
                self.memo[key] = compute()
            return self.memo[key]

    def epoch_steps(self, epochs):
        """Maps epoch numbers to steps; unknown epochs give -1."""
        epochs = np.asarray(epochs, dtype=np.float64)
        if not len(self.epoch):
            return np.full(len(epochs), -1, dtype=np.int64)
        pos = np.clip(np.searchsorted(self.epoch, epochs), 0, len(self.epoch) - 1)
        hit = self.epoch[pos] == epochs
        return np.where(hit, self.step[pos], -1)

    @property
    def last_step(self):
        if self.axis == AXIS_EPOCH:
            return None
        last = [int(rows[-1, 0]) for rows in self.optimizers.values() if len(rows)]
        last += [int(rows[-1, 0]) for rows in self.data.batch.values() if len(rows)]
        if len(self.step):
            last.append(int(self.step.max()))
        return max(last) if last else None


class RunReader:
    """Reads runs through a TensorBoard `DataProvider`, with a small cache.

    Args:
      data_provider: the `tensorboard.data.provider.DataProvider`, or
        `None` (then there are no runs).
      cache_size: how many runs' snapshots to keep.
      listing_ttl: seconds a listing (what the cache is validated against)
        is reused for. A listing of a run with data costs ~45 ms over the
        Rust data server's gRPC, more than everything else a cached request
        does; reusing it for a fraction of TensorBoard's reload interval
        delays new data by at most that. 0 lists on every request.
    """

    def __init__(self, data_provider, cache_size=_DEFAULT_CACHE_SIZE, listing_ttl=0.0):
        self._provider = data_provider
        self._cache_size = cache_size
        self._ttl = listing_ttl
        self._listings = {}  # key -> (monotonic time, listing)
        self._cache = collections.OrderedDict()  # (experiment, run) -> Snapshot
        self._lock = threading.Lock()
        self._run_locks = {}
        self._parsed = {}  # plugin_content bytes -> parsed metadata dict or None

    # Listing.

    def _parse(self, content):
        try:
            return self._parsed[content]
        except KeyError:
            parsed = metadata.parse_plugin_metadata(content)
            if len(self._parsed) < 10000:
                self._parsed[content] = parsed
            return parsed

    def _listed(self, key, compute):
        if self._ttl <= 0:
            return compute()
        now = time.monotonic()
        with self._lock:
            hit = self._listings.get(key)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        result = compute()
        with self._lock:
            if len(self._listings) > 1000:
                self._listings.clear()
            self._listings[key] = (now, result)
        return result

    def _list_logger(self, ctx, experiment, runs=None):
        """`{run: {tag: (meta, max_step, max_wall_time)}}` of our readable tags."""
        if self._provider is None:
            return {}
        key = ("logger", experiment, tuple(runs or ()))
        return self._listed(key, lambda: self._list_logger_now(ctx, experiment, runs))

    def _list_logger_now(self, ctx, experiment, runs):
        listing = self._provider.list_tensors(
            ctx,
            experiment_id=experiment,
            plugin_name=metadata.PLUGIN_NAME,
            run_tag_filter=provider.RunTagFilter(runs=runs) if runs else None,
        )
        result = {}
        for run, tags in listing.items():
            readable = {}
            for tag, series in tags.items():
                meta = self._parse(series.plugin_content)
                if meta is not None:
                    readable[tag] = (meta, series.max_step, series.max_wall_time)
            if readable:
                result[run] = readable
        return result

    def _list_keras(self, ctx, experiment, runs=None):
        """`{run: {tag: (max_step, max_wall_time)}}` of Keras's scalars."""
        if self._provider is None:
            return {}
        key = ("keras", experiment, tuple(runs or ()))
        return self._listed(key, lambda: self._list_keras_now(ctx, experiment, runs))

    def _list_keras_now(self, ctx, experiment, runs):
        listing = self._provider.list_scalars(
            ctx,
            experiment_id=experiment,
            plugin_name=KERAS_PLUGIN,
            run_tag_filter=provider.RunTagFilter(runs=runs) if runs else None,
        )
        result = {}
        for run, tags in listing.items():
            kept = {t: (s.max_step, s.max_wall_time) for t, s in tags.items() if _keras_tag(t)}
            if kept:
                result[run] = kept
        return result

    def has_data(self, ctx, experiment):
        """Whether any run has something to show (for `is_active`)."""
        if self._list_logger(ctx, experiment):
            return True
        keras = self._list_keras(ctx, experiment)
        return any(keras_parent(r) is not None and _has_keras_lr(t) for r, t in keras.items())

    def runs(self, ctx, experiment):
        """Every run with something to show, as sorted `Snapshot`s."""
        logger_index = self._list_logger(ctx, experiment)
        keras_index = self._list_keras(ctx, experiment)
        names = set(logger_index)
        for krun, tags in keras_index.items():
            parent = keras_parent(krun)
            if parent is not None and parent not in logger_index and _has_keras_lr(tags):
                names.add(parent)
        snaps = []
        for run in sorted(names):
            keras = {s: keras_index[s] for s in self._siblings(run) if s in keras_index}
            snaps.append(self._snapshot(ctx, experiment, run, logger_index.get(run), keras))
        return snaps

    def snapshot(self, ctx, experiment, run):
        """The run's current `Snapshot`.

        Raises:
          errors.NotFoundError: the run has no data of ours and no Keras
            learning rate.
        """
        logger_tags = self._list_logger(ctx, experiment, runs=[run]).get(run)
        keras = self._list_keras(ctx, experiment, runs=self._siblings(run))
        return self._snapshot(ctx, experiment, run, logger_tags, keras)

    @staticmethod
    def _siblings(run):
        return [sibling(run, KERAS_TRAIN), sibling(run, KERAS_VALIDATION)]

    # Reading.

    def _snapshot(self, ctx, experiment, run, logger_tags, keras_index):
        if logger_tags:
            source = SOURCE_LOGGER
        elif _has_keras_lr(keras_index.get(sibling(run, KERAS_TRAIN), {})):
            source = SOURCE_KERAS
        else:
            raise errors.NotFoundError(f"No learning-rate data for run {run!r}")
        version = (
            source,
            tuple(sorted((t, s, w) for t, (_, s, w) in (logger_tags or {}).items())),
            tuple(sorted((r, tuple(sorted(tags.items()))) for r, tags in keras_index.items())),
        )
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
                snap = self._read(ctx, experiment, run, source, logger_tags, keras_index)
                snap.version = version
                with self._lock:
                    self._cache[key] = snap
                    self._cache.move_to_end(key)
                    while len(self._cache) > self._cache_size:
                        old, _ = self._cache.popitem(last=False)
                        self._run_locks.pop(old, None)
            return snap

    def _read(self, ctx, experiment, run, source, logger_tags, keras_index):
        records = []
        if logger_tags:
            data = self._provider.read_tensors(
                ctx,
                experiment_id=experiment,
                plugin_name=metadata.PLUGIN_NAME,
                downsample=_ALL,
                run_tag_filter=provider.RunTagFilter(runs=[run], tags=list(logger_tags)),
            )
            for tag, points in data.get(run, {}).items():
                if tag not in logger_tags:
                    continue
                meta = logger_tags[tag][0]
                records.extend((tag, meta, p.wall_time, p.step, p.numpy) for p in points)
        data = run_data.assemble(records)
        keras = self._read_keras(ctx, experiment, run, keras_index)
        epoch, step, axis = _epoch_table(data, keras)
        if source == SOURCE_LOGGER:
            optimizers = data.optimizers
        else:
            optimizers = _keras_optimizers(keras, epoch, step, axis)
        return Snapshot(
            run=run,
            source=source,
            data=data,
            keras=keras,
            optimizers=optimizers,
            epoch=epoch,
            step=step,
            axis=axis,
            version=(),
        )

    def _read_keras(self, ctx, experiment, run, keras_index):
        keras = {KERAS_TRAIN: {}, KERAS_VALIDATION: {}}
        if not keras_index:
            return keras
        tags = set()
        for tag_map in keras_index.values():
            tags.update(tag_map)
        data = self._provider.read_scalars(
            ctx,
            experiment_id=experiment,
            plugin_name=KERAS_PLUGIN,
            downsample=_ALL,
            run_tag_filter=provider.RunTagFilter(runs=list(keras_index), tags=sorted(tags)),
        )
        for sub in (KERAS_TRAIN, KERAS_VALIDATION):
            for tag, points in data.get(sibling(run, sub), {}).items():
                if not points or not _keras_tag(tag):
                    continue
                rows = np.array([(p.step, p.value) for p in points], dtype=np.float64)
                keras[sub][tag] = rows[np.argsort(rows[:, 0], kind="stable")]
        return keras


def _epoch_table(data, keras):
    """`(epoch, step, axis)`: where each epoch ends on the step axis.

    From our `epochs` records; for a Keras-only run, from
    `keras_logs.epoch_end_steps` (the CLI's audit uses the same mapping);
    failing both, epochs are their own axis.
    """
    pairs = [
        (e["epoch"], e["step"])
        for e in data.epochs
        if isinstance(e.get("epoch"), (int, float)) and isinstance(e.get("step"), (int, float))
    ]
    if not pairs:
        pairs = sorted(keras_logs.epoch_end_steps(keras).items())
    if pairs:
        arr = np.array(sorted(pairs), dtype=np.float64)
        return arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), AXIS_STEP
    epochs = sorted(
        {
            int(e)
            for sub in keras.values()
            for tag, rows in sub.items()
            if tag.startswith("epoch_")
            for e in rows[:, 0]
        }
    )
    arr = np.array(epochs, dtype=np.int64)
    return arr, arr.copy(), AXIS_EPOCH


def _keras_optimizers(keras, epoch, step, axis):
    """Keras's `epoch_learning_rate*` as `[n, 3]` step, planned (NaN), actual."""
    result = {}
    for tag, rows in sorted(keras[KERAS_TRAIN].items()):
        if not tag.startswith(KERAS_LR_PREFIX):
            continue
        epochs = rows[:, 0]
        if axis == AXIS_EPOCH:
            steps = epochs
        else:
            pos = np.clip(np.searchsorted(epoch, epochs), 0, max(len(epoch) - 1, 0))
            hit = (epoch[pos] == epochs) if len(epoch) else np.zeros(len(epochs), bool)
            steps = np.where(hit, step[pos] if len(step) else 0, -1)
        keep = steps >= 0
        out = np.stack([steps[keep], np.full(keep.sum(), np.nan), rows[keep, 1]], axis=1)
        result[keras_optimizer_name(tag)] = out.astype(np.float64)
    return result


def background_context():
    """A request context for calls made outside a request (`is_active`)."""
    return tb_context.RequestContext()
