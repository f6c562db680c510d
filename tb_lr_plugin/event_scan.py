"""Our records decoded straight from their bytes: the loader's fast path.

Nearly every record of a run is one of ours in one of a few byte layouts:
an `Event` with a wall time, a step and a summary of one value, whose
tensor is a float64 array (`lr`, `batch`, `hparam`) or one JSON string
(`epochs`, `plateau`, ...), and no metadata (TensorFlow's writers and ours
put it on a tag's first value only). Within a file, all records of a tag
and a size share the bytes between the step and the tensor's data.

`Scanner.scan` reads a record's wall time and step, looks the bytes after
them up among the layouts already seen, and checks them byte for byte; a
record whose bytes are not exactly such a layout (in the order protobuf
writes fields, each once, nothing else) gives `None`, and the caller
parses it with protobuf as before. So for every record scanned here,
protobuf would have read the same wall time, step, tag and tensor.
`decode` then gives what `metadata.decode` gives for that tensor.
"""

import struct

import numpy as np

from tb_lr_plugin import metadata

_DT_DOUBLE, _DT_STRING = 2, 7
_WALL_TIME = 0x09  # Event field 1, fixed64
_STEP = 0x10  # Event field 2, varint
_SUMMARY = 0x2A  # Event field 5
_VALUE = 0x0A  # Summary field 1
_TAG = 0x0A  # Summary.Value field 1
_TENSOR = 0x42  # Summary.Value field 8
_DTYPE = 0x08  # TensorProto field 1
_SHAPE = 0x12  # TensorProto field 2
_CONTENT = 0x22  # TensorProto field 4, tensor_content
_STRING_VAL = 0x42  # TensorProto field 8, one string_val
_DIM = 0x12  # TensorShapeProto field 2
_DIM_SIZE = 0x08  # TensorShapeProto.Dim field 1
# The bytes after the step that key the layouts (with the record's length),
# few enough to stay within the layout: the summary's, the value's and the
# tag's keys and lengths, and the tag's first bytes. The whole layout is
# compared anyway.
_KEY_BYTES = 12
_WALL = struct.Struct("<d").unpack_from
# Little-endian float64, as `metadata.decode_array` reads tensor data.
_FLOAT64 = np.dtype("<f8")


def _varint(data, pos, end):
    """`(value, next position)` of the varint at `pos`, or `(None, pos)`."""
    value = shift = 0
    while pos < end and shift < 70:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
    return None, pos


def _field(data, pos, end, key):
    """`(start, stop)` of the length-delimited field `key` at `pos`, or `None`."""
    if pos >= end or data[pos] != key:
        return None
    size, start = _varint(data, pos + 1, end)
    if size is None or start + size > end:
        return None
    return start, start + size


class Layout:
    """What the bytes between a record's step and its tensor data say.

    Attributes:
      tag: the value's tag.
      dtype: the tensor's dtype number.
      dims: the tensor's dimension sizes.
      string: True for one `string_val`, False for `tensor_content`.
      header: the bytes from the summary's key to the data.
      size: the data's length in bytes.
      shapes: `{kind: shape}`, what `decode` found the tensor to be as
        each kind (worked out once per layout).
    """

    __slots__ = ("tag", "dtype", "dims", "string", "header", "size", "shapes")

    def __init__(self, tag, dtype, dims, string, header, size):
        self.tag, self.dtype, self.dims = tag, dtype, dims
        self.string, self.header, self.size = string, header, size
        self.shapes = {}


def _shape(data, start, stop):
    """The dimension sizes of a `TensorShapeProto` of sizes only, or `None`."""
    dims = []
    pos = start
    while pos < stop:
        dim = _field(data, pos, stop, _DIM)
        if dim is None:
            return None
        size, at = 0, dim[0]
        if at < dim[1]:
            if data[at] != _DIM_SIZE:
                return None
            size, at = _varint(data, at + 1, dim[1])
            if size is None or size >= 1 << 63 or at != dim[1]:
                return None
        dims.append(size)
        pos = dim[1]
    return dims


def _layout(data, pos, end):
    """The `Layout` of the record bytes `[pos, end)` after the step, or `None`."""
    summary = _field(data, pos, end, _SUMMARY)
    value = summary and summary[1] == end and _field(data, summary[0], end, _VALUE)
    tag = value and value[1] == end and _field(data, value[0], end, _TAG)
    tensor = tag and _field(data, tag[1], end, _TENSOR)
    if not tensor or tensor[1] != end:
        return None
    try:
        name = bytes(data[tag[0] : tag[1]]).decode("utf-8")
    except UnicodeDecodeError:
        return None
    at, dtype = tensor[0], 0
    if at < end and data[at] == _DTYPE:
        dtype, at = _varint(data, at + 1, end)
    dims = []
    shape = dtype is not None and _field(data, at, end, _SHAPE)
    if shape:
        dims, at = _shape(data, *shape), shape[1]
    if dtype is None or dims is None or at >= end:
        return None
    string = data[at] == _STRING_VAL
    body = _field(data, at, end, _STRING_VAL if string else _CONTENT)
    if not body or body[1] != end:
        return None
    return Layout(name, dtype, dims, string, bytes(data[pos : body[0]]), body[1] - body[0])


class Scanner:
    """Reads our records of one file by layout (see the module doc)."""

    def __init__(self):
        self._layouts = {}

    def scan(self, data, start, end):
        """`(wall_time, step, layout, data start)` of the record `data[start:end]`.

        Returns:
          The tuple, or `None` when the record is not one of the layouts
          (then it is for protobuf to read).
        """
        pos, wall, step = start, 0.0, 0
        if pos + 9 <= end and data[pos] == _WALL_TIME:
            wall = _WALL(data, pos + 1)[0]
            pos += 9
        if pos < end and data[pos] == _STEP:
            step, pos = _varint(data, pos + 1, end)
            if step is None or step >= 1 << 64:
                return None
            if step >= 1 << 63:
                step -= 1 << 64  # int64, as protobuf reads it
        key = (end - pos, data[pos : pos + _KEY_BYTES])
        layout = self._layouts.get(key)
        if layout is None or data[pos : pos + len(layout.header)] != layout.header:
            layout = _layout(data, pos, end)
            if layout is None:
                return None
            self._layouts[key] = layout
        return wall, step, layout, pos + len(layout.header)


def decode(kind, layout, data, at):
    """What `metadata.decode(kind, tensor)` gives for the scanned tensor, or
    `None` where that tensor needs the full decoder (it may be malformed)."""
    shape = layout.shapes.get(kind, False)
    if shape is False:
        shape = layout.shapes[kind] = _shape_for(kind, layout)
    if shape is None:
        return None
    if shape == ():
        return metadata.decode_json_bytes(data[at : at + layout.size])
    # What `np.frombuffer(...).reshape(...)` gives, in one call.
    rows = np.ndarray(shape, dtype=_FLOAT64, buffer=data, offset=at)
    return rows if _FLOAT64.isnative else rows.astype(np.float64)


def _shape_for(kind, layout):
    """How a tensor of `layout` decodes as `kind`: the rows' shape of an array
    kind, `()` for a JSON kind, `None` when the full decoder must say."""
    width = metadata.ARRAY_KINDS.get(kind)
    if width is not None:
        dims = layout.dims
        if layout.string or layout.dtype != _DT_DOUBLE or len(dims) != 2 or dims[1] != width:
            return None
        return (dims[0], width) if layout.size == 8 * dims[0] * width else None
    return () if layout.string and layout.dtype == _DT_STRING else None
