"""Columnar, compressed encoding of metric points (a chunk holds points of one key).

Codec 1, per column:

* ``steps``: int64. When the steps advance by a constant stride (the usual case) the
  column is just ``(first, stride, n)``; otherwise the first step and the successive
  differences, zlib-compressed.
* ``times`` and ``vals``: float64 little-endian, split into its 8 byte planes (all first
  bytes, then all second bytes, ...). Each plane is zlib-compressed (run-length
  strategy) if that saves at least 10%, else stored raw. The sign/exponent/high-mantissa
  planes repeat from point to point and shrink to almost nothing; the noisy low planes
  of real-valued data would not shrink, and storing them raw makes decoding them a copy.
  NaN, +inf and -inf are ordinary bit patterns and round-trip exactly.

Every step runs in C (``array``, extended slicing, ``zlib``, ``itertools.accumulate``),
never a Python loop per point. Measured here: ~100 ns/point to encode a value column
at 6-7 bytes/point, ~2 bytes/point for timestamps, ~0 for regular steps.
"""

from __future__ import annotations

import struct
import sys
import zlib
from array import array
from collections.abc import Sequence
from itertools import accumulate
from operator import sub

CODEC = 1
CHUNK_POINTS = 8192
_LITTLE = sys.byteorder == "little"
_REGULAR = struct.Struct("<cqqq")  # b"R", first, stride, n


def _compress(data: bytes) -> bytes:
    c = zlib.compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    return c.compress(data) + c.flush()


_PLANES = struct.Struct("<I8I")  # n points, then 8 plane lengths (high bit: compressed)
_ZIPPED = 1 << 31
_MIN_COMPRESS = 32


def _pack_planes(raw: bytes) -> bytes:
    n = len(raw) // 8
    lengths: list[int] = []
    parts: list[bytes] = []
    for i in range(8):
        plane = raw[i::8]
        # below 32 bytes zlib's own framing (~8 bytes) leaves little to win: store raw
        # (a new run's first points; the LSM merge re-encodes them in bigger chunks)
        packed = _compress(plane) if n >= _MIN_COMPRESS else plane
        if len(packed) < 0.9 * n:
            lengths.append(len(packed) | _ZIPPED)
            parts.append(packed)
        else:
            lengths.append(n)
            parts.append(plane)
    return _PLANES.pack(n, *lengths) + b"".join(parts)


def _unpack_planes(blob: bytes) -> bytearray:
    n, *lengths = _PLANES.unpack_from(blob)
    out = bytearray(8 * n)
    pos = _PLANES.size
    mv = memoryview(blob)
    for i, length in enumerate(lengths):
        size = length & ~_ZIPPED
        part = mv[pos : pos + size]
        pos += size
        out[i::8] = zlib.decompress(part) if length & _ZIPPED else part
    return out


def _raw(a: array[float] | array[int]) -> bytes:
    if _LITTLE:
        return a.tobytes()
    b = array(a.typecode, a)
    b.byteswap()
    return b.tobytes()


def _from_raw(typecode: str, raw: bytes | bytearray) -> array[float] | array[int]:
    a: array[float] | array[int] = array(typecode)
    a.frombytes(raw)
    if not _LITTLE:
        a.byteswap()
    return a


def encode_steps(steps: Sequence[int]) -> bytes:
    a = steps if isinstance(steps, array) and steps.typecode == "q" else array("q", steps)
    n = len(a)
    if n == 0:
        return _REGULAR.pack(b"R", 0, 0, 0)
    if n == 1:
        return _REGULAR.pack(b"R", a[0], 0, 1)
    deltas = array("q", map(sub, a[1:], a[:-1]))
    if deltas.count(deltas[0]) == n - 1:
        return _REGULAR.pack(b"R", a[0], deltas[0], n)
    return b"D" + _compress(_raw(array("q", a[:1]) + deltas))


def regular_steps(blob: bytes) -> tuple[int, int, int] | None:
    """(first, stride, n) when the chunk's steps advance by a constant stride."""
    if blob[:1] == b"R":
        _, first, stride, n = _REGULAR.unpack(blob)
        return first, stride, n
    return None


def decode_steps(blob: bytes) -> list[int]:
    reg = regular_steps(blob)
    if reg is not None:
        first, stride, n = reg
        if stride == 0:
            return [first] * n
        return list(range(first, first + n * stride, stride))
    deltas: array[int] = _from_raw("q", zlib.decompress(blob[1:]))  # type: ignore[assignment]
    return list(accumulate(deltas))


def decode_floats_raw(blob: bytes) -> bytes | bytearray:
    """The little-endian float64 bytes of a column (for concatenating many chunks)."""
    return _unpack_planes(blob)


def floats_from_raw(raw: bytes | bytearray) -> array[float]:
    return _from_raw("d", raw)  # type: ignore[return-value]


def encode_floats(values: Sequence[float]) -> bytes:
    a = values if isinstance(values, array) and values.typecode == "d" else array("d", values)
    return _pack_planes(_raw(a))


def decode_floats(blob: bytes) -> array[float]:
    return _from_raw("d", _unpack_planes(blob))  # type: ignore[return-value]
