"""The run journal: an append-only file per (run, process) that makes ``log()`` crash-safe.

Every write a run accepts (``log``, config, tags, summary, status...) is appended to the
journal with one ``os.write`` before the call returns. Data in the OS page cache
survives the death of the process (SIGKILL included), so nothing ``log()`` accepted is
lost; the background shipper reads the journal back and ships it to the store, and
``runtrack sync`` replays journals whose process died. (A power failure can lose what
the kernel had not written to disk yet: the journal is not fsync'ed per call.)

Format (little-endian)::

    b"RTJ1\\n"
    record*:  u32 payload length | u32 crc32(type byte + payload) | u8 type | payload
      HEADER  (1): JSON {"run": RunSpec, "stream", "mode", "target", "resume", "pid", "host"}
      KEYS    (2): u32 keyset id | JSON list of metric keys
      METRICS (3): u32 keyset id | i64 seq | i64 step | f64 time | f64 value * len(keyset)
      OP      (4): i64 seq | JSON op (runtrack.protocol)

A record whose length runs past the end of the file or whose CRC does not match ends the
readable journal (a torn tail); nothing after it is trusted.
"""

from __future__ import annotations

import fcntl
import json
import mmap
import os
import struct
import sys
import zlib
from array import array
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..entities import MetricsRecord, Op, OpRecord, Record
from ..protocol import op_from_json, op_to_json

MAGIC = b"RTJ1\n"
SUFFIX = ".rtj"
_REC = struct.Struct("<IIB")
_KEYS = struct.Struct("<I")
_METRICS = struct.Struct("<Iqqd")
_OP = struct.Struct("<q")
HEADER, KEYS, METRICS, OP = 1, 2, 3, 4
_CRC_SEED = {t: zlib.crc32(bytes([t])) for t in (HEADER, KEYS, METRICS, OP)}
_LITTLE = sys.byteorder == "little"
_READ_BLOCK = 8 << 20


_VALUES: dict[int, struct.Struct] = {}


def values_struct(n: int) -> struct.Struct:
    """The struct of n little-endian float64 (cached: one per record width)."""
    st = _VALUES.get(n)
    if st is None:
        st = _VALUES[n] = struct.Struct(f"<{n}d")
    return st


def journal_path(directory: Path, run_id: str, stream: str) -> Path:
    return directory / f"{run_id}.{stream}{SUFFIX}"


def _frame(rtype: int, payload: bytes) -> bytes:
    return _REC.pack(len(payload), zlib.crc32(payload, _CRC_SEED[rtype]), rtype) + payload


class JournalWriter:
    """Appends records; holds an exclusive ``flock`` on the file while open, which tells
    ``runtrack sync`` that the process is alive. Not thread-safe: the caller serialises.

    Records are copied into a shared memory mapping of the file (grown in segments),
    not written with ``os.write``: a system call releases the GIL, and a training loop
    that gives the GIL away on every ``log()`` then waits for the background writer to
    hand it back (up to the 5 ms switch interval). Dirty pages of a shared file mapping
    belong to the OS page cache, so a record is as safe from SIGKILL once copied as it
    would be once written. The unused tail of the file is zeros; ``close`` trims it.
    """

    SEGMENT = 4 << 20

    def __init__(self, path: Path, header: Mapping[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._pos = os.fstat(self._fd).st_size
        self._cap = 0
        self._mm: mmap.mmap | None = None
        self._keysets: dict[tuple[str, ...], int] = {}
        self._put(MAGIC + _frame(HEADER, json.dumps(header).encode()))

    def _put(self, data: bytes) -> None:
        end = self._pos + len(data)
        if end > self._cap:
            self._grow(end)
        assert self._mm is not None
        self._mm[self._pos : end] = data
        self._pos = end

    def _grow(self, end: int) -> None:
        cap = max(self.SEGMENT, min(self._cap * 2, self._cap + 64 * self.SEGMENT))
        while cap < end:
            cap += self.SEGMENT
        os.ftruncate(self._fd, cap)
        if self._mm is not None:
            self._mm.close()
        self._mm = mmap.mmap(self._fd, cap)
        self._cap = cap

    def keyset(self, keys: tuple[str, ...]) -> int:
        """The id of a key tuple, defining it in the journal the first time."""
        ks = self._keysets.get(keys)
        if ks is None:
            ks = len(self._keysets) + 1
            payload = _KEYS.pack(ks) + json.dumps(list(keys)).encode()
            self._put(_frame(KEYS, payload))
            self._keysets[keys] = ks
        return ks

    def metrics(self, ks: int, seq: int, step: int, time: float, values: bytes) -> None:
        """``values``: the record's float64 values, little-endian (``pack_values``)."""
        payload = _METRICS.pack(ks, seq, step, time) + values
        self._put(
            _REC.pack(len(payload), zlib.crc32(payload, _CRC_SEED[METRICS]), METRICS) + payload
        )

    def op(self, seq: int, op: Op) -> None:
        self._put(_frame(OP, _OP.pack(seq) + json.dumps(op_to_json(op)).encode()))

    @property
    def position(self) -> int:
        """Bytes written so far (records before it are complete)."""
        return self._pos

    def close(self) -> None:
        if self._fd >= 0:
            if self._mm is not None:
                self._mm.close()
                self._mm = None
            try:
                os.ftruncate(self._fd, self._pos)  # drop the unused zeros
            except OSError:  # pragma: no cover - the zeros are harmless
                pass
            os.close(self._fd)  # releases the flock
            self._fd = -1


@dataclass
class JournalReader:
    """Reads a journal incrementally: ``read()`` returns the records appended since the
    last call (complete records only)."""

    path: Path
    # the writer's current position, when the writer is in this process: reads stop there
    # instead of running through the zero-filled preallocation of a live journal
    limit: Callable[[], int] | None = None
    header: dict[str, Any] | None = None
    offset: int = 0
    keysets: dict[int, tuple[str, ...]] = field(default_factory=dict)
    corrupt: bool = False

    def read(self, max_records: int | None = None) -> list[Record]:
        out: list[Record] = []
        size = _READ_BLOCK if self.limit is None else min(_READ_BLOCK, self.limit() - self.offset)
        if size <= 0:
            return out
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read(size)
        pos = 0
        if self.offset == 0:
            if len(data) < len(MAGIC):
                return out
            if data[: len(MAGIC)] != MAGIC:
                self.corrupt = True
                return out
            pos = len(MAGIC)
        end = len(data)
        unpack_rec, unpack_m = _REC.unpack_from, _METRICS.unpack_from
        while pos + _REC.size <= end:
            length, crc, rtype = unpack_rec(data, pos)
            if rtype == 0 and length == 0:
                break  # the zero-filled, not yet written part of a live journal
            body = pos + _REC.size
            if body + length > end:
                if length > _READ_BLOCK and pos == 0:
                    self.corrupt = True  # a length no writer produces
                break
            payload = memoryview(data)[body : body + length]
            if rtype not in _CRC_SEED or zlib.crc32(payload, _CRC_SEED[rtype]) != crc:
                # a record cut short by the death of its writer is followed by zeros only;
                # anything else after it is damage
                self.corrupt = data.count(0, body + length) != end - (body + length)
                break
            pos = body + length
            if rtype == METRICS:
                ks, seq, step, t = unpack_m(payload)
                vals = array("d")
                vals.frombytes(payload[_METRICS.size :])
                if not _LITTLE:
                    vals.byteswap()
                out.append(MetricsRecord(seq, step, t, self.keysets[ks], vals))
            elif rtype == OP:
                (seq,) = _OP.unpack_from(payload)
                op = op_from_json(json.loads(bytes(payload[_OP.size :])))
                out.append(OpRecord(seq, op))
            elif rtype == KEYS:
                (ks,) = _KEYS.unpack_from(payload)
                self.keysets[ks] = tuple(json.loads(bytes(payload[_KEYS.size :])))
            elif rtype == HEADER:
                self.header = json.loads(bytes(payload))
            if max_records is not None and len(out) >= max_records:
                break
        self.offset += pos
        return out

    def read_all(self, batch: int = 50_000) -> Iterator[list[Record]]:
        """Every remaining record, in lists of at most ``batch``."""
        while True:
            before = self.offset
            recs = self.read(batch)
            if recs:
                yield recs
            elif self.offset == before:
                return


def is_locked(path: Path) -> bool:
    """True while the process that writes this journal is alive."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def lock_for_replay(path: Path) -> int | None:
    """Take the journal's lock for a replay (so two syncs never replay one journal at
    once); returns the fd to close afterwards, or None if a process holds it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
