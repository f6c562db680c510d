"""JSON responses and the one place where the plugin's errors become JSON.

TensorBoard answers a `tensorboard.errors.PublicError` as `text/plain`;
the tab's contract is a JSON body `{"error": "..."}` with the same status.
`json_errors` wraps every data route: public errors keep their status and
message, anything else is logged with its traceback and answered as a
JSON 500 that names no internals.
"""

import functools
import gzip
import hashlib
import json
import logging
import os

import numpy as np
from tensorboard import errors
from tensorboard.backend import http_util
from werkzeug import wrappers

from tb_lr_plugin import formatting, sized_cache

logger = logging.getLogger(__name__)

JSON = "application/json"

# In every entity tag: a restarted (perhaps upgraded) plugin never answers
# "not modified" to what an earlier process served.
_PROCESS_TOKEN = os.urandom(8).hex()

_INTERNAL_ERROR = "Internal error in the learning_rate plugin; the TensorBoard log has the details."


def column(values, *, integer=False):
    """Converts a numeric array to a JSON-ready list (non-finite -> None).

    Args:
      values: a 1-D array-like of numbers.
      integer: write the values as ints (steps, epochs).

    Returns:
      A list of Python numbers and `None`s.
    """
    arr = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(arr)
    if integer:
        if finite.all():
            return arr.astype(np.int64).tolist()
        out = arr.astype(object)
        out[finite] = arr[finite].astype(np.int64).tolist()
    elif finite.all():
        return arr.tolist()
    else:
        out = arr.astype(object)
    out[~finite] = None
    return out.tolist()


def display_column(values):
    """Like `column`, but writes float32 values with their shortest repr.

    Keras learning rates are float32; `0.0010000000474974513` (the float64
    repr of float32 `0.001`) costs three times the bytes of `0.001` and
    says nothing more. Values that are not exactly float32 keep full
    float64 precision. For display routes only: `export` stays exact.
    """
    arr = np.asarray(values, dtype=np.float64)
    as32 = arr.astype(np.float32)
    exact = np.isfinite(arr) & (as32.astype(np.float64) == arr)
    out = column(arr)
    for i in np.flatnonzero(exact).tolist():
        out[i] = float(str(as32[i]))
    return out


# The one strict-JSON cleaner, shared with the CLI.
clean = formatting.strict_json


def hyper_columns(hyper, select=None):
    """`{series: {param: {"step", "value"}}}` of a source's hyperparameters.

    Args:
      hyper: `{series: {param: float64 [n, 2]}}` of step, value.
      select: `rows -> indices` to thin them for display, or `None` (all).
    """
    out = {}
    for name, params in sorted(hyper.items()):
        out[name] = {}
        for param, rows in sorted(params.items()):
            idx = np.arange(len(rows)) if select is None else select(rows)
            out[name][param] = {
                "step": column(rows[idx, 0], integer=True),
                "value": column(rows[idx, 1]),
            }
    return out


def dumps(obj):
    """Serializes `obj` as compact, strict JSON that is safe to sniff.

    `<`, `>` and `&` only ever occur inside JSON strings here, so escaping
    them keeps run names like `<script>` inert even for a careless reader.
    """
    try:
        text = json.dumps(obj, separators=(",", ":"), allow_nan=False)
    except (ValueError, TypeError):
        text = json.dumps(clean(obj), separators=(",", ":"), allow_nan=False)
    if "<" in text or ">" in text or "&" in text:  # else no copies (exports are large)
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text


def json_response(request, obj, code=200, headers=None, etag=None):
    """Answers `obj` (or an already serialized JSON `str`) as JSON.

    Args:
      etag: the answer's entity tag (`entity_tag`), sent as `ETag`; the
        browser then revalidates with `If-None-Match` (see `not_modified`).
    """
    body = obj if isinstance(obj, str) else dumps(obj)
    if etag is not None:
        headers = [*(headers or []), ("ETag", f'"{etag}"')]
    return http_util.Respond(request, body, JSON, code=code, headers=headers)


class Gzipped:
    """Answers kept gzipped by a key they are a function of, the most recent first.

    TensorBoard gzips every textual answer as it sends it (level 3): for
    the tab's first `view` of three long runs, 440 KB of JSON, that was
    about 12 of the request's 15 ms, and 3 ms for the tab's 137 KB
    `app.js`, at every navigation. The compressed bytes are kept by the
    answer's entity tag (`entity_tag`) or a file's size and mtime, and sent
    as they are; a client that does not take gzip gets them unzipped by
    `http_util.Respond`.

    Args:
      max_bytes: the most compressed bytes kept.
    """

    def __init__(self, max_bytes=16 << 20):
        self._kept = sized_cache.SizedCache(max_bytes)  # key -> gzip bytes

    def respond(self, request, key, build, content_type=JSON, headers=None):
        """The answer of `key`: kept, or `build()` (`str` or `bytes`) gzipped and kept.

        Example:
          >>> kept.respond(request, ("view", etag), lambda: text)  # doctest: +SKIP
        """
        body = self._kept.get(key)
        if body is None:
            content = build()
            # As `http_util.Respond` encodes and compresses a `str` answer.
            content = content.encode("utf-8") if isinstance(content, str) else content
            body = gzip.compress(content, compresslevel=3, mtime=0)
            self._kept.put(key, body, len(body))
        return http_util.Respond(
            request, body, content_type, content_encoding="gzip", headers=headers
        )


def entity_tag(*key):
    """A strong entity tag (unquoted) for an answer that is a function of `key` alone.

    The routes' answers are functions of the versions of the runs they show
    (`run_version.version`) and of the query, so the tag is computed from
    those without building the answer.

    Example:
      >>> entity_tag("lr", "run_a", (1, 2)) == entity_tag("lr", "run_a", (1, 2))
      True
    """
    return hashlib.blake2b(repr((_PROCESS_TOKEN, key)).encode(), digest_size=12).hexdigest()


def not_modified(request, etag):
    """`304 Not Modified` if the request's `If-None-Match` holds `etag`, else `None`."""
    if not request.if_none_match.contains(etag):
        return None
    response = wrappers.Response(status=304)
    response.set_etag(etag)
    # As `http_util.Respond` says for every answer: revalidate each time.
    response.headers["Cache-Control"] = "no-cache, must-revalidate"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def error_response(request, message, code, headers=None):
    """Answers `{"error": message}` with the given status."""
    return json_response(request, {"error": message}, code=code, headers=headers)


def json_errors(handler):
    """Decorates a `handler(self, request) -> Response` method as a WSGI app.

    Every `PublicError` (`InvalidArgumentError` 400, `NotFoundError` 404,
    ...) becomes `{"error": str(e)}` with its status; any other exception
    is logged and answered with a JSON 500 and no stack trace.
    """

    @functools.wraps(handler)
    def app(self, environ, start_response):
        request = wrappers.Request(environ)
        try:
            if request.method not in ("GET", "HEAD"):
                response = error_response(
                    request,
                    f"Method {request.method} not allowed; use GET",
                    405,
                    headers=[("Allow", "GET, HEAD")],
                )
            else:
                response = handler(self, request)
        except errors.PublicError as e:
            response = error_response(request, str(e), e.http_code, headers=e.headers)
        except Exception:
            logger.exception("learning_rate plugin: %s failed", request.path)
            response = error_response(request, _INTERNAL_ERROR, 500)
        return response(environ, start_response)

    return app


def query(request, allowed, required=()):
    """Returns the query parameters as a dict of strings, strictly checked.

    Args:
      request: the werkzeug request.
      allowed: the parameter names this route takes.
      required: the names that must be present and non-empty.

    Raises:
      errors.InvalidArgumentError: an unknown, repeated, missing or empty
        parameter.
    """
    params = {}
    for key in request.args.keys():
        if key not in allowed:
            raise errors.InvalidArgumentError(
                f"Unknown query parameter {key!r}; this route takes "
                f"{', '.join(sorted(allowed)) or 'no parameters'}"
            )
        values = request.args.getlist(key)
        if len(values) != 1:
            raise errors.InvalidArgumentError(
                f"Query parameter {key!r} given {len(values)} times; give it once"
            )
        params[key] = values[0]
    for key in required:
        if not params.get(key):
            raise errors.InvalidArgumentError(f"Missing query parameter {key!r}")
    return params
