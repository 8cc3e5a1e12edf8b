"""The journal: round trip, torn tails, corruption, locking."""

from __future__ import annotations

import math
import os
from array import array
from pathlib import Path

from runtrack.client._journal import JournalReader, JournalWriter, is_locked, lock_for_replay
from runtrack.entities import ConfigOp, MetricsRecord, OpRecord, StatusOp


def _write(path: Path, n: int = 10) -> JournalWriter:
    w = JournalWriter(path, {"run": {"id": "abcd"}, "stream": "s"})
    ks = w.keyset(("loss", "acc"))
    seq = 0
    for i in range(n):
        seq += 1
        w.metrics(ks, seq, i, 1000.0 + i, array("d", [1.0 / (i + 1), math.nan]).tobytes())
    seq += 1
    w.op(seq, ConfigOp({"x": 1}))
    seq += 1
    w.op(seq, StatusOp("finished", 5.0))
    return w


def test_round_trip(tmp_path: Path) -> None:
    p = tmp_path / "j.rtj"
    w = _write(p)
    r = JournalReader(p)
    recs = [rec for batch in r.read_all(batch=3) for rec in batch]
    w.close()
    assert r.header == {"run": {"id": "abcd"}, "stream": "s"}
    assert [rec.seq for rec in recs] == list(range(1, 13))
    m = recs[0]
    assert isinstance(m, MetricsRecord) and m.keys == ("loss", "acc") and m.step == 0
    assert m.values[0] == 1.0 and math.isnan(m.values[1]) and m.time == 1000.0
    assert recs[10] == OpRecord(11, ConfigOp({"x": 1}))
    assert recs[11] == OpRecord(12, StatusOp("finished", 5.0))
    assert not r.corrupt


def test_incremental_reads_see_only_new_records(tmp_path: Path) -> None:
    p = tmp_path / "j.rtj"
    w = JournalWriter(p, {"run": {}})
    ks = w.keyset(("a",))
    r = JournalReader(p)
    assert r.read() == []
    w.metrics(ks, 1, 0, 1.0, array("d", [1.0]).tobytes())
    assert [x.seq for x in r.read()] == [1]
    assert r.read() == []
    w.metrics(ks, 2, 1, 1.0, array("d", [2.0]).tobytes())
    w.metrics(ks, 3, 2, 1.0, array("d", [3.0]).tobytes())
    assert [x.seq for x in r.read()] == [2, 3]
    w.close()


def test_torn_tail_is_ignored(tmp_path: Path) -> None:
    p = tmp_path / "j.rtj"
    _write(p).close()
    size = p.stat().st_size
    with open(p, "r+b") as f:
        f.truncate(size - 3)  # the last record is cut short
    r = JournalReader(p)
    recs = [rec for b in r.read_all() for rec in b]
    assert [x.seq for x in recs] == list(range(1, 12))
    assert not r.corrupt


def test_corruption_stops_reading_there(tmp_path: Path) -> None:
    p = tmp_path / "j.rtj"
    _write(p).close()
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))
    r = JournalReader(p)
    recs = [rec for b in r.read_all() for rec in b]
    assert r.corrupt
    assert [x.seq for x in recs] == list(range(1, len(recs) + 1))
    assert len(recs) < 12


def test_not_a_journal(tmp_path: Path) -> None:
    p = tmp_path / "j.rtj"
    p.write_bytes(b"hello world, not a journal at all")
    r = JournalReader(p)
    assert r.read() == [] and r.corrupt


def test_lock_tells_live_from_dead(tmp_path: Path) -> None:
    p = tmp_path / "j.rtj"
    w = _write(p, 1)
    assert is_locked(p)
    assert lock_for_replay(p) is None
    w.close()
    assert not is_locked(p)
    fd = lock_for_replay(p)
    assert fd is not None
    os.close(fd)


def test_live_journal_has_a_zero_tail_that_reads_as_its_end(tmp_path: Path) -> None:
    p = tmp_path / "j.rtj"
    w = _write(p, 5)
    assert p.stat().st_size >= JournalWriter.SEGMENT  # preallocated, mapped
    r = JournalReader(p)
    assert [x.seq for b in r.read_all() for x in b] == list(range(1, 8))
    assert not r.corrupt
    w.close()
    assert p.stat().st_size == r.offset  # close trims the unused zeros


def test_record_cut_short_by_a_kill_is_a_torn_tail_not_damage(tmp_path: Path) -> None:
    p = tmp_path / "j.rtj"
    _write(p, 3).close()
    data = bytearray(p.read_bytes())
    cut = len(data) - 10  # the last record's copy stopped 10 bytes short...
    data[cut:] = b"\x00" * 10  # ...leaving the zeros of the preallocated file
    p.write_bytes(bytes(data) + b"\x00" * 4096)
    r = JournalReader(p)
    assert [x.seq for b in r.read_all() for x in b] == [1, 2, 3, 4]
    assert not r.corrupt
