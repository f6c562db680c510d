"""One event file's events, read in bulk: what `tb-lr-audit` reads with.

`events(path)` yields exactly what TensorBoard's
`event_file_loader.EventFileLoader(path).Load()` yields (the same `Event`
protos after its read-time compat layers), with less work per record:

- the file is read at once and framed into records in one pass; every
  record's two CRCs are checked in bulk (`frame`): the header CRC is a
  function of the record length alone, so it is computed once per
  distinct length, and the payload CRCs in one vectorized numpy pass
  (`record.crc32c_many`) per 8 MB of records;
- TensorBoard's compat layers (`data_compat`, `dataclass_compat`) change
  only old-style values (`simple_value`, `histo`, `image`, `audio`) and
  values of TensorBoard's own plugins. A value that is already a tensor of
  a tag whose first metadata in the file names another plugin (ours) goes
  through them unchanged, so such events skip them; every other event is
  passed through them, with the same per-file state TensorBoard keeps.

`events_with_values` also hands on each summary's `(tag, value)` pairs,
walked once for that check: a reader that walked the parsed protos again
would spend as long as the parse itself. Its `take` hook lets a reader
keep records straight from their bytes (the loader's `event_scan`), before
protobuf parses them, where the compat layers would pass them unchanged.

A truncated or corrupt record ends the file, as in TensorBoard; here the
events before it are yielded and then `DamagedFile` is raised, with the
byte offset of the bad record.
"""

import struct

import numpy as np

from tb_lr_plugin import record

# Records are CRC-checked this many bytes at a time: bounds the memory the
# check takes on huge files.
_BATCH_BYTES = 8 << 20
# The events TensorBoard's compat layers may change (the others, such as
# `file_version`, they pass through).
_MIGRATED = ("summary", "graph_def", "tagged_run_metadata")
_HEADER = 12  # length (8) and its masked CRC (4)
_FOOTER = 4


class DamagedFile(OSError):
    """An event file holds a truncated or corrupt record.

    Attributes:
      path: the file.
      offset: the byte offset of the first bad record.
      reason: what is wrong with it.
    """

    def __init__(self, path, offset, reason):
        super().__init__(f"{path}: {reason} at byte {offset}")
        self.path = path
        self.offset = offset
        self.reason = reason


class Framed:
    """A file's good records, and where and why it stops early.

    Attributes:
      offsets, lengths: int64 arrays: where each good record starts and
        its payload length.
      error: `None`, or why the record at `error_offset` is bad.
      error_offset: the byte offset of the first bad record.
    """

    def __init__(self, offsets, lengths, error=None, error_offset=None):
        self.offsets = offsets
        self.lengths = lengths
        self.error = error
        self.error_offset = error_offset

    def payloads(self, data):
        """The good records' payloads (bytes), in order."""
        return [
            data[o + _HEADER : o + _HEADER + n]
            for o, n in zip(self.offsets.tolist(), self.lengths.tolist(), strict=True)
        ]


def _u32_at(buf, offsets):
    """Little-endian uint32s stored at `offsets` of `buf`."""
    raw = buf[offsets[:, None] + np.arange(4)].astype(np.uint32)
    return raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16) | (raw[:, 3] << 24)


def _split(data):
    """`(offsets, lengths, error)` of the complete records, by their length fields."""
    offsets, lengths = [], []
    pos, size = 0, len(data)
    unpack = struct.Struct("<Q").unpack_from
    error = None
    while pos < size:
        if pos + _HEADER > size:
            error = "truncated record header"
            break
        (length,) = unpack(data, pos)
        if pos + _HEADER + _FOOTER + length > size:
            error = "truncated record data"
            break
        offsets.append(pos)
        lengths.append(length)
        pos += _HEADER + _FOOTER + length
    return np.array(offsets, dtype=np.int64), np.array(lengths, dtype=np.int64), error


def _first_bad(buf, offsets, lengths):
    """Index of the first record whose header or payload CRC is wrong, or `None`."""
    head = record.header_crcs(lengths)
    body = record.mask(record.crc32c_many(buf, offsets + _HEADER, lengths))
    stored_head = _u32_at(buf, offsets + 8)
    stored_body = _u32_at(buf, offsets + _HEADER + lengths)
    wrong = np.flatnonzero((head != stored_head) | (body != stored_body))
    return int(wrong[0]) if len(wrong) else None


def frame(data):
    """Frames a whole event file's bytes into records and checks every CRC.

    Args:
      data: the file's bytes.

    Returns:
      A `Framed`: the records before the first truncated or corrupt one.

    Example:
      >>> data = record.frame(b"abc") + record.frame(b"de")[:-1]
      >>> f = frame(data)
      >>> f.payloads(data), f.error, f.error_offset
      ([b'abc'], 'truncated record data', 19)
    """
    offsets, lengths, error = _split(data)
    error_offset = int(offsets[-1] + _HEADER + _FOOTER + lengths[-1]) if len(offsets) else 0
    buf = np.frombuffer(data, dtype=np.uint8)
    good, start = len(offsets), 0
    ends = np.cumsum(lengths)  # payload bytes up to and with each record
    while start < good:
        # The records after `start` within the batch's bytes (at least one).
        before = int(ends[start - 1]) if start else 0
        stop = max(int(np.searchsorted(ends, before + _BATCH_BYTES, side="right")), start + 1)
        bad = _first_bad(buf, offsets[start:stop], lengths[start:stop])
        if bad is not None:
            good = start + bad
            error, error_offset = "failed crc32 check", int(offsets[good])
            break
        start = stop
    return Framed(offsets[:good], lengths[:good], error, error_offset if error else None)


def prepare():
    """Imports and builds what reading a file needs (the protobuf classes, the
    CRC tables), so that processes forked after it share them."""
    from tensorboard.compat.proto import event_pb2  # noqa: F401

    record.crc32c_many(np.zeros(_BATCH_BYTES >> 10, dtype=np.uint8), [0], [_BATCH_BYTES >> 10])


def _passes_unchanged(tag, value, initial, own_plugin, verdicts):
    """True when TensorBoard's compat layers leave `value` (of `tag`) as it is.

    Keeps `initial` (tag -> first metadata, TensorBoard's `dataclass_compat`
    state) as TensorBoard would; `verdicts` (tag -> whether that first
    metadata names `own_plugin`) saves reading it again for every value.
    """
    if value.WhichOneof("value") != "tensor":
        return False
    verdict = verdicts.get(tag)
    if verdict is not None:
        return verdict
    first = initial.get(tag)
    if first is None:
        if value.metadata.plugin_data.plugin_name != own_plugin:
            return False
        first = type(value.metadata)()
        first.CopyFrom(value.metadata)
        initial[tag] = first
    verdict = verdicts[tag] = first.plugin_data.plugin_name == own_plugin
    return verdict


def _migrated(event, initial):
    """TensorBoard's compat layers on one event (imported only when needed:
    they import TensorBoard's TF stub, 0.15 s)."""
    from tensorboard import data_compat, dataclass_compat

    return dataclass_compat.migrate_event(data_compat.migrate_event(event), initial)


def events(path, own_plugin):
    """The events of one event file, as TensorBoard's `EventFileLoader` gives them.

    Args:
      path: a local event file.
      own_plugin: the plugin name whose tensor values need no migration.

    Yields:
      `event_pb2.Event` protos.

    Raises:
      OSError: the file cannot be read.
      DamagedFile: after the last good event, at a truncated or corrupt
        record.
    """
    for event, _ in events_with_values(path, own_plugin):
        yield event


def _values(event):
    return [(v.tag, v) for v in event.summary.value] if event.HasField("summary") else ()


def events_with_values(path, own_plugin, take=None):
    """`events(path, own_plugin)`, each with its summary's values.

    The values are walked once here, for the compat check, and handed on:
    walking a parsed proto again costs about as much as parsing it.

    Args:
      path, own_plugin: as for `events`.
      take: `None`, or called as `take(data, start, end, verdicts)` on
        each record's payload `data[start:end]` before it is parsed; when
        it returns True the record is the caller's and is not yielded.
        `verdicts` is `{tag: True}` for the tags whose values of ours
        TensorBoard's compat layers pass unchanged in this file (a record
        of one of these tags, with one tensor value and no metadata, would
        be yielded as parsed), and False for the others.

    Yields:
      `(event, values)`: `values` is `[(tag, Summary.Value), ...]`, or
      `()` for an event without a summary.

    Raises:
      OSError, DamagedFile: as `events`.
    """
    from tensorboard.compat.proto import event_pb2

    with open(path, "rb") as f:
        data = f.read()
    framed = frame(data)
    initial = {}  # TensorBoard's per-file `dataclass_compat` state
    verdicts = {}
    parse = event_pb2.Event.FromString
    starts = framed.offsets + _HEADER
    for start, end in zip(starts.tolist(), (starts + framed.lengths).tolist(), strict=True):
        if take is not None and take(data, start, end, verdicts):
            continue
        yield from _as_tensorboard(parse(data[start:end]), initial, verdicts, own_plugin)
    if framed.error:
        raise DamagedFile(path, framed.error_offset, framed.error)


def _as_tensorboard(event, initial, verdicts, own):
    """`(event, values)` of what TensorBoard's compat layers make of `event`."""
    what = event.WhichOneof("what")
    if what == "summary":
        values = [(v.tag, v) for v in event.summary.value]
        if all(_passes_unchanged(t, v, initial, own, verdicts) for t, v in values):
            yield event, values
            return
    elif what not in _MIGRATED:
        yield event, ()
        return
    for migrated in _migrated(event, initial):
        yield migrated, _values(migrated)
