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


def valid_item(kind, item):
    """Whether a decoded JSON item's known fields have the types readers assume.

    A field that is absent or `None` is not checked.

    Args:
      kind: the record's kind (`metadata.KIND_*`).
      item: one dict of the record's list.

    Returns:
      bool.
    """
    checks = _FINDER_CHECKS if kind == metadata.KIND_FINDER else _CHECKS
    # Over the item's own fields: an item has far fewer than are known.
    for name, value in item.items():
        ok = checks.get(name)
        if ok is not None and value is not None and not ok(value):
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
    dropped = 0
    for tag, meta, wall_time, step, value in records:
        kind = meta.get("kind")
        item = metadata.decode(kind, value)
        if kind in metadata.ARRAY_KINDS and item is not None:
            # NaN steps are the assembly's to drop (and to not count).
            steps = item[:, 0]
            bad = (steps < 0) | (steps > MAX_COUNT)
            if bad.any():
                dropped += int(bad.sum())
                if bad.all():
                    continue
                item = item[~bad]
        elif item is not None:
            kept = [i for i in item if valid_item(kind, i)]
            if len(kept) < len(item):
                dropped += len(item) - len(kept)
                if not kept:
                    continue
            item = kept
        # Decoded once: the assembly takes the item as it is.
        out.append((tag, meta, wall_time, step, metadata.Decoded(item)))
    return out, dropped
