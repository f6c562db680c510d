"""One run's records, put back together: the model every reader shares.

The plugin (through TensorBoard's data provider) and the CLI (through
TensorBoard's event-file loader) both turn what they read into
`(tag, metadata, wall_time, step, value)` records and hand them to
`assemble()`, so the browser and the terminal always see the same data.

Rules, in the order records were written (wall time, then file order):
- a `session` record (one per `fit` call) starting at step `r` drops
  everything previously recorded after step `r`: a resume from an earlier
  checkpoint replaces the steps it re-runs instead of duplicating them;
- rows for the same step keep the last value written.
"""

import dataclasses
import math
import operator

import numpy as np

from tb_lr_plugin import metadata


@dataclasses.dataclass
class RunData:
    """Everything the learning-rate plugin recorded for one run.

    Attributes:
      optimizers: `{name: float64 [n, 3] array}` of step, planned, actual,
        sorted by step with unique steps.
      batch: `{metric: float64 [n, 2] array}` of step, value.
      hparams: `{"<group>/<hparam>": float64 [n, 2] array}` of step, value
        (momentum, betas, weight decay of torch parameter groups).
      epochs: `[{"epoch", "step", "logs": {...}}]`, one per epoch.
      events: event dicts (see the contract), sorted by step.
      plateau: per-epoch `ReduceLROnPlateau` state dicts.
      sessions: one dict per `fit` call (configuration, optimizers, plan).
      finder: LR range tests: `{"lr": [...], "loss": [...], "smoothed": [...],
        "steepest": lr, "valley": lr, ...}`, one per test.
      skipped: how many records could not be decoded.
    """

    optimizers: dict = dataclasses.field(default_factory=dict)
    batch: dict = dataclasses.field(default_factory=dict)
    hparams: dict = dataclasses.field(default_factory=dict)
    epochs: list = dataclasses.field(default_factory=list)
    events: list = dataclasses.field(default_factory=list)
    plateau: list = dataclasses.field(default_factory=list)
    sessions: list = dataclasses.field(default_factory=list)
    finder: list = dataclasses.field(default_factory=list)
    skipped: int = 0

    @property
    def empty(self):
        return not (self.optimizers or self.events or self.epochs or self.batch or self.finder)


def last_per_step(rows):
    """`rows` sorted by step (column 0), keeping the last row written per step.

    Example:
      >>> last_per_step(np.array([[2, 1.0], [1, 2.0], [2, 3.0]])).tolist()
      [[1.0, 2.0], [2.0, 3.0]]
    """
    steps = rows[:, 0]
    if (steps[1:] > steps[:-1]).all():
        return rows  # already sorted and unique: what a training writes
    # Unique on the reversed array finds first occurrences, which are the
    # last ones in write order.
    rev = rows[::-1]
    _, idx = np.unique(rev[:, 0], return_index=True)
    return rev[idx]


def assemble(records):
    """Builds a `RunData` from one run's records.

    Args:
      records: iterable of `(tag, meta, wall_time, step, value)` where
        `meta` is the dict `metadata.parse_plugin_metadata` returned and
        `value` a numpy array, a `TensorProto`, or a `metadata.Decoded`
        (what `sanitize.clean_records` gives: decoded once).

    Returns:
      A `RunData`.

    Example:
      >>> from tb_lr_plugin import metadata as m
      >>> meta = {"version": 1, "kind": "lr", "optimizer": "adam"}
      >>> run = assemble([("lr/adam", meta, 1.0, 1, [[1, 0.1, 0.1]])])
      >>> run.optimizers["adam"].tolist()
      [[1.0, 0.1, 0.1]]
    """
    decoded, skipped = _decoded(records)
    run = RunData(skipped=skipped)
    arrays = {}  # (kind, name) -> [chunks]
    lists = {k: [] for k in metadata.JSON_KINDS}
    names = {}  # (kind, tag, id(meta)) -> series name: one per tag, not per record
    for _, _, kind, tag, meta, _, item in decoded:
        if kind == metadata.KIND_SESSION:
            for session in item:
                start = session.get("start_step")
                if isinstance(start, (int, float)):
                    _truncate(arrays, lists, start)
            lists[kind].extend(item)
        elif kind in metadata.ARRAY_KINDS:
            key = kind, tag, id(meta)  # every `meta` lives as long as `decoded`
            name = names.get(key)
            if name is None:
                name = names[key] = _array_name(kind, tag, meta)
            arrays.setdefault((kind, name), []).append(item)
        else:
            lists[kind].extend([i for i in item if isinstance(i.get("step"), (int, float))])

    for (kind, name), chunks in arrays.items():
        rows = last_per_step(np.concatenate(chunks))
        target = {metadata.KIND_LR: run.optimizers, metadata.KIND_HPARAM: run.hparams}.get(
            kind, run.batch
        )
        target[name] = rows
    run.epochs = _last_per_key(lists[metadata.KIND_EPOCHS], "epoch")
    run.plateau = _last_per_key(lists[metadata.KIND_PLATEAU], "epoch")
    run.events = sorted(lists[metadata.KIND_EVENTS], key=lambda e: e["step"])
    run.sessions = lists[metadata.KIND_SESSION]
    run.finder = lists[metadata.KIND_FINDER]
    return run


def _decoded(records):
    """`(decoded, skipped)`: each record decoded once, in the order it was written."""
    decoded = []
    arrays = []  # where the array records are in `decoded`
    skipped = 0
    for order, (tag, meta, wall_time, step, value) in enumerate(records):
        kind = meta.get("kind")
        item = metadata.decode(kind, value)
        if item is None:
            skipped += 1
            continue
        if kind in metadata.ARRAY_KINDS:
            arrays.append(len(decoded))
        decoded.append((wall_time, order, kind, tag, meta, step, item))
    # A finite sum means every step is finite (no copy needed then): one
    # sum for all the run's arrays, and one per array only if it is not.
    if arrays and not math.isfinite(np.concatenate([decoded[i][6][:, 0] for i in arrays]).sum()):
        for i in arrays:
            *head, item = decoded[i]
            if not math.isfinite(item[:, 0].sum()):
                decoded[i] = (*head, item[np.isfinite(item[:, 0])])
    decoded.sort(key=_WRITE_ORDER)
    return decoded, skipped


# Wall time, then file order: `decoded`'s first two fields.
_WRITE_ORDER = operator.itemgetter(0, 1)


def _array_name(kind, tag, meta):
    """The series an array record belongs to: its optimizer, metric or group/hparam."""
    name = meta.get("optimizer" if kind == metadata.KIND_LR else "metric")
    if kind == metadata.KIND_HPARAM:
        name = f"{meta.get('group')}/{meta.get('hparam')}"
    if not isinstance(name, str):
        name = tag.split("/", 1)[-1]
    return name


def _truncate(arrays, lists, start):
    for key, chunks in arrays.items():
        arrays[key] = [c[c[:, 0] <= start] for c in chunks]
    for kind in (metadata.KIND_EPOCHS, metadata.KIND_EVENTS, metadata.KIND_PLATEAU):
        lists[kind][:] = [i for i in lists[kind] if i["step"] <= start]


def _last_per_key(items, key):
    by_key = {}
    for item in items:
        by_key[item.get(key)] = item

    def order(item):
        k = item.get(key)
        return (item.get("step", 0), k if isinstance(k, (int, float)) else -1)

    return sorted(by_key.values(), key=order)
