"""TFRecord framing with CRC32C, in numpy: what event files are made of.

TensorBoard's own `RecordWriter` computes CRC32C in pure Python (about
4.5 MB/s here), which would make the writer the slowest part of logging.
CRC32C is linear over GF(2), so a long buffer can be cut into equal lanes
that numpy advances together, one byte column at a time, and the lane
checksums joined with a precomputed "advance over n zero bytes" map.
"""

import functools
import struct

import numpy as np

_POLY = 0x82F63B78  # CRC32C (Castagnoli), reflected.


def _make_table():
    table = np.zeros(256, dtype=np.uint32)
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ (_POLY if crc & 1 else 0)
        table[i] = crc
    return table


_TABLE = _make_table()
_TABLE_LIST = [int(x) for x in _TABLE]
# Lanes shorter than this are not worth numpy's per-call overhead.
_LANE = 64


def _advance_bytes(reg, data):
    """Feeds `data` into a raw CRC register, byte by byte (small inputs)."""
    table = _TABLE_LIST
    for b in data:
        reg = table[(reg ^ b) & 0xFF] ^ (reg >> 8)
    return reg


@functools.lru_cache(maxsize=8)
def _zero_shift_tables(n):
    """Tables mapping a register to the register after `n` zero bytes.

    The map is linear, so it is fixed by the images of the 32 unit
    registers; four 256-entry tables then apply it a byte at a time.
    """
    regs = (np.uint32(1) << np.arange(32, dtype=np.uint32)).astype(np.uint32)
    for _ in range(n):
        regs = _TABLE[regs & 0xFF] ^ (regs >> 8)
    tables = []
    values = np.arange(256, dtype=np.uint32)
    for k in range(4):
        t = np.zeros(256, dtype=np.uint32)
        for bit in range(8):
            t[(values >> bit) & 1 == 1] ^= regs[8 * k + bit]
        tables.append([int(x) for x in t])
    return tables


def crc32c(data):
    """Returns the CRC32C of `data` (bytes-like).

    Example:
      >>> hex(crc32c(b"123456789"))
      '0xe3069283'
    """
    data = memoryview(data).cast("B")
    lanes = len(data) // _LANE
    if lanes < 4:
        return _advance_bytes(0xFFFFFFFF, data) ^ 0xFFFFFFFF
    block = np.frombuffer(data, dtype=np.uint8, count=lanes * _LANE)
    columns = np.ascontiguousarray(block.reshape(lanes, _LANE).T).astype(np.uint32)
    regs = np.zeros(lanes, dtype=np.uint32)
    regs[0] = 0xFFFFFFFF
    table = _TABLE
    for col in columns:
        regs = table[(regs ^ col) & 0xFF] ^ (regs >> 8)
    t0, t1, t2, t3 = _zero_shift_tables(_LANE)
    reg = 0
    for lane_reg in regs.tolist():
        reg = (
            t0[reg & 0xFF] ^ t1[(reg >> 8) & 0xFF] ^ t2[(reg >> 16) & 0xFF] ^ t3[reg >> 24]
        ) ^ lane_reg
    reg = _advance_bytes(reg, data[lanes * _LANE :])
    return reg ^ 0xFFFFFFFF


def masked_crc32c(data):
    """The masked CRC that TFRecord stores (see TensorFlow's crc32c.h)."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


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
    """CRC32C of every row of a `[m, L]` uint8 array, the rows side by side."""
    reg = np.full(len(rows), 0xFFFFFFFF, dtype=np.uint32)
    for column in rows.T:
        reg = _TABLE[(reg ^ column) & 0xFF] ^ (reg >> 8)
    return reg ^ np.uint32(0xFFFFFFFF)


def _masked_rows(rows):
    crc = _crc32c_rows(rows).astype(np.uint64)
    return ((((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF).astype("<u4")


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
        out[:, 12 + length :] = _masked_rows(body).view(np.uint8).reshape(m, 4)
        parts.append(out.tobytes())
        start = end
    return b"".join(parts)
