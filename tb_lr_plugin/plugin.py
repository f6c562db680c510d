"""The Learning Rate tab: TensorBoard plugin and loader.

Routes (under `/data/plugin/learning_rate/`, see docs/http_api.md):
`runs`, `lr`, `events`, `loss`, `audit`, `export`, `finder`, `view` (many
runs' `lr`, `loss`, `events`... in one answer), and the frontend's
`index.js` and `static/*`. Each data route parses its query strictly,
calls a pure `*_impl` method that raises TensorBoard's public errors, and
answers JSON; `http.json_errors` turns every error into `{"error": ...}`.

Everything is read through the data provider TensorBoard gives the plugin
(`reader.RunReader`), under either loader (`--load_fast`).
"""

import logging
import os
import re
import threading

from tensorboard import errors, plugin_util
from tensorboard.backend import http_util
from tensorboard.plugins import base_plugin

from tb_lr_plugin import answers, metadata, reader, responses, run_version, view
from tb_lr_plugin.sources import patterns

logger = logging.getLogger(__name__)

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
_ROUTE_PREFIX = f"/data/plugin/{metadata.PLUGIN_NAME}/"
_STATIC_MARKER = _ROUTE_PREFIX + "static/"
# The tab itself, which the entry module (`index.js`) imports.
APP_JS = "app.js"

# Served as /index.js when the frontend was never built, so the tab says
# what to do instead of staying blank.
MISSING_BUNDLE_JS = """\
export function render() {
  const p = document.createElement("p");
  p.style.cssText = "font: 14px sans-serif; padding: 24px";
  p.textContent = "The frontend bundle is missing: run `make build` " +
    "(or install a built wheel of tb-lr-plugin), then reload TensorBoard.";
  document.body.appendChild(p);
}
"""

# What the bundle's files are served as. A fixed table, not `mimetypes`:
# that reads the system's tables (/etc/mime.types, the Windows registry),
# which can map `.js` to `text/plain` and break the ES module.
_STATIC_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".map": "application/json",
    ".html": "text/html",
    ".txt": "text/plain",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".woff2": "font/woff2",
}

FORMATS = ("json", "csv")
# Export answers up to this size are kept for the next request (see export_impl).
_EXPORT_KEPT_BYTES = 4 << 20


def _run_route(impl_name):
    """A `?run=R` route over the JSON-returning `impl_name` method.

    Its answer carries an `ETag` of the run's version: a browser asking
    again (the tab's refresh) gets `304 Not Modified` while the run is
    unchanged, and nothing is built or sent.
    """
    part = impl_name[: -len("_impl")]

    @responses.json_errors
    def serve(self, request):
        run = responses.query(request, allowed=("run",), required=("run",))["run"]
        ctx, experiment = _request_context(request)
        version = self._reader.version(ctx, experiment, run)
        tag = responses.entity_tag(part, experiment, run, self._scalars_kept, version)
        unchanged = responses.not_modified(request, tag)
        if unchanged is not None:
            return unchanged
        body = getattr(self, impl_name)(ctx, experiment, run)
        return responses.json_response(request, body, etag=tag)

    serve.__name__ = "_serve_" + part
    return serve


class LearningRatePlugin(base_plugin.TBPlugin):
    """Planned vs actual learning rate, plateau decisions, and the loss."""

    plugin_name = metadata.PLUGIN_NAME

    def __init__(self, context):
        """Instantiates the plugin.

        Args:
          context: a `base_plugin.TBContext`; its `data_provider` and
            `flags.reload_interval` are used.
        """
        self._data_provider = context.data_provider
        reload_interval = getattr(context.flags, "reload_interval", 0) or 0
        # Listings are reused for a quarter of the reload interval, at most
        # a second, so new data shows at most that much later than
        # TensorBoard itself shows it. `--reload_interval=0` (load once):
        # list on every request.
        self._reader = reader.RunReader(
            context.data_provider,
            listing_ttl=min(1.0, max(0.0, reload_interval) / 4),
            options=patterns.options(
                getattr(context.flags, "lr_tag", None), getattr(context.flags, "loss_tag", None)
            ),
        )
        self._exports = {}  # format -> ((experiment, run, version), answer)
        samples = getattr(context.flags, "samples_per_plugin", None)
        samples = samples if isinstance(samples, dict) else {}
        # What TensorBoard keeps of each `scalars` tag (its default: 1,000).
        self._scalars_kept = samples.get("scalars", answers.SCALARS_KEPT)
        self._export_lock = threading.Lock()
        self._views = view.Views(self._reader, self._scalars_kept)
        self._gzipped = responses.Gzipped()

    def get_plugin_apps(self):
        return {
            "/index.js": self._serve_index_js,
            "/static/*": self._serve_static,
            # `static/` reaches TensorBoard as `static` (it strips the slash):
            # answer it here too, with the same JSON 404.
            "/static": self._serve_static,
            "/runs": self._serve_runs,
            "/lr": self._serve_lr,
            "/events": self._serve_events,
            "/loss": self._serve_loss,
            "/audit": self._serve_audit,
            "/export": self._serve_export,
            "/finder": self._serve_finder,
            "/view": self._serve_view,
        }

    def is_active(self):
        """Active when some run has a Keras `epoch_learning_rate` only.

        Runs with this plugin's own records make TensorBoard enable the tab
        through `list_plugins()` without asking here.
        """
        if self._data_provider is None:
            return False
        return self._reader.has_data(reader.background_context(), "")

    def frontend_metadata(self):
        """The tab's module and title.

        TensorBoard asks for this as its app boots (`plugins_listing`), a few
        hundred milliseconds before the tab's first request: the listing
        that request needs is made meanwhile (`RunReader.warm`: a round trip
        to the Rust data server). Nothing is read.
        """
        if self._data_provider is not None:
            self._reader.warm(reader.background_context(), "")
        return base_plugin.FrontendMetadata(es_module_path="/index.js", tab_name="Learning Rate")

    # Pure implementations: (ctx, experiment, ...) -> a JSON-ready object or
    # JSON text; errors are raised as `tensorboard.errors.PublicError`s.

    def runs_impl(self, ctx, experiment):
        """`{"runs": [{"run", "optimizers", "source", "steps", "epochs", "events", "finder"}]}`.

        `finder` counts the run's LR range tests, so a run with only a range
        test is listed too. Each run's entry is kept per version of its data
        (`RunReader.summaries`), so listing hundreds of runs reads only those
        that changed.
        """
        return {"runs": self._reader.summaries(ctx, experiment, answers.run_summary)}

    def _part(self, ctx, experiment, run, part):
        """The serialized body of the per-run route `part`, computed once per version of the run."""
        snap = self._reader.snapshot(ctx, experiment, run)
        body = lambda: answers.part_body(snap, part, self._scalars_kept)  # noqa: E731 - memoized
        return snap.memoize(part, lambda: responses.dumps(body()))

    def lr_impl(self, ctx, experiment, run):
        """Planned and actual LR per optimizer, downsampled for display (a JSON `str`)."""
        return self._part(ctx, experiment, run, "lr")

    def events_impl(self, ctx, experiment, run):
        """`{"events": [...]}` sorted by step."""
        return self._part(ctx, experiment, run, "events")

    def loss_impl(self, ctx, experiment, run):
        """The loss and metric series to draw under the LR."""
        return self._part(ctx, experiment, run, "loss")

    def audit_impl(self, ctx, experiment, run):
        """`{"findings": [...]}` from `tb_lr_plugin.audit.find`."""
        return self._part(ctx, experiment, run, "audit")

    def finder_impl(self, ctx, experiment, run):
        """`{"run", "tests": [...]}`: the LR range tests, never downsampled.

        Each test as `lr_finder.range_tests` reads it (the CLI's `finder`).
        """
        return self._part(ctx, experiment, run, "finder")

    def view_impl(self, ctx, experiment, query, index=None):
        """`{"runs": [{"run", <part>: <the part's route body>, ...}]}` of many runs at once.

        See `view.py`: one request for what the first draw of the selected
        runs needs (`query`: a `view.Query`), with the `runs` route's list
        as `"listing"` when asked for.

        Returns:
          The serialized JSON (`str`).
        """
        listing = None
        runs = list(query.runs)
        if query.listing or query.first:
            # The runs the listing reads are the ones the view needs: keep
            # their answers as they are read, not read them twice.
            wanted = runs or self._reader.names(ctx, experiment)[: query.first]
            prime = self._views.primer(experiment, wanted, query.parts, query.points)
            summarize = lambda snap: (prime(snap), answers.run_summary(snap))[1]  # noqa: E731
            listing = self._reader.summaries(ctx, experiment, summarize)
        if query.first:
            runs = [entry["run"] for entry in listing[: query.first]]
        return self._views.answer(
            ctx, experiment, runs, query.parts, query.points, listing if query.listing else None
        )

    def export_impl(self, ctx, experiment, run, fmt):
        """Every recorded row, never downsampled.

        Returns:
          `(body, content_type)`: CSV `run,optimizer,step,planned,actual`
          with repr-exact floats, or JSON, as UTF-8 `bytes`.

        Raises:
          errors.InvalidArgumentError: an unknown `fmt`.
          errors.NotFoundError: an unknown run.
        """
        if fmt not in FORMATS:
            raise errors.InvalidArgumentError(f"Unknown format {fmt!r}; use 'csv' or 'json'")
        snap = self._reader.snapshot(ctx, experiment, run)
        # The last answer of each format is kept while the run is unchanged:
        # several clients downloading (or polling) a run cost one export,
        # not a multi-megabyte build each. Large answers are not kept.
        key = (experiment, run, snap.version)
        with self._export_lock:
            hit = self._exports.get(fmt)
        if hit is not None and hit[0] == key:
            return hit[1]
        # Built on the reader's one thread (see `RunReader.__init__`): an
        # export allocates several times its size for a moment; concurrent
        # downloads of a large run also take that memory once, not once each.
        result = self._reader.on_worker(answers.export_body, snap, fmt)
        if len(result[0]) <= _EXPORT_KEPT_BYTES:
            with self._export_lock:
                self._exports[fmt] = (key, result)
        return result

    # Routes: parse the query, call the impl, answer.

    @responses.json_errors
    def _serve_runs(self, request):
        responses.query(request, allowed=())
        ctx, experiment = _request_context(request)
        index = self._reader.index(ctx, experiment)
        versions = run_version.versions(index, index, self._reader.options)
        tag = responses.entity_tag("runs", experiment, versions)
        unchanged = responses.not_modified(request, tag)
        if unchanged is not None:
            return unchanged
        body = {"runs": self._reader.summaries(ctx, experiment, answers.run_summary, index)}
        return responses.json_response(request, body, etag=tag)

    _serve_lr = _run_route("lr_impl")
    _serve_events = _run_route("events_impl")
    _serve_loss = _run_route("loss_impl")
    _serve_audit = _run_route("audit_impl")
    _serve_finder = _run_route("finder_impl")

    @responses.json_errors
    def _serve_view(self, request):
        query = view.parse_query(request)
        ctx, experiment = _request_context(request)
        index = self._reader.index(ctx, experiment)
        tag = view.entity_tag(experiment, query, index, self._reader.options, self._scalars_kept)
        unchanged = responses.not_modified(request, tag)
        if unchanged is not None:
            return unchanged
        return self._gzipped.respond(
            request,
            ("view", tag),
            lambda: self.view_impl(ctx, experiment, query, index),
            headers=[("ETag", f'"{tag}"')],
        )

    @responses.json_errors
    def _serve_export(self, request):
        params = responses.query(request, allowed=("run", "format"), required=("run",))
        ctx, experiment = _request_context(request)
        body, content_type = self.export_impl(
            ctx, experiment, params["run"], params.get("format", "json")
        )
        headers = []
        if content_type == "text/csv":
            name = re.sub(r"[^A-Za-z0-9._-]+", "_", params["run"]).strip("._") or "run"
            headers.append(
                ("Content-Disposition", f'attachment; filename="{name}.learning_rate.csv"')
            )
        return http_util.Respond(request, body, content_type, headers=headers)

    @responses.json_errors
    def _serve_index_js(self, request):
        # The entry imports the tab (static/app.js): without it, say so too.
        path = os.path.join(STATIC_DIR, "index.js")
        if os.path.isfile(path) and os.path.isfile(os.path.join(STATIC_DIR, APP_JS)):
            return http_util.Respond(request, _read(path), "text/javascript")
        return http_util.Respond(request, MISSING_BUNDLE_JS, "text/javascript")

    @responses.json_errors
    def _serve_static(self, request):
        path = static_path(request.path)
        if path is None or not os.path.isfile(path):
            raise errors.NotFoundError("No such static file")
        extension = os.path.splitext(path)[1].lower()
        content_type = _STATIC_TYPES.get(extension, "application/octet-stream")
        if content_type == "application/octet-stream":
            return http_util.Respond(request, _read(path), content_type)
        stat = os.stat(path)
        key = ("static", path, stat.st_size, stat.st_mtime_ns)
        return self._gzipped.respond(request, key, lambda: _read(path), content_type)


def _read(path):
    with open(path, "rb") as f:
        return f.read()


class LearningRateLoader(base_plugin.TBLoader):
    """Loads the plugin and makes TensorBoard keep all of its records.

    TensorBoard keeps a sample of each tag's records: 10 per tag for an
    unknown plugin in the Python loader, 100 in the Rust one. Each of our
    records holds many rows, but a long run still has hundreds, so unless
    the user set `--samples_per_plugin=learning_rate=N` themselves, this
    sets it to 0 ("keep all", in both loaders) before the loader starts.
    """

    def define_flags(self, parser):
        """`--lr_tag`, `--loss_tag`: the patterns of the plain-scalar source."""
        for flag, (text, default) in patterns.FLAGS.items():
            parser.add_argument(
                "--" + flag,
                metavar="REGEX",
                default=None,
                help=f"learning_rate plugin: {text} Default: {default}".replace("%", "%%"),
            )

    def fix_flags(self, flags):
        try:
            patterns.options(getattr(flags, "lr_tag", None), getattr(flags, "loss_tag", None))
        except ValueError as e:
            raise base_plugin.FlagsError(f"--lr_tag/--loss_tag: {e}") from None
        value = getattr(flags, "samples_per_plugin", None)
        if value is None or value == "":
            value = {}
        elif isinstance(value, str):
            value = _parse_samples_per_plugin(value)
        elif not isinstance(value, dict):
            value = dict(value)
        value.setdefault(metadata.PLUGIN_NAME, 0)
        flags.samples_per_plugin = value

    def load(self, context):
        return LearningRatePlugin(context)


def _parse_samples_per_plugin(value):
    """Parses `name=N,name=N` as TensorBoard's own flag parser does."""
    result = {}
    for token in value.split(","):
        token = token.strip()
        if not token:
            continue
        name, sep, count = token.partition("=")
        try:
            result[name.strip()] = int(count)
        except ValueError:
            raise base_plugin.FlagsError(
                f"--samples_per_plugin: expected name=count, got {token!r}"
            ) from None
        if not sep:
            raise base_plugin.FlagsError(
                f"--samples_per_plugin: expected name=count, got {token!r}"
            )
    return result


def static_path(request_path):
    """The file under `STATIC_DIR` a request path names, or `None`.

    Refuses anything that could leave the folder: `..` and `.` segments,
    backslashes, NULs, drive letters, absolute paths, and symlinks out.
    """
    idx = request_path.find(_STATIC_MARKER)
    if idx < 0:
        return None
    rel = request_path[idx + len(_STATIC_MARKER) :]
    parts = rel.split("/")
    if not rel or any(p in ("", ".", "..") or "\\" in p or "\0" in p or ":" in p for p in parts):
        return None
    root = os.path.realpath(STATIC_DIR)
    path = os.path.realpath(os.path.join(root, *parts))
    if os.path.commonpath([root, path]) != root or path == root:
        return None
    return path


def _request_context(request):
    return plugin_util.context(request.environ), plugin_util.experiment_id(request.environ)
