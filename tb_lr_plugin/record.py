"""TFRecord framing and CRC32C, in numpy: what event files are made of.

Both sides of the event files use this module: the writer frames records
(`frame`, `frame_many`) and `tb-lr-audit` checks every record of a file
at once (`crc32c_many`). TensorBoard's own pure-Python CRC32C runs at
about 4.5 MB/s, which would make logging and reading the slowest parts.

CRC32C is affine over GF(2): after a message m of n bytes the register
is A^n(init) xor f(m), where A advances the register over a zero byte and
f is linear (with f(zeros || m) = f(m)). So every range is right-aligned
in lanes, all lanes of all ranges are run through a two-byte table
together, each lane is advanced over the zero bytes of the lanes after it
(A^k by binary powers), and the lanes of a range are xor-ed together.
"""

import functools
import struct
import sys

import numpy as np

_POLY = 0x82F63B78  # CRC32C (Castagnoli), reflected.
_LANE = 64
# Below this many bytes a byte-at-a-time loop beats numpy's per-call costs.
_SMALL = 1536
# Ranges up to this size are gathered by one fancy-indexing copy.
_SMALL_RANGE = 512


def _byte_table():
    table = np.zeros(256, dtype=np.uint32)
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ (_POLY if crc & 1 else 0)
        table[i] = crc
    return table


_TABLE = _byte_table()
_TABLE_LIST = _TABLE.tolist()


@functools.cache
def _pair_table():
    """The register after two zero bytes, for every 16-bit register value
    (256 KB: two bytes per vectorized step)."""
    regs = np.arange(1 << 16, dtype=np.uint32)
    regs = _TABLE[regs & 0xFF] ^ (regs >> 8)
    return (_TABLE[regs & 0xFF] ^ (regs >> 8)).astype(np.uint32)


def _linear_tables(images):
    """Four byte tables applying the linear map with these unit images."""
    values = np.arange(256, dtype=np.uint32)
    tables = []
    for k in range(4):
        table = np.zeros(256, dtype=np.uint32)
        for bit in range(8):
            table ^= np.where((values >> bit) & 1, images[8 * k + bit], 0).astype(np.uint32)
        tables.append(table)
    return tables


def _apply(tables, regs):
    t0, t1, t2, t3 = tables
    return t0[regs & 0xFF] ^ t1[(regs >> 8) & 0xFF] ^ t2[(regs >> 16) & 0xFF] ^ t3[regs >> 24]


@functools.lru_cache(maxsize=4)
def _powers(unit):
    """Tables of A^(unit * 2^j) for j = 0..47."""
    images = np.uint32(1) << np.arange(32, dtype=np.uint32)
    for _ in range(unit):
        images = _TABLE[images & 0xFF] ^ (images >> 8)
    powers = [_linear_tables(images)]
    for _ in range(47):
        images = _apply(powers[-1], images)
        powers.append(_linear_tables(images))
    return powers


def _advance(regs, counts, unit):
    """Advances each register over `counts * unit` zero bytes."""
    powers = _powers(unit)
    counts = np.asarray(counts, dtype=np.int64)
    j = 0
    while counts.any():
        sel = np.flatnonzero(counts & 1)
        if len(sel):
            regs[sel] = _apply(powers[j], regs[sel])
        counts = counts >> 1
        j += 1
    return regs


def _gather(buf, starts, lengths, dest, padded):
    """Copies `buf[starts[i]:][:lengths[i]]` to `padded[dest[i]:]`, for all i."""
    small = lengths <= _SMALL_RANGE
    # Many small ranges: one fancy-indexing copy. Large ones: memcpy each.
    if small.any():
        s_starts, s_lengths, s_dest = starts[small], lengths[small], dest[small]
        owner = np.repeat(np.arange(len(s_lengths)), s_lengths)
        within = np.arange(int(s_lengths.sum())) - np.repeat(
            np.cumsum(s_lengths) - s_lengths, s_lengths
        )
        padded[s_dest[owner] + within] = buf[s_starts[owner] + within]
    for i in np.flatnonzero(~small).tolist():
        size = int(lengths[i])
        padded[dest[i] : dest[i] + size] = buf[starts[i] : starts[i] + size]


_INIT_TERMS = {}


def _init_terms(lengths):
    """A^n(0xFFFFFFFF) for each length n: what the initial register adds.

    It depends on the length only, and a file's records have few distinct
    lengths (every epoch's `lr` record has the same), so values are cached.
    """
    unique, inverse = np.unique(lengths, return_inverse=True)
    missing = [int(n) for n in unique.tolist() if n not in _INIT_TERMS]
    if missing:
        regs = np.full(len(missing), 0xFFFFFFFF, dtype=np.uint32)
        values = _advance(regs, np.array(missing, dtype=np.int64), 1)
        if len(_INIT_TERMS) > 100_000:
            _INIT_TERMS.clear()
        _INIT_TERMS.update(zip(missing, values.tolist(), strict=True))
    table = np.array([_INIT_TERMS[int(n)] for n in unique.tolist()], dtype=np.uint32)
    return table[inverse.reshape(-1)]


def crc32c_many(buf, starts, lengths, lane=_LANE):
    """CRC32C of many byte ranges of `buf` in one vectorized pass.

    Args:
      buf: a `uint8` numpy array.
      starts, lengths: where each range begins and how long it is.
      lane: bytes per lane, even (64 suits records of a few KB; use 8 for
        the 8-byte record headers).

    Returns:
      A `uint32` array: `crc32c(buf[s:s + n])` for each range.

    Example:
      >>> buf = np.frombuffer(b"123456789", dtype=np.uint8)
      >>> [hex(c) for c in crc32c_many(buf, [0, 0], [9, 0])]
      ['0xe3069283', '0x0']
    """
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    n = len(starts)
    lanes = -(-lengths // lane)
    total = int(lanes.sum())
    ends = np.cumsum(lanes) * lane
    padded = np.zeros(total * lane, dtype=np.uint8)
    _gather(buf, starts, lengths, ends - lengths, padded)
    regs = np.zeros(total, dtype=np.uint32)
    if total:
        pairs = _pair_table()
        # Column j holds bytes 2j and 2j+1 of every lane, as one uint16.
        columns = np.ascontiguousarray(padded.view("<u2").reshape(total, lane // 2).T)
        index = np.empty(total, dtype=np.uint16)
        looked = np.empty(total, dtype=np.uint32)
        low = regs.view(np.uint16)[0::2] if sys.byteorder == "little" else None
        for column in columns:
            if low is not None:
                np.bitwise_xor(low, column, out=index)
            else:
                index[:] = (regs & 0xFFFF).astype(np.uint16) ^ column
            np.take(pairs, index, out=looked)
            regs >>= 16
            regs ^= looked
        first = np.cumsum(lanes) - lanes
        owner = np.repeat(np.arange(n), lanes)
        regs = _advance(regs, (first + lanes - 1)[owner] - np.arange(total), lane)
    combined = np.zeros(n, dtype=np.uint32)
    has = lanes > 0
    if total:
        combined[has] = np.bitwise_xor.reduceat(regs, (np.cumsum(lanes) - lanes)[has])
    return combined ^ _init_terms(lengths) ^ np.uint32(0xFFFFFFFF)


def crc32c(data):
    """Returns the CRC32C of `data` (bytes-like).

    Example:
      >>> hex(crc32c(b"123456789"))
      '0xe3069283'
    """
    data = memoryview(data).cast("B")
    if len(data) >= _SMALL:
        buf = np.frombuffer(data, dtype=np.uint8)
        return int(crc32c_many(buf, [0], [len(data)])[0])
    reg = 0xFFFFFFFF
    table = _TABLE_LIST
    for b in data:
        reg = table[(reg ^ b) & 0xFF] ^ (reg >> 8)
    return reg ^ 0xFFFFFFFF


def mask(crc):
    """The masked CRC that TFRecord stores (see TensorFlow's crc32c.h).

    Args:
      crc: a CRC32C, or a numpy array of them.

    Returns:
      The masked value(s), as `int` or `uint32` array.
    """
    if isinstance(crc, np.ndarray):
        crc = crc.astype(np.uint64)
        return ((((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF).astype(np.uint32)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def masked_crc32c(data):
    """`mask(crc32c(data))`: what a TFRecord stores after its length and payload."""
    return mask(crc32c(data))


def frame(payload):
    """Frames one serialized proto as a TFRecord.

    Args:
      payload: the serialized `Event`.

    Returns:
      `bytes`: length, masked CRC of the length, payload, masked CRC of it.
    """
    header = struct.pack("<Q", len(payload))
    return b"".join(
        (
            header,
            struct.pack("<I", masked_crc32c(header)),
            payload,
            struct.pack("<I", masked_crc32c(payload)),
        )
    )


def _crc32c_rows(rows):
    """CRC32C of every row of a `[m, L]` uint8 array, the rows side by side.

    Rows of one length need no lanes: a byte column at a time over all
    rows is ~7x faster than `crc32c_many` here.
    """
    reg = np.full(len(rows), 0xFFFFFFFF, dtype=np.uint32)
    for column in rows.T:
        reg = _TABLE[(reg ^ column) & 0xFF] ^ (reg >> 8)
    return reg ^ np.uint32(0xFFFFFFFF)


def frame_many(payloads):
    """Frames many serialized protos at once (what writing a million scalar
    events for a benchmark needs): runs of equal-length payloads share one
    vectorised CRC pass.

    Args:
      payloads: a list of `bytes`.

    Returns:
      `bytes`: the records, in order; the same as joining `frame(p)`.
    """
    lengths = np.fromiter(map(len, payloads), dtype=np.int64, count=len(payloads))
    parts = []
    start = 0
    while start < len(payloads):
        length = int(lengths[start])
        other = np.flatnonzero(lengths[start:] != length)
        end = start + int(other[0]) if len(other) else len(payloads)
        m = end - start
        body = np.frombuffer(b"".join(payloads[start:end]), dtype=np.uint8).reshape(m, length)
        head = np.frombuffer(struct.pack("<Q", length), dtype=np.uint8)
        out = np.empty((m, 16 + length), dtype=np.uint8)
        out[:, :8] = head
        out[:, 8:12] = np.frombuffer(struct.pack("<I", masked_crc32c(head)), dtype=np.uint8)
        out[:, 12 : 12 + length] = body
        out[:, 12 + length :] = mask(_crc32c_rows(body)).astype("<u4").view(np.uint8).reshape(m, 4)
        parts.append(out.tobytes())
        start = end
    return b"".join(parts)
