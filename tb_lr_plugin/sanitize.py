"""Drops what a reader cannot trust from a run's records, before assembly.

Event files can hold anything: a file from a future version, a hand-made
record, a damaged or hostile one. A record whose tensor cannot be decoded
at all is left for `run_data.assemble` to count as skipped. This module
handles records that decode but hold values of the wrong type, which the
code downstream (assembly, the audit, the routes) would trip over: an
`epoch` that is a list, a `step` that is NaN, a string or 2**70, a
`monitor` that is a number, a row at a negative step. Such an item or row
is dropped, and the rest of the record is kept, so one malformed item
never stops a run from being served or audited.

The plugin (`provider.RunReader`) and the CLI (`loader.load`) both call
`clean_records` on what they read, so they keep and drop the same things.
"""

import numpy as np

from tb_lr_plugin import formatting, metadata

# Steps and epochs beyond this are not integers a float64 holds exactly;
# no training gets near it.
MAX_COUNT = 2**53


def _is_count(x):
    # The range test is also false for NaN and the infinities.
    return formatting.is_number(x) and -MAX_COUNT <= x <= MAX_COUNT


def _is_string(x):
    return isinstance(x, str)


def _is_dict(x):
    return isinstance(x, dict)


def _all_of(checks):
    if len(checks) == 1:
        return checks[0]
    return lambda x: all(ok(x) for ok in checks)


def _field_checks(count_only):
    """`{field: check}`: what each known field's value must pass."""
    groups = [(metadata.COUNT_FIELDS, _is_count)]
    if not count_only:
        groups += [
            (metadata.NUMBER_FIELDS, formatting.is_number),
            (metadata.STRING_FIELDS, _is_string),
            (metadata.DICT_FIELDS, _is_dict),
        ]
    checks = {}
    for names, ok in groups:
        for name in names:
            checks.setdefault(name, []).append(ok)
    return {name: _all_of(oks) for name, oks in checks.items()}


_CHECKS = _field_checks(count_only=False)
# A range test's `lr` and `loss` are lists; `lr_finder` checks them.
_FINDER_CHECKS = _field_checks(count_only=True)


def _verdicts(checks):
    """`{field: {type: verdict}}`: the checks' answers for values of exact
    builtin types, so that most values are checked by one dict look-up.

    A verdict is True (passes), False (fails) or "range" (an int or float
    of a count field: passes within `MAX_COUNT`). Other types (subclasses,
    numpy scalars) are checked by `checks` itself.
    """
    samples = {int: 1, float: 1.0, bool: True, str: "", dict: {}, list: []}
    verdicts = {}
    for name, ok in checks.items():
        by_type = {t: ok(x) for t, x in samples.items()}
        if name in metadata.COUNT_FIELDS:
            by_type.update((t, "range") for t in (int, float) if by_type[t])
        verdicts[name] = by_type
    return verdicts


_VERDICTS = _verdicts(_CHECKS)
_FINDER_VERDICTS = _verdicts(_FINDER_CHECKS)


def valid_item(kind, item):
    """Whether a decoded JSON item's known fields have the types readers assume.

    A field that is absent or `None` is not checked.

    Args:
      kind: the record's kind (`metadata.KIND_*`).
      item: one dict of the record's list.

    Returns:
      bool.
    """
    finder = kind == metadata.KIND_FINDER
    verdicts = _FINDER_VERDICTS if finder else _VERDICTS
    # Over the item's own fields: an item has far fewer than are known.
    for name, value in item.items():
        by_type = verdicts.get(name)
        if by_type is None or value is None:
            continue
        verdict = by_type.get(type(value))
        if verdict is True:
            continue
        if verdict == "range":
            # The range test is also false for NaN and the infinities.
            if -MAX_COUNT <= value <= MAX_COUNT:
                continue
            return False
        if verdict is False or not (_FINDER_CHECKS if finder else _CHECKS)[name](value):
            return False
    return True


def clean_records(records):
    """Drops malformed items and rows from `(tag, meta, wall_time, step, value)` records.

    Args:
      records: the records of one run, as `run_data.assemble` takes them.

    Returns:
      `(records, dropped)`: the records, each value decoded once into a
      `metadata.Decoded`, with every JSON item of the wrong shape and every
      array row at a step outside `[0, 2**53]` removed (a record left with
      nothing is removed too), and how many items and rows were dropped.
      Records that cannot be decoded at all are passed on as
      `Decoded(None)`, for the assembly to count.
    """
    out = []
    arrays = []  # where the array records are in `out`
    dropped = 0
    for entry in records:
        tag, meta, wall_time, step, value = entry
        kind = meta.get("kind")
        item = metadata.decode(kind, value)
        if kind in metadata.ARRAY_KINDS and item is not None:
            arrays.append(len(out))
        elif item is not None:
            kept = [i for i in item if valid_item(kind, i)]
            if len(kept) < len(item):
                dropped += len(item) - len(kept)
                if not kept:
                    continue
                item = kept
        if type(value) is not metadata.Decoded or value.item is not item:
            # Decoded once: the assembly takes the item as it is.
            entry = (tag, meta, wall_time, step, metadata.Decoded(item))
        out.append(entry)
    if arrays and not _steps_in_range([out[i][4].item for i in arrays]):
        out, dropped_rows = _clean_steps(out, arrays)
        dropped += dropped_rows
    return out, dropped


def _steps_in_range(items):
    """Whether every row of these arrays is at a step in `[0, MAX_COUNT]`
    (or NaN: the assembly's to drop, and not to count)."""
    steps = np.concatenate([item[:, 0] for item in items])
    return not ((steps < 0) | (steps > MAX_COUNT)).any()


def _clean_steps(out, arrays):
    """`out` without the array rows at steps outside `[0, MAX_COUNT]`, and how
    many rows that dropped."""
    dropped, empty = 0, set()
    for i in arrays:
        tag, meta, wall_time, step, decoded = out[i]
        steps = decoded.item[:, 0]
        bad = (steps < 0) | (steps > MAX_COUNT)
        if bad.any():
            dropped += int(bad.sum())
            if bad.all():
                empty.add(i)
            out[i] = (tag, meta, wall_time, step, metadata.Decoded(decoded.item[~bad]))
    return [r for i, r in enumerate(out) if i not in empty], dropped
