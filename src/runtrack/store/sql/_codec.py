"""Columnar, compressed encoding of metric points (a chunk holds points of one key).

Codec 1, per column:

* ``steps``: int64. When the steps advance by a constant stride (the usual case) the
  column is just ``(first, stride, n)``; otherwise the first step and the successive
  differences, zlib-compressed.
* ``times`` and ``vals``: float64 little-endian, *byte-shuffled* (all first bytes, then
  all second bytes, ...) then zlib with the run-length strategy. Shuffling groups the
  sign/exponent/high-mantissa bytes, which repeat from point to point, so they compress
  to almost nothing while the noisy low bytes stay; the RLE strategy skips the costly
  match search that cannot help on such data. NaN, +inf and -inf are ordinary bit
  patterns and round-trip exactly.

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


def _shuffle(raw: bytes) -> bytes:
    return b"".join([raw[i::8] for i in range(8)])


def _unshuffle(data: bytes) -> bytearray:
    n = len(data) // 8
    out = bytearray(len(data))
    for i in range(8):
        out[i::8] = data[i * n : (i + 1) * n]
    return out


def _raw(a: array[float] | array[int]) -> bytes:
    if _LITTLE:
        return a.tobytes()
    b = array(a.typecode, a)
    b.byteswap()
    return b.tobytes()


def _from_raw(typecode: str, raw: bytes | bytearray) -> array[float] | array[int]:
    a: array[float] | array[int] = array(typecode)  # type: ignore[assignment]
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


def decode_steps(blob: bytes) -> list[int]:
    if blob[:1] == b"R":
        _, first, stride, n = _REGULAR.unpack(blob)
        if stride == 0:
            return [first] * n
        return list(range(first, first + n * stride, stride))
    return list(accumulate(_from_raw("q", zlib.decompress(blob[1:]))))


def encode_floats(values: Sequence[float]) -> bytes:
    a = values if isinstance(values, array) and values.typecode == "d" else array("d", values)
    return _compress(_shuffle(_raw(a)))


def decode_floats(blob: bytes) -> array[float]:
    return _from_raw("d", _unshuffle(zlib.decompress(blob)))  # type: ignore[return-value]
