"""JSON responses and the one place where the plugin's errors become JSON.

TensorBoard answers a `tensorboard.errors.PublicError` as `text/plain`;
the tab's contract is a JSON body `{"error": "..."}` with the same status.
`json_errors` wraps every data route: public errors keep their status and
message, anything else is logged with its traceback and answered as a
JSON 500 that names no internals.
"""

import functools
import json
import logging

import numpy as np
from tensorboard import errors
from tensorboard.backend import http_util
from werkzeug import wrappers

from tb_lr_plugin import formatting

logger = logging.getLogger(__name__)

JSON = "application/json"

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


def json_response(request, obj, code=200, headers=None):
    """Answers `obj` (or an already serialized JSON `str`) as JSON."""
    body = obj if isinstance(obj, str) else dumps(obj)
    return http_util.Respond(request, body, JSON, code=code, headers=headers)


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
