"""The tab without a server: one self-contained HTML file per logdir.

`build(found)` collects, for each run `tb-lr-audit` loaded, what the tab's
routes would answer (the same `lr`, `loss`, `events`, `audit` and `finder`
bodies, display-downsampled as the routes are), plus the full export in a
compact lossless form. `write_html(path, report)` inlines the frontend's
report bundle (`static/report.js`, the tab's own `render()` over a data
backend that reads this JSON) and the data into one file that makes no
network request: its Content-Security-Policy allows nothing but the one
inline script and the one inline style, by hash.

Every string from the logs reaches the page as JSON inside a
`<script type="application/json">` element, with `<`, `>`, `&` and
U+2028/U+2029 escaped, never as markup.

In a notebook, `tb_lr_plugin.report(logdir)` returns a `Report`, whose
`_repr_html_` shows the same page in a sandboxed iframe.
"""

import base64
import dataclasses
import datetime
import hashlib
import html
import json
import math
import os

import numpy as np

from tb_lr_plugin import __version__

FORMAT_VERSION = 1
STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
BUNDLE = os.path.join(STATIC_DIR, "report.js")
STYLESHEET = os.path.join(STATIC_DIR, "report.css")
DATA_ELEMENT_ID = "tb-lr-report-data"
_JS_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


class BundleMissingError(RuntimeError):
    """The frontend's report bundle was never built (`make build`)."""


def build(found, logdir=None):
    """Collects what the tab needs for every loaded run.

    Args:
      found: a `loader.Logdir` (the runs `tb-lr-audit` loaded and selected).
      logdir: the logdir as the user named it, for the page's title.

    Returns:
      A JSON-ready dict: `runs` (as the `runs` route lists them), `answers`
      (`{run: {"lr", "loss", "events", "audit", "finder"}}`, the routes'
      bodies) and `export` (`{run: [{"name", "step", "planned", "actual"}]}`,
      every recorded row, run-length encoded by `encode_column`).
    """
    routes = _Routes()
    runs, bodies, exports = [], {}, {}
    for entry in found.runs.values():
        snap = _snapshot(entry)
        runs.append(routes.summary(snap))
        bodies[snap.run] = routes.bodies(snap)
        exports[snap.run] = [
            {
                "name": name,
                "step": encode_steps(rows[:, 0]),
                "planned": encode_column(rows[:, 1]),
                "actual": encode_column(rows[:, 2]),
            }
            for name, rows in snap.optimizers.items()
        ]
    return {
        "format": FORMAT_VERSION,
        "generator": f"tb-lr-plugin {__version__}",
        "logdir": logdir,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "runs": runs,
        "answers": bodies,
        "export": exports,
    }


def encode_steps(steps):
    """Steps as `[[first, count], ...]`: runs of consecutive integers."""
    steps = np.asarray(steps, dtype=np.float64).astype(np.int64)
    if not len(steps):
        return []
    starts = np.flatnonzero(np.diff(steps) != 1) + 1
    starts = np.concatenate([[0], starts])
    counts = np.diff(np.concatenate([starts, [len(steps)]]))
    return [[int(steps[i]), int(n)] for i, n in zip(starts.tolist(), counts.tolist(), strict=True)]


def encode_column(values):
    """A float column, lossless and compact: `{"f32": items}` or `{"f64": items}`.

    Each item is a value, or `[value, count]` for a value that occurs
    `count` times in a row. For a column of float32 values (Keras's learning
    rates; NaN and infinities included) the values are the differences
    between successive float32 bit patterns (as int32): a constant stretch
    is one item, a decay's small steady differences a few digits a step,
    not the 20 of a float64 repr. Any other column holds its float64 values
    (null for NaN, "inf"/"-inf"), repeats found on the bits, so -0.0 stays
    apart from 0.0.
    """
    values = np.ascontiguousarray(values, dtype=np.float64)
    nan = np.isnan(values)
    as32 = values.astype(np.float32)
    if bool(np.all(nan | (as32.astype(np.float64) == values))):
        deltas = np.diff(as32.view(np.int32).astype(np.int64), prepend=np.int64(0))
        return {"f32": _repeats(deltas, deltas[1:] == deltas[:-1], int)}
    bits = values.view(np.int64)
    same = (bits[1:] == bits[:-1]) | (nan[1:] & nan[:-1])
    return {"f64": _repeats(values, same, _json_float)}


def _repeats(values, same, convert):
    """`values` as items: `convert(v)`, or `[convert(v), count]` for a run of
    `count` equal values (`same[i]`: value i + 1 repeats value i)."""
    if not len(values):
        return []
    starts = np.concatenate([[0], np.flatnonzero(~same) + 1])
    counts = np.diff(np.concatenate([starts, [len(values)]])).tolist()
    firsts = [convert(v) for v in values[starts].tolist()]
    return [v if n == 1 else [v, n] for v, n in zip(firsts, counts, strict=True)]


class _Routes:
    """The routes' answers for runs the CLI loaded: `answers`, as the plugin serves them."""

    def summary(self, snap):
        """The run's entry in the `runs` route."""
        from tb_lr_plugin import answers

        return answers.run_summary(snap)

    def bodies(self, snap):
        """`{"lr", "loss", "events", "audit", "finder"}`: what each route answers."""
        from tb_lr_plugin import answers, formatting

        return formatting.strict_json(
            {part: answers.part_body(snap, part) for part in answers.PARTS}
        )


def _snapshot(run):
    """A loaded `run_model.Run` as the plugin's `reader.Snapshot`: the
    same run, with the memo its answer bodies use."""
    from tb_lr_plugin import reader, run_model

    fields = {f.name: getattr(run, f.name) for f in dataclasses.fields(run_model.Run)}
    return reader.Snapshot(**fields)


def _json_float(x):
    if x != x:
        return None
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def to_json(report):
    """The report's data as JSON text safe inside a `<script>` element."""
    text = json.dumps(report, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    for char, escaped in _JS_ESCAPES.items():
        if char in text:
            text = text.replace(char, escaped)
    return text


def _static(path, tag):
    """A built file's text, checked to be safe inside a `<tag>` element."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise BundleMissingError(
            f"the report bundle {path} is missing: run `make build` (or install a built wheel)"
        ) from None
    if f"</{tag}" in text.lower():
        raise BundleMissingError(f"{path} contains '</{tag}' and cannot be inlined")
    return text


def _csp_hash(text):
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def render_html(report, title=None):
    """The whole page: CSP, the stylesheet, the data element, the bundle as
    an inline module.

    The CSP allows no network at all (`default-src 'none'`, so no fetch,
    image, font or frame), and only this page's one script and one
    stylesheet, by hash. render() finds its stylesheet in place and does
    not inject another; uPlot and the markers set styles through the
    CSSOM, which style-src does not restrict.
    """
    script = _static(BUNDLE, "script")
    style = _static(STYLESHEET, "style")
    title = title or f"Learning rate report: {report.get('logdir') or 'logdir'}"
    csp = (
        f"default-src 'none'; script-src {_csp_hash(script)}; style-src {_csp_hash(style)}; "
        "base-uri 'none'; form-action 'none'"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(csp)}">\n'
        '<meta name="color-scheme" content="light dark">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="{html.escape(report.get("generator", ""))}">\n'
        f"<title>{html.escape(title)}</title>\n"
        f'<style id="tb-lr-style">{style}</style>\n</head>\n<body>\n'
        f'<script type="application/json" id="{DATA_ELEMENT_ID}">{to_json(report)}</script>\n'
        f'<script type="module">{script}</script>\n'
        "</body>\n</html>\n"
    )


def write_html(path, report, title=None):
    """Writes the report page to `path` (UTF-8); returns its size in bytes."""
    body = render_html(report, title).encode("utf-8")
    with open(path, "wb") as f:
        f.write(body)
    return len(body)


class Report:
    """A report for a notebook: shown inline, or saved as one HTML file.

    Example:
      ```python
      from tb_lr_plugin import report
      report("logs")                  # the tab's view, inline in Jupyter or Colab
      report("logs", run="exp/.*").save("lr.html")
      ```
    """

    def __init__(self, data, height=900):
        self.data = data
        self.height = height

    @property
    def runs(self):
        """The names of the runs in the report."""
        return [r["run"] for r in self.data["runs"]]

    def html(self):
        """The self-contained page, as text."""
        return render_html(self.data)

    def save(self, path):
        """Writes the page to `path`; returns `path`."""
        write_html(path, self.data)
        return path

    def _repr_html_(self):
        # In an iframe: the page styles its whole document and follows the
        # system's colour scheme; inline in the notebook it would restyle
        # the notebook. Sandboxed without same-origin: it cannot touch the
        # notebook, and its CSP still applies.
        return (
            f'<iframe class="tb-lr-report" title="Learning rate report" '
            f'sandbox="allow-scripts allow-downloads" '
            f'style="width:100%;height:{int(self.height)}px;border:0" '
            f'srcdoc="{html.escape(self.html(), quote=True)}"></iframe>'
        )

    def __repr__(self):
        return f"<tb_lr_plugin.Report of {len(self.runs)} run(s)>"


def report(logdir, run=None, height=900):
    """The Learning Rate tab's view of `logdir`, with no server.

    Imports neither TensorFlow nor Keras nor torch: event files are read
    with TensorBoard's own reader, as `tb-lr-audit` reads them.

    Args:
      logdir: the directory given to TensorBoard.
      run: a run name or a regular expression matching whole names, or a
        list of them; `None` for every run.
      height: the inline view's height in pixels.

    Returns:
      A `Report` (shown inline by Jupyter; `.save(path)` writes the file).

    Raises:
      ValueError: no learning-rate data, or no run matching `run`.
    """
    from tb_lr_plugin import loader, run_select

    loader.use_tensorboard_stub()
    patterns = [run] if isinstance(run, str) else list(run or [])
    found = run_select.load(logdir, patterns)
    if not found.runs:
        raise ValueError(f"no learning-rate data in {logdir!r}")
    return Report(build(found, logdir=str(logdir)), height=height)
