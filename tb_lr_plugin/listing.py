"""Which runs exist, listed through TensorBoard's `DataProvider`, reused for a moment.

A listing (`list_tensors` of our plugin, `list_scalars` of the sources'
tags) is what every run's version is computed from (`run_version`), so it
is made at every request that could show new data. Over the Rust data
server's gRPC it costs a few ms (`quick_ack`; 42-45 ms without), a round
trip a cached request otherwise does without: a listing is reused for
`ttl` seconds (a fraction of TensorBoard's reload interval), and `warm`
makes it ahead of a request known to come.
"""

import concurrent.futures
import threading
import time

from tensorboard.data import provider

from tb_lr_plugin import metadata, quick_ack, run_model, run_version, tolerant_read

# Listings are small: any thread may make them, two at a time.
_LISTERS = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="learning_rate_list")


class Listing:
    """The listings of one data provider, each reused for `ttl` seconds.

    Args:
      data_provider: the `DataProvider`, or `None` (then there are no runs).
      ttl: seconds a listing is reused for; 0 lists at every call.
      options: the user's tag patterns (`sources.patterns.Options`) or `None`.
    """

    def __init__(self, data_provider, ttl=0.0, options=None):
        self._provider = data_provider
        self._ttl = ttl
        self.options = options
        self._listings = {}  # key -> (monotonic time, listing)
        self._lock = threading.Lock()
        self._warming = False
        self._parsed = {}  # plugin_content bytes -> parsed metadata dict or None

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

    def logger(self, ctx, experiment, runs=None):
        """`{run: {tag: (meta, max_step, max_wall_time)}}` of our readable tags."""
        return self._listed(
            ("logger", experiment, tuple(runs or ())),
            lambda: self._logger_now(ctx, experiment, runs),
        )

    def keras(self, ctx, experiment, runs=None):
        """`{run: {tag: (max_step, max_wall_time)}}` of the sources' scalars (Keras's, ...)."""
        return self._listed(
            ("keras", experiment, tuple(runs or ())), lambda: self._keras_now(ctx, experiment, runs)
        )

    def _list(self, method, plugin_name, ctx, experiment, runs):
        """The provider's `list_tensors` or `list_scalars` of `plugin_name` (all runs or `runs`)."""
        if self._provider is None:
            return {}
        return quick_ack.call(
            self._provider,
            method,
            ctx,
            experiment_id=experiment,
            plugin_name=plugin_name,
            run_tag_filter=provider.RunTagFilter(runs=runs) if runs else None,
        )

    def _logger_now(self, ctx, experiment, runs):
        result = {}
        for run, tags in self._list(
            "list_tensors", metadata.PLUGIN_NAME, ctx, experiment, runs
        ).items():
            readable = {}
            for tag, series in tags.items():
                meta = self._parse(series.plugin_content)
                if meta is not None:
                    readable[tag] = (meta, series.max_step, series.max_wall_time)
            if readable:
                result[run] = readable
        return result

    def _keras_now(self, ctx, experiment, runs):
        result = {}
        scalars = self._list("list_scalars", tolerant_read.SCALARS_PLUGIN, ctx, experiment, runs)
        for run, tags in scalars.items():
            kept = {
                t: (s.max_step, s.max_wall_time)
                for t, s in tags.items()
                if run_model.wants_scalar(t)
            }
            if kept:
                result[run] = kept
        return result

    def has_data(self, ctx, experiment):
        """Whether any run has something to show (for `is_active`)."""
        if self.logger(ctx, experiment):
            return True
        keras = self.keras(ctx, experiment)
        return any(run_version.lists_lr(r, t, self.options) for r, t in keras.items())

    def index(self, ctx, experiment):
        """`{run: (logger_tags, keras_index)}` of every run with something to show."""
        # The two listings at once: each is a round trip to the data server.
        keras_future = _LISTERS.submit(self.keras, ctx, experiment)
        logger_index = self.logger(ctx, experiment)
        keras_index = keras_future.result()
        names = set(logger_index)
        for krun, tags in keras_index.items():
            for owner, split in run_model.owners(krun):
                if owner not in logger_index and run_model.lists_lr(split, tags, self.options):
                    names.add(owner)
        return {
            run: (
                logger_index.get(run),
                {s: keras_index[s] for s in run_model.siblings(run) if s in keras_index},
            )
            for run in sorted(names)
        }

    def warm(self, ctx, experiment):
        """Lists in the background, so that a request coming soon finds the listing made.

        Returns at once; nothing is read but the listing (two small calls),
        and nothing when the last listing is still fresh. A failure is left
        to the request that lists next.
        """
        if self._provider is None or self._ttl <= 0:
            return
        with self._lock:
            hit = self._listings.get(("logger", experiment, ()))
            if self._warming or (hit is not None and time.monotonic() - hit[0] < self._ttl / 2):
                return
            self._warming = True

        def list_now():
            try:
                self.index(ctx, experiment)
            except Exception:  # noqa: BLE001 - the next request lists again and reports it
                pass
            finally:
                self._warming = False

        # Its own thread: `index` waits on `_LISTERS`, which must not wait on itself.
        threading.Thread(target=list_now, name="learning_rate_warm", daemon=True).start()
