"""The Learning Rate tab: TensorBoard plugin and loader.

Routes (under `/data/plugin/learning_rate/`, see docs/http_api.md):
`runs`, `lr`, `events`, `loss`, `audit`, `export`, `finder`, and the frontend's
`index.js` and `static/*`. Each data route parses its query strictly,
calls a pure `*_impl` method that raises TensorBoard's public errors, and
answers JSON; `http.json_errors` turns every error into `{"error": ...}`.

Everything is read through the data provider TensorBoard gives the plugin
(`provider.RunReader`), under either loader (`--load_fast`).
"""

import logging
import os
import re
import threading

import numpy as np
from tensorboard import errors, plugin_util
from tensorboard.backend import http_util
from tensorboard.plugins import base_plugin

from tb_lr_plugin import audit, downsample, export, keras_logs, lr_finder, metadata, provider
from tb_lr_plugin import http as lr_http

logger = logging.getLogger(__name__)

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
_ROUTE_PREFIX = f"/data/plugin/{metadata.PLUGIN_NAME}/"
_STATIC_MARKER = _ROUTE_PREFIX + "static/"

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
_KERAS_SKIP = ("learning_rate", "steps_per_second")


def _run_route(impl_name):
    """A `?run=R` route over the JSON-returning `impl_name` method."""

    @lr_http.json_errors
    def serve(self, request):
        run = lr_http.query(request, allowed=("run",), required=("run",))["run"]
        ctx, experiment = _request_context(request)
        return lr_http.json_response(request, getattr(self, impl_name)(ctx, experiment, run))

    serve.__name__ = "_serve_" + impl_name[: -len("_impl")]
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
        self._reader = provider.RunReader(
            context.data_provider, listing_ttl=min(1.0, max(0.0, reload_interval) / 4)
        )
        self._exports = {}  # format -> ((experiment, run, version), answer)
        self._export_lock = threading.Lock()

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
        }

    def is_active(self):
        """Active when some run has a Keras `epoch_learning_rate` only.

        Runs with this plugin's own records make TensorBoard enable the tab
        through `list_plugins()` without asking here.
        """
        if self._data_provider is None:
            return False
        return self._reader.has_data(provider.background_context(), "")

    def frontend_metadata(self):
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

        def summary(snap):
            return {
                "run": snap.run,
                "optimizers": list(snap.optimizers),
                "source": snap.source,
                "steps": snap.last_step,
                "epochs": len(snap.epoch),
                "events": len(self._events(snap)),
                "finder": len(snap.data.finder),
            }

        return {"runs": self._reader.summaries(ctx, experiment, summary)}

    def lr_impl(self, ctx, experiment, run):
        """Planned and actual LR per optimizer, downsampled for display.

        Returns:
          The serialized JSON (`str`), computed once per version of the run.
        """
        snap = self._reader.snapshot(ctx, experiment, run)
        return snap.memoize("lr", lambda: lr_http.dumps(self._lr_body(snap)))

    def events_impl(self, ctx, experiment, run):
        """`{"events": [...]}` sorted by step."""
        snap = self._reader.snapshot(ctx, experiment, run)
        return snap.memoize("events", lambda: lr_http.dumps({"events": self._events(snap)}))

    def loss_impl(self, ctx, experiment, run):
        """The loss and metric series to draw under the LR."""
        snap = self._reader.snapshot(ctx, experiment, run)
        return snap.memoize("loss", lambda: lr_http.dumps(self._loss_body(snap)))

    def audit_impl(self, ctx, experiment, run):
        """`{"findings": [...]}` from `tb_lr_plugin.audit.find`."""
        snap = self._reader.snapshot(ctx, experiment, run)
        return snap.memoize("audit", lambda: lr_http.dumps({"findings": _audit(snap)}))

    def finder_impl(self, ctx, experiment, run):
        """`{"run", "tests": [...]}`: the LR range tests, never downsampled.

        Each test as `lr_finder.range_tests` reads it (the CLI's `finder`).
        """
        snap = self._reader.snapshot(ctx, experiment, run)
        return snap.memoize(
            "finder",
            lambda: lr_http.dumps(
                {"run": snap.run, "tests": lr_http.clean(lr_finder.range_tests(snap.data.finder))}
            ),
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
        result = self._reader.on_worker(self._export, snap, fmt)
        if len(result[0]) <= _EXPORT_KEPT_BYTES:
            with self._export_lock:
                self._exports[fmt] = (key, result)
        return result

    def _export(self, snap, fmt):
        # Encoded here, once: a `str` answer would be encoded again (copied)
        # at every request.
        if fmt == "csv":
            return _export_csv(snap).encode("utf-8"), "text/csv"
        body = {
            "run": snap.run,
            "optimizers": {
                name: {
                    "step": lr_http.column(rows[:, 0], integer=True),
                    "planned": lr_http.column(rows[:, 1]),
                    "actual": lr_http.column(rows[:, 2]),
                }
                for name, rows in snap.optimizers.items()
            },
            "events": self._events(snap),
        }
        return lr_http.dumps(body).encode("utf-8"), lr_http.JSON

    # Helpers.

    def _events(self, snap):
        def compute():
            if snap.source == provider.SOURCE_LOGGER:
                events = list(snap.data.events)
            else:
                events = _fallback_events(snap.keras)
            return lr_http.clean(sorted(events, key=_event_order))

        return snap.memoize("events_list", compute)

    def _lr_body(self, snap):
        keep = _event_steps(self._events(snap))
        optimizers = []
        points = 0
        thinned = False
        for name, rows in snap.optimizers.items():
            idx = downsample.select(rows[:, 0], rows[:, 1:], keep_steps=keep)
            points += len(rows)
            thinned = thinned or len(idx) < len(rows)
            kept = rows[idx]
            optimizers.append(
                {
                    "name": name,
                    "step": lr_http.column(kept[:, 0], integer=True),
                    "planned": lr_http.display_column(kept[:, 1]),
                    "actual": lr_http.display_column(kept[:, 2]),
                }
            )
        return {
            "run": snap.run,
            "source": snap.source,
            "axis": snap.axis,
            "optimizers": optimizers,
            "epochs": _epochs(snap),
            "points": points,
            "downsampled": thinned,
            "plans": _plans(snap.data.sessions),
        }

    def _loss_body(self, snap):
        keep = _event_steps(self._events(snap))
        series = []
        names = set()
        thinned = False

        def add_steps(name, source, rows):
            nonlocal thinned
            idx = downsample.select(rows[:, 0], rows[:, 1], keep_steps=keep)
            thinned = thinned or len(idx) < len(rows)
            names.add(name)
            series.append(
                {
                    "name": name,
                    "source": source,
                    "resolution": "step",
                    "step": lr_http.column(rows[idx, 0], integer=True),
                    "value": lr_http.display_column(rows[idx, 1]),
                }
            )

        def add_epochs(name, source, epochs, values):
            steps = snap.epoch_steps(epochs)
            ok = steps >= 0
            names.add(name)
            series.append(
                {
                    "name": name,
                    "source": source,
                    "resolution": "epoch",
                    "epoch": lr_http.column(epochs[ok], integer=True),
                    "step": lr_http.column(steps[ok], integer=True),
                    "value": lr_http.display_column(values[ok]),
                }
            )

        if snap.axis == provider.AXIS_STEP:
            for metric, rows in sorted(snap.data.batch.items()):
                add_steps("batch_" + metric, provider.SOURCE_LOGGER, rows)
        for name, (epochs, values) in sorted(_logger_epoch_logs(snap.data.epochs).items()):
            add_epochs(name, provider.SOURCE_LOGGER, epochs, values)

        train = snap.keras[provider.KERAS_TRAIN]
        validation = snap.keras[provider.KERAS_VALIDATION]
        for tag, rows in sorted(train.items()):
            if any(skip in tag for skip in _KERAS_SKIP):
                continue
            if tag.startswith("batch_") and snap.axis == provider.AXIS_STEP:
                if tag not in names:
                    add_steps(tag, provider.SOURCE_KERAS, rows)
            elif tag.startswith("epoch_"):
                name = tag[len("epoch_") :]
                if name not in names:
                    add_epochs(name, provider.SOURCE_KERAS, rows[:, 0], rows[:, 1])
        for tag, rows in sorted(validation.items()):
            if any(skip in tag for skip in _KERAS_SKIP):
                continue
            if tag.startswith("epoch_"):
                name = "val_" + tag[len("epoch_") :]
                if name not in names:
                    add_epochs(name, provider.SOURCE_KERAS, rows[:, 0], rows[:, 1])
            elif tag.startswith("evaluation_") and snap.axis == provider.AXIS_STEP:
                add_steps(tag, provider.SOURCE_KERAS, rows)
        return {
            "run": snap.run,
            "source": snap.source,
            "axis": snap.axis,
            "monitor": _monitor(snap.data),
            "series": series,
            "epochs": _epochs(snap),
            "downsampled": thinned,
        }

    # Routes: parse the query, call the impl, answer.

    @lr_http.json_errors
    def _serve_runs(self, request):
        lr_http.query(request, allowed=())
        ctx, experiment = _request_context(request)
        return lr_http.json_response(request, self.runs_impl(ctx, experiment))

    _serve_lr = _run_route("lr_impl")
    _serve_events = _run_route("events_impl")
    _serve_loss = _run_route("loss_impl")
    _serve_audit = _run_route("audit_impl")
    _serve_finder = _run_route("finder_impl")

    @lr_http.json_errors
    def _serve_export(self, request):
        params = lr_http.query(request, allowed=("run", "format"), required=("run",))
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

    @lr_http.json_errors
    def _serve_index_js(self, request):
        path = os.path.join(STATIC_DIR, "index.js")
        if os.path.isfile(path):
            with open(path, "rb") as f:
                return http_util.Respond(request, f.read(), "text/javascript")
        return http_util.Respond(request, MISSING_BUNDLE_JS, "text/javascript")

    @lr_http.json_errors
    def _serve_static(self, request):
        path = static_path(request.path)
        if path is None or not os.path.isfile(path):
            raise errors.NotFoundError("No such static file")
        extension = os.path.splitext(path)[1].lower()
        content_type = _STATIC_TYPES.get(extension, "application/octet-stream")
        with open(path, "rb") as f:
            return http_util.Respond(request, f.read(), content_type)


class LearningRateLoader(base_plugin.TBLoader):
    """Loads the plugin and makes TensorBoard keep all of its records.

    TensorBoard keeps a sample of each tag's records: 10 per tag for an
    unknown plugin in the Python loader, 100 in the Rust one. Each of our
    records holds many rows, but a long run still has hundreds, so unless
    the user set `--samples_per_plugin=learning_rate=N` themselves, this
    sets it to 0 ("keep all", in both loaders) before the loader starts.
    """

    def fix_flags(self, flags):
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


def _plans(sessions):
    """Each optimizer's plan as the last `fit` call recorded it (class, config, initial LR)."""
    plans = {}
    for session in sessions:
        for opt in session.get("optimizers") or []:
            if isinstance(opt, dict) and isinstance(opt.get("name"), str):
                plans[opt["name"]] = {k: opt.get(k) for k in ("class", "plan", "initial_lr")}
    return lr_http.clean(plans)


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


def _event_order(event):
    step = event.get("step")
    step = step if isinstance(step, (int, float)) else float("inf")
    epoch = event.get("epoch")
    epoch = epoch if isinstance(epoch, (int, float)) else float("inf")
    return (step, epoch)


def _event_steps(events):
    return [e["step"] for e in events if isinstance(e.get("step"), (int, float))]


def _epochs(snap):
    return {
        "epoch": lr_http.column(snap.epoch, integer=True),
        "step": lr_http.column(snap.step, integer=True),
    }


def _logger_epoch_logs(epochs):
    """`{name: (epochs, values)}` from the logger's per-epoch `logs`."""
    series = {}
    for item in epochs:
        epoch = item.get("epoch")
        logs = item.get("logs")
        if not isinstance(epoch, (int, float)) or not isinstance(logs, dict):
            continue
        for name, value in logs.items():
            if any(skip in name for skip in _KERAS_SKIP):
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                series.setdefault(name, ([], []))
                series[name][0].append(epoch)
                series[name][1].append(value)
            elif value is None:
                series.setdefault(name, ([], []))
                series[name][0].append(epoch)
                series[name][1].append(float("nan"))
    return {
        name: (np.asarray(e, dtype=np.float64), np.asarray(v, dtype=np.float64))
        for name, (e, v) in series.items()
    }


def _monitor(data):
    for item in reversed(data.plateau):
        if isinstance(item.get("monitor"), str):
            return item["monitor"]
    for event in reversed(data.events):
        if isinstance(event.get("monitor"), str):
            return event["monitor"]
    return None


def _export_csv(snap):
    return export.to_csv([(snap.run, snap.optimizers)])


def _fallback_events(keras):
    return list(keras_logs.fallback_events(keras))


def _audit(snap):
    return lr_http.clean(list(audit.find(snap.data, snap.keras)))
