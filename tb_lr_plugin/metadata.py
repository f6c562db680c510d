"""The summary format: the one contract between writer and readers.

Every record of this plugin is a TensorBoard summary value whose metadata
names the plugin `learning_rate`, sets `DATA_CLASS_TENSOR`, and carries a
small JSON document in `plugin_data.content`:

    {"version": 1, "kind": "<kind>", ...}

The kinds and their tensors (see docs/format.md for the full story):

- `lr` (tag `lr/<optimizer>`): float64 `[n, 3]`, columns step, planned,
  actual. The metadata also names the optimizer.
- `batch` (tag `batch/<metric>`): float64 `[n, 2]`, columns step, value.
- `epochs`, `events`, `plateau`, `session`, `finder`: a UTF-8 JSON string
  scalar holding a list of objects.

A record's event step is the first step it covers (or one above the tag's
previous record: TensorBoard's Rust loader drops a tag's earlier records at
an equal or later step), so that TensorBoard's own "a restart purges later
steps" logic never drops rows written before the restart. Many rows go in
one record, so a run of any length needs few records; the plugin's loader
also asks TensorBoard to keep every record of this plugin
(`samples_per_plugin`), so nothing is lost to sampling.
"""

import json
import logging
import typing

import numpy as np
from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2

logger = logging.getLogger(__name__)

PLUGIN_NAME = "learning_rate"

# Bump when a reader of the previous version would misread new data.
PROTO_VERSION = 1

KIND_LR = "lr"
KIND_BATCH = "batch"
KIND_EPOCHS = "epochs"
KIND_EVENTS = "events"
KIND_PLATEAU = "plateau"
KIND_SESSION = "session"
KIND_FINDER = "finder"

# Optimizer hyperparameters besides the LR, per parameter group (written
# by tb_lr_plugin.torch): tag `hparam/<group>/<name>`, float64 `[n, 2]`,
# columns step, value; the metadata names `group` and `hparam` (one of
# HPARAMS). Readers before this kind skip these tags with one warning.
KIND_HPARAM = "hparam"
HPARAMS = ("momentum", "beta1", "beta2", "weight_decay")

JSON_KINDS = (KIND_EPOCHS, KIND_EVENTS, KIND_PLATEAU, KIND_SESSION, KIND_FINDER)
ARRAY_KINDS = {KIND_LR: 3, KIND_BATCH: 2, KIND_HPARAM: 2}

TAG_EPOCHS = "epochs"
TAG_EVENTS = "events"
TAG_PLATEAU = "plateau"
TAG_SESSION = "session"
TAG_FINDER = "finder"

# Event kinds (the `kind` field of an `events` item).
EVENT_REDUCTION = "reduction"
EVENT_COOLDOWN = "cooldown"
EVENT_MIN_LR_FLOOR = "min_lr_floor"
EVENT_LR_CHANGE = "lr_change"
EVENT_SCHEDULER = "scheduler"

# Two recorded learning rates are the same when they differ by at most this
# much relative to the larger: LRs are float32 in the optimizer, so a few
# float32 ulps; anything larger is a real change.
LR_RTOL = 16 * float(np.finfo(np.float32).eps)


# The item schema: what the JSON kinds' items hold. Readers accept any
# subset; a field that is absent or null is always accepted. `sanitize`
# checks each field against the type it is listed under here.
class EventItem(typing.TypedDict, total=False):
    """An `events` item: a decision or a change of the LR (docs/format.md)."""

    kind: str  # EVENT_*
    epoch: int  # 0-based, as Keras passes to on_epoch_end
    step: int  # updates done when it happened
    optimizer: str
    monitor: str
    value: float
    best: float
    wait: int
    patience: int
    old_lr: float
    new_lr: float
    lr: float
    factor: float
    min_lr: float
    cooldown: int
    phase: str  # cooldown: "start" or "end"
    source: str  # who recorded it, for events not of ours
    # Written by tb_lr_plugin.torch for torch's ReduceLROnPlateau:
    framework: str  # "torch"
    num_bad_epochs: int  # torch reduces when num_bad_epochs > patience
    threshold: float
    threshold_mode: str  # "rel" or "abs"
    mode: str
    eps: float
    reason: str  # min_lr_floor: "min_lr" (at the floor) or "eps" (change <= eps)


class PlateauItem(typing.TypedDict, total=False):
    """A `plateau` item: `ReduceLROnPlateau`'s state at the end of an epoch."""

    epoch: int
    step: int
    monitor: str
    value: float
    best: float
    wait: int
    patience: int
    cooldown_counter: int
    cooldown: int
    lr: float
    min_lr: float
    min_delta: float
    factor: float
    mode: str  # "min" or "max"
    # Written by tb_lr_plugin.torch for torch's ReduceLROnPlateau:
    framework: str  # "torch"
    num_bad_epochs: int
    threshold: float
    threshold_mode: str
    eps: float
    lrs: dict  # {group: LR after the step}
    min_lrs: list  # per group
    reduced: bool


class SessionItem(typing.TypedDict, total=False):
    """A `session` item: one `fit` call, its configuration and plans."""

    start_step: int
    initial_epoch: int
    epochs: int
    steps_per_epoch: int
    update_freq: str
    time: float
    optimizers: list  # [{"name", "class", "plan", "initial_lr"}]
    framework: str  # "torch" for tb_lr_plugin.torch
    framework_version: str


class EpochItem(typing.TypedDict, total=False):
    """An `epochs` item: where an epoch ended, and Keras's `logs` then."""

    epoch: int
    step: int
    logs: dict


# Fields by the type readers assume (what `sanitize` checks).
COUNT_FIELDS = (
    "epoch",
    "step",
    "start_step",
    "initial_epoch",
    "wait",
    "patience",
    "cooldown",
    "cooldown_counter",
    "num_steps",
    "num_bad_epochs",
)
NUMBER_FIELDS = (
    "value",
    "best",
    "old_lr",
    "new_lr",
    "lr",
    "min_lr",
    "factor",
    "min_delta",
    "threshold",
    "eps",
)
STRING_FIELDS = ("kind", "monitor", "optimizer", "phase", "mode", "threshold_mode", "reason")
DICT_FIELDS = ("logs",)


def event_item(kind, epoch, step, **fields) -> EventItem:
    """An `events` item; `fields` are `EventItem`'s others.

    Example:
      >>> event_item(EVENT_LR_CHANGE, 2, 40, old_lr=0.1, new_lr=0.05)["kind"]
      'lr_change'
    """
    _check_fields(EventItem, fields)
    return EventItem(kind=kind, epoch=epoch, step=step, **fields)


def plateau_item(epoch, step, **fields) -> PlateauItem:
    """A `plateau` item; `fields` are `PlateauItem`'s others."""
    _check_fields(PlateauItem, fields)
    return PlateauItem(epoch=epoch, step=step, **fields)


def session_item(start_step, **fields) -> SessionItem:
    """A `session` item; `fields` are `SessionItem`'s others."""
    _check_fields(SessionItem, fields)
    return SessionItem(start_step=start_step, **fields)


def epoch_item(epoch, step, logs=None) -> EpochItem:
    """An `epochs` item."""
    return EpochItem(epoch=epoch, step=step, logs=dict(logs or {}))


def _check_fields(schema, fields):
    unknown = set(fields) - set(schema.__annotations__)
    if unknown:
        raise TypeError(f"{schema.__name__} has no field {sorted(unknown)[0]!r}")


def lr_tag(optimizer):
    """Returns the tag of an optimizer's planned/actual series."""
    return f"lr/{optimizer}"


def batch_tag(metric):
    """Returns the tag of a per-step metric series (e.g. `batch/loss`)."""
    return f"batch/{metric}"


def hparam_tag(group, hparam):
    """Returns the tag of a parameter group's hyperparameter series."""
    return f"hparam/{group}/{hparam}"


def create_summary_metadata(kind, **fields):
    """Creates the `SummaryMetadata` of one of this plugin's tags.

    Args:
      kind: one of the `KIND_*` constants.
      **fields: JSON-serialisable extras, such as `optimizer` for `lr`.

    Returns:
      A `summary_pb2.SummaryMetadata` with `DATA_CLASS_TENSOR`.

    Example:
      >>> create_summary_metadata(KIND_LR, optimizer="adam").plugin_data.plugin_name
      'learning_rate'
    """
    if kind not in ARRAY_KINDS and kind not in JSON_KINDS:
        raise ValueError(f"Unknown record kind: {kind!r}")
    content = dict(fields, version=PROTO_VERSION, kind=kind)
    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME,
            content=json.dumps(content, sort_keys=True).encode("utf-8"),
        ),
        data_class=summary_pb2.DATA_CLASS_TENSOR,
    )


_warned_versions = set()


def parse_plugin_metadata(content):
    """Parses `plugin_data.content` of one of this plugin's tags.

    Args:
      content: the `bytes` of `SummaryMetadata.plugin_data.content`.

    Returns:
      A dict with at least `version` and `kind`, or `None` when the content
      is malformed or written by a newer version than this reader knows (in
      which case one warning per version is logged and the tag is skipped).

    Raises:
      TypeError: `content` is not `bytes`.
    """
    if not isinstance(content, bytes):
        raise TypeError(f"Content type not understood: {type(content)!r}")
    try:
        parsed = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        logger.warning("Skipping learning_rate data with malformed metadata")
        return None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("version"), int):
        logger.warning("Skipping learning_rate data with malformed metadata")
        return None
    version = parsed["version"]
    if version > PROTO_VERSION:
        if version not in _warned_versions:
            _warned_versions.add(version)
            logger.warning(
                "Skipping learning_rate data of format version %d; this reader "
                "knows up to version %d. Upgrade tb-lr-plugin to read it.",
                version,
                PROTO_VERSION,
            )
        return None
    kind = parsed.get("kind")
    if kind not in ARRAY_KINDS and kind not in JSON_KINDS:
        logger.warning("Skipping learning_rate data of unknown kind %r", kind)
        return None
    return parsed


def array_to_tensor_proto(rows):
    """Encodes a 2-D float64 array as a `TensorProto` (raw little-endian)."""
    rows = np.ascontiguousarray(rows, dtype="<f8")
    return tensor_pb2.TensorProto(
        dtype=types_pb2.DT_DOUBLE,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=s) for s in rows.shape]
        ),
        tensor_content=rows.tobytes(),
    )


def json_to_tensor_proto(items):
    """Encodes a list of JSON-serialisable objects as a string scalar."""
    # allow_nan: NaN/inf losses are data worth keeping; JSON readers here
    # (Python's json) accept them, and the HTTP layer re-encodes them.
    return tensor_pb2.TensorProto(
        dtype=types_pb2.DT_STRING,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(),
        string_val=[json.dumps(items, separators=(",", ":")).encode("utf-8")],
    )


def decode_array(value, width):
    """Decodes an `lr` or `batch` record into a float64 `[n, width]` array.

    Args:
      value: a numpy array (from the data provider) or a `TensorProto`.
      width: the number of columns the kind has.

    Returns:
      A float64 array of shape `[n, width]`, or `None` if malformed.
    """
    if isinstance(value, tensor_pb2.TensorProto):
        if value.dtype != types_pb2.DT_DOUBLE:
            return None
        dims = value.tensor_shape.dim
        if len(dims) != 2 or dims[1].size != width:
            return None
        rows = dims[0].size
        data = value.tensor_content
        if len(data) != 8 * rows * width:
            return None
        # Little-endian float64 [rows, width]: nothing more to check.
        return np.frombuffer(data, dtype="<f8").reshape(rows, width).astype(np.float64, copy=False)
    arr = np.asarray(value)
    if arr.ndim != 2 or arr.shape[1] != width or arr.dtype.kind != "f":
        return None
    return arr.astype(np.float64, copy=False)


class Decoded(typing.NamedTuple):
    """A record's value already decoded (`decode`): rows, items or `None`."""

    item: object


def decode(kind, value):
    """Decodes a record's value by its kind.

    Args:
      kind: the record's `kind`.
      value: a numpy array, a `TensorProto`, or a `Decoded` (returned as is).

    Returns:
      float64 rows for an array kind, a list of dicts for a JSON kind, or
      `None` when malformed.
    """
    if isinstance(value, Decoded):
        return value.item
    if kind in ARRAY_KINDS:
        return decode_array(value, ARRAY_KINDS[kind])
    return decode_json(value)


def decode_json(value):
    """Decodes a JSON-list record. Returns a list of dicts, or `None`."""
    if isinstance(value, tensor_pb2.TensorProto):
        if value.dtype != types_pb2.DT_STRING or len(value.string_val) != 1:
            return None
        raw = value.string_val[0]
    else:
        arr = np.asarray(value)
        if arr.shape != () or arr.dtype.kind not in "SOU":
            return None
        raw = arr.item()
    return decode_json_bytes(raw)


def decode_json_bytes(raw):
    """Decodes a JSON-list record's string (UTF-8 `bytes` or `str`).

    Returns:
      A list of dicts, or `None`.
    """
    try:
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8")
        items = _loads(raw)
    except (UnicodeDecodeError, ValueError, TypeError):
        return None
    if type(items) is not list or not all(type(i) is dict for i in items):
        return None
    return items


_SCAN = json.JSONDecoder().scan_once


def _loads(text):
    """`json.loads(text)`, some 10% faster on what our writers write (no
    surrounding white space): the scanner is called directly, and anything
    else goes through `json.loads`."""
    try:
        value, end = _SCAN(text, 0)
    except (StopIteration, ValueError):
        end = None
    return value if end == len(text) else json.loads(text)
