"""TFRecord framing and CRC32C, in numpy: what event files are made of.

Both sides of the event files use this module: the writer frames records
(`frame`, `frame_all`, `frame_many`) and `tb-lr-audit` checks every record of a file
at once (`crc32c_many`). TensorBoard's own pure-Python CRC32C runs at
about 4.5 MB/s, which would make logging and reading the slowest parts.

CRC32C is affine over GF(2): after a message m of n bytes the register
is A^n(init) xor f(m), where A advances the register over a zero byte and
f is linear (with f(zeros || m) = f(m)). So every range is right-aligned
in lanes (a lane is copied from the buffer whole, the bytes before the
range zeroed), all lanes of all ranges are run through a two-byte table
together, each lane is advanced over the zero bytes of the lanes after it
(one table look-up per register byte: tables of A^(lane * k) for every k
a range needs), and the lanes of a range are xor-ed together.
"""

import functools
import struct
import sys

import numpy as np

_POLY = 0x82F63B78  # CRC32C (Castagnoli), reflected.
_LANE = 64
# Below this many bytes a byte-at-a-time loop beats numpy's per-call costs.
_SMALL = 1536


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
    """Four byte tables applying the linear map with these unit images.

    Args:
      images: uint32 `[..., 32]`: the images of the 32 unit registers,
        for one map or many.

    Returns:
      uint32 `[..., 4, 256]`: table q maps register byte q to its image.
    """
    images = np.asarray(images, dtype=np.uint32)
    by_byte = images.reshape(*images.shape[:-1], 4, 8)
    tables = np.zeros((*images.shape[:-1], 4, 256), dtype=np.uint32)
    # Entries [2^b, 2^(b+1)) are entries [0, 2^b) with bit b's image added.
    for bit in range(8):
        half = 1 << bit
        np.bitwise_xor(
            tables[..., :half], by_byte[..., bit : bit + 1], out=tables[..., half : 2 * half]
        )
    return tables


def _apply(tables, regs):
    t0, t1, t2, t3 = tables
    return t0[regs & 0xFF] ^ t1[(regs >> 8) & 0xFF] ^ t2[(regs >> 16) & 0xFF] ^ t3[regs >> 24]


def _zero_bytes(count):
    """The unit registers' images under A^count."""
    images = np.uint32(1) << np.arange(32, dtype=np.uint32)
    for _ in range(count):
        images = _TABLE[images & 0xFF] ^ (images >> 8)
    return images


@functools.lru_cache(maxsize=4)
def _powers(unit):
    """Tables of A^(unit * 2^j) for j = 0..47."""
    images = _zero_bytes(unit)
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


def _lanes(buf, starts, lengths, lane):
    """`[total, lane]` uint8: each range right-aligned in whole lanes, in
    order, with zeros before it; each range's number of lanes; and for each
    lane, how many lanes of its range follow it, plus one."""
    lanes = -(-lengths // lane)
    first = np.cumsum(lanes) - lanes
    owner = np.repeat(np.arange(len(starts)), lanes)
    # Lane k of a range of m lanes ends (m - k - 1) lanes before the range does.
    from_end = (first + lanes)[owner] - np.arange(len(owner))
    lane_starts = (starts + lengths)[owner] - from_end * lane
    if not len(owner):
        return np.zeros((0, lane), dtype=np.uint8), lanes, from_end
    lo, hi = int(lane_starts.min()), int(lane_starts.max()) + lane
    # A first lane may begin before the buffer (bytes that are zeroed anyway).
    view = buf[max(lo, 0) : hi] if lo >= 0 else np.concatenate([np.zeros(-lo, np.uint8), buf[:hi]])
    # One `lane`-byte item at every byte offset: picking lanes copies each
    # with one memcpy (a `[n, lane]` uint8 window copies byte by byte).
    windows = np.ndarray((len(view) - lane + 1,), dtype=f"V{lane}", buffer=view, strides=(1,))
    out = windows[lane_starts - lo].view(np.uint8).reshape(-1, lane)
    has = lanes > 0
    pad = lanes[has] * lane - lengths[has]
    out[first[has]] &= _prefix_masks(lane)[pad]
    return out, lanes, from_end


@functools.lru_cache(maxsize=4)
def _prefix_masks(lane):
    """Row p zeroes the first p bytes of a lane and keeps the rest."""
    return np.where(np.arange(lane)[None, :] >= np.arange(lane)[:, None], 0xFF, 0).astype(np.uint8)


_STEP_TABLES = {}
# Ranges of more lanes than this are advanced by binary powers (`_advance`).
_MAX_TABLED = 1024


def _step_tables(lane, count):
    """uint32 `[count * 1024]`: block k holds the four byte tables of A^(lane * k)."""
    have = _STEP_TABLES.get(lane)
    if have is None or len(have) < count * 1024:
        grown = 2 * len(have) // 1024 if have is not None else 64
        tables = _linear_tables(_step_images(lane, max(count, grown)))
        have = _STEP_TABLES[lane] = tables.reshape(-1)
    return have


def _step_images(lane, count):
    """uint32 `[count, 32]`: row k holds the unit registers' images under
    A^(lane * k), doubling the rows known at each step."""
    images = np.empty((count, 32), dtype=np.uint32)
    images[0] = np.uint32(1) << np.arange(32, dtype=np.uint32)  # A^0
    power, known = _zero_bytes(lane), 1  # power: A^(lane * known)
    while known < count:
        tables = _linear_tables(power)
        more = min(known, count - known)
        images[known : known + more] = _apply(tables, images[:more])
        power, known = _apply(tables, power), known + more
    return images


def _advance_lanes(regs, counts, lane):
    """Advances each register over `counts * lane` zero bytes."""
    if counts.max() >= _MAX_TABLED:
        return _advance(regs, counts, lane)
    tables = _step_tables(lane, int(counts.max()) + 1)
    base = counts * 1024
    # Indices are within the tables by construction (see `_lane_registers`).
    out = np.take(tables, base + (regs & 0xFF), mode="clip")
    out ^= np.take(tables, base + (256 + ((regs >> 8) & 0xFF)), mode="clip")
    out ^= np.take(tables, base + (512 + ((regs >> 16) & 0xFF)), mode="clip")
    out ^= np.take(tables, base + (768 + (regs >> 24)), mode="clip")
    return out


_INIT_TERMS = {}
_HEADER_CRCS = {}
# A per-length cache is emptied when it would hold more lengths than this.
_CACHED_LENGTHS = 100_000


def _by_length(cache, lengths, compute):
    """`compute`'s value for each of `lengths`, each distinct length computed
    once and kept in `cache`: a file's records have few distinct lengths
    (every epoch's `lr` record has the same).

    Args:
      cache: `{length: value}`.
      lengths: an int array.
      compute: called on a sorted list of the lengths not in `cache`;
        returns their values (uint32), in order.

    Returns:
      A uint32 array, one value per length.
    """
    values = lengths.tolist()
    missing = set(values).difference(cache)
    if missing:
        if len(cache) + len(missing) > _CACHED_LENGTHS:
            cache.clear()
            missing = set(values)
        missing = sorted(missing)
        cache.update(zip(missing, compute(missing), strict=True))
    return np.array([cache[n] for n in values], dtype=np.uint32)


def _init_terms(lengths):
    """A^n(0xFFFFFFFF) for each length n: what the initial register adds."""

    def compute(missing):
        regs = np.full(len(missing), 0xFFFFFFFF, dtype=np.uint32)
        return _advance(regs, np.array(missing, dtype=np.int64), 1).tolist()

    return _by_length(_INIT_TERMS, lengths, compute)


def header_crcs(lengths):
    """The masked CRC a record header (its length as 8 bytes) holds, per length.

    Example:
      >>> header_crcs(np.array([3])).tolist() == [masked_crc32c(struct.pack("<Q", 3))]
      True
    """
    return _by_length(
        _HEADER_CRCS,
        np.asarray(lengths),
        lambda missing: [masked_crc32c(struct.pack("<Q", n)) for n in missing],
    )


def crc32c_many(buf, starts, lengths, lane=_LANE):
    """CRC32C of many byte ranges of `buf` in one vectorized pass.

    Args:
      buf: a `uint8` numpy array.
      starts, lengths: where each range begins and how long it is.
      lane: bytes per lane, a multiple of 4 (64 suits records of a few KB; use 8 for
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
    padded, lanes, from_end = _lanes(buf, starts, lengths, lane)
    combined = np.zeros(len(starts), dtype=np.uint32)
    if len(padded):
        regs = _advance_lanes(_lane_registers(padded), from_end - 1, lane)
        has = lanes > 0
        combined[has] = np.bitwise_xor.reduceat(regs, (np.cumsum(lanes) - lanes)[has])
    return combined ^ _init_terms(lengths) ^ np.uint32(0xFFFFFFFF)


@functools.cache
def _quad_tables():
    """The register after four bytes x (xor-ed into it), from x's low and
    high 16 bits: `f4(x) = low[x & 0xFFFF] ^ high[x >> 16]` (512 KB)."""
    pairs = _pair_table()
    # Two zero bytes turn the high half into the low one (the pair table's
    # input); the low half goes through the pair table twice.
    low = pairs[pairs & 0xFFFF] ^ (pairs >> 16)
    return low.astype(np.uint32), pairs


# Lanes are run through the tables this many bytes of them at a time: a
# block stays in the CPU's cache while each of its columns is read.
_BLOCK_BYTES = 1 << 20


def _lane_registers(padded):
    """f(lane) of every row of `padded`, all rows side by side, four bytes a step."""
    total, lane = padded.shape
    regs = np.zeros(total, dtype=np.uint32)
    words = padded.view("<u4")  # column j: bytes 4j to 4j+3 of every lane
    block = max(_BLOCK_BYTES // lane, 1)
    for start in range(0, total, block):
        _block_registers(words[start : start + block], regs[start : start + block])
    return regs


def _block_registers(words, regs):
    low, high = _quad_tables()
    mixed = np.empty(len(regs), dtype=np.uint32)
    looked = np.empty(len(regs), dtype=np.uint32)
    halves = mixed.view(np.uint16) if sys.byteorder == "little" else None
    # Every index is below 2**16, the tables' length: "clip" changes none,
    # and skips the bounds check "raise" makes of each.
    for j in range(words.shape[1]):
        np.bitwise_xor(regs, words[:, j], out=mixed)
        if halves is not None:
            np.take(low, halves[0::2], out=regs, mode="clip")
            np.take(high, halves[1::2], out=looked, mode="clip")
        else:
            np.take(low, mixed & 0xFFFF, out=regs, mode="clip")
            np.take(high, mixed >> 16, out=looked, mode="clip")
        regs ^= looked


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
    return _record(payload, masked_crc32c(payload))


def _record(payload, masked_crc):
    """The TFRecord of `payload`, whose masked CRC is `masked_crc`."""
    header = struct.pack("<Q", len(payload))
    return b"".join(
        (header, struct.pack("<I", masked_crc32c(header)), payload, struct.pack("<I", masked_crc))
    )


# Below this many payload bytes in all, `frame_all` frames record by record:
# one vectorised pass pays only over larger flushes.
_FRAME_ALL_MIN_BYTES = 16 << 10


def frame_all(payloads):
    """Frames serialized protos as TFRecords, as `frame` does one.

    A writer's flush of a thousand steps holds a few records of tens of KB;
    one `crc32c_many` pass over all of them costs about a quarter of a pass
    per record (the numpy set-up is paid once).

    Args:
      payloads: a list of serialized `Event`s.

    Returns:
      A list of `bytes`: `frame(p)` for each payload.
    """
    lengths = np.fromiter(map(len, payloads), dtype=np.int64, count=len(payloads))
    if int(lengths.sum()) < _FRAME_ALL_MIN_BYTES:
        return [frame(p) for p in payloads]
    body = np.frombuffer(b"".join(payloads), dtype=np.uint8)
    crcs = mask(crc32c_many(body, np.cumsum(lengths) - lengths, lengths, lane=128))
    return [_record(p, crc) for p, crc in zip(payloads, crcs.tolist(), strict=True)]


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
