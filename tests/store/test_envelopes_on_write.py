"""Chart envelopes of full chunks stored by the write that creates the chunk
(``_downsample.write_envelopes``), on SQLite and PostgreSQL: the same envelopes as the
read path computes, never stale after merges, never failing a write."""

from __future__ import annotations

import math
import random
import subprocess
import sys
import time
from array import array
from pathlib import Path
from typing import Any

import pytest
from _chunks import FULL, full_chunks, rows, write_batches
from sqlalchemy import text

from runtrack.entities import MetricsRecord, RunBatch, RunSpec
from runtrack.errors import StoreError
from runtrack.store.sql import _codec, _downsample
from runtrack.store.sql._engine import make_engine
from runtrack.store.sql.store import SqlStore

RUN = "wenvrun001"


def _value(rnd: random.Random, step: int) -> float:
    v = math.sin(step / 700) + rnd.random() * 0.3
    if step % 5_003 == 11:
        v = 1e6 + step  # spikes in many buckets
    if step % 17_000 < 200:
        v = math.nan  # whole buckets of NaN
    if step % 6_007 == 3:
        v = -math.inf
    if step % 7_919 == 5:
        v = math.inf
    if step % 3_001 == 0:
        v = -0.0
    return v


def _records(n: int, seed: int) -> list[MetricsRecord]:
    """``n`` steps of "a" and "b" (regular steps), and "c" logged alone at some of them
    (irregular steps)."""
    rnd = random.Random(seed)
    out: list[MetricsRecord] = []
    for step in range(n):
        v = _value(rnd, step)
        t = 1.7e9 + step * 0.25
        out.append(MetricsRecord(len(out) + 1, step * 2, t, ("a", "b"), [v, -v]))
        if step % 7 == 0 or step % 11 == 0:
            out.append(MetricsRecord(len(out) + 1, step * 2, t, ("c",), [v]))
    return out


def _stored(url: str) -> list[tuple[str, int]]:
    return [(r[0], r[1]) for r in rows(url, "SELECT key, seq FROM metric_envelopes ORDER BY 1, 2")]


def _forget(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as c:
        c.exec_driver_sql("DELETE FROM metric_envelopes")
    engine.dispose()


def _env_key(env: _downsample.Envelope) -> tuple[Any, ...]:
    return (env.n, list(env.steps), [repr(v) for v in env.values], list(env.positions))


def _check_identical_to_read_path(url: str, *, times: bool = False) -> int:
    """Every stored envelope is what the read path computes from its chunk (with the
    chunk's times if a time-axis chart added them, else without)."""
    chunks = {
        (r[0], r[1]): (bytes(r[2]), bytes(r[3]), bytes(r[4]))
        for r in rows(url, "SELECT key, seq, steps, vals, times FROM metric_chunks")
    }
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            stored = _downsample._stored(c, RUN, list(chunks))
    finally:
        engine.dispose()
    for (key, seq), env in stored.items():
        steps_blob, vals_blob, times_blob = chunks[(key, seq)]
        assert _env_key(env) == _env_key(_downsample._envelope(steps_blob, vals_blob))
        if times:
            decoded = _codec.decode_floats(times_blob)
            assert env.times is not None
            assert list(env.times) == [decoded[i] for i in env.positions]
        else:
            assert env.times is None  # times are left to the first time-axis chart
    return len(stored)


_REQUESTS: list[tuple[int, str, float | None, float | None]] = [
    (500, "step", None, None),
    (400, "time", None, None),
    (2000, "step", None, None),
    (300, "step", 20_000, 90_000),
    (300, "time", 30_000, 110_000),
    (2000, "step", 40_000, 52_000),
]


def _answers(url: str) -> list[Any]:
    """Every request, from a store that just started (nothing cached in memory)."""
    s = SqlStore(url)
    try:
        out = []
        for p, x, lo, hi in _REQUESTS:
            got = s.get_history_downsampled(RUN, ["a", "b", "c"], p, x, lo, hi)  # type: ignore[arg-type]
            out.append({k: ([*map(repr, v.x)], [*map(repr, v.y)], v.total) for k, v in got.items()})
            out.append({k: v.exact for k, v in got.items()})
        return out
    finally:
        s.close()


def test_the_written_envelope_is_the_read_paths_for_random_data() -> None:
    for seed in range(40):
        rnd = random.Random(seed)
        n = FULL if seed % 4 else rnd.choice([1, 3, 5, 200, 5_000])
        values = array("d", [rnd.gauss(0, 1) for _ in range(n)])
        for _ in range(rnd.randrange(0, 60)):  # NaN, inf, -inf, -0.0, repeated extremes
            i = rnd.randrange(n)
            values[i] = rnd.choice([math.nan, math.inf, -math.inf, -0.0, 0.0, 9.0, -9.0])
        if seed % 5 == 0:
            values[: n // 2] = array("d", [math.nan]) * (n // 2)
        if seed % 2:
            steps = array("q", range(seed, seed + 3 * n, 3))
        else:
            steps = array("q", sorted(rnd.sample(range(10 * n + 10), n)))
        written = _downsample.envelope_of(steps, values)
        read = _downsample._envelope(_codec.encode_steps(steps), _codec.encode_floats(values))
        assert _env_key(written) == _env_key(read), seed
        # the stored row round-trips (the read path reads that row)
        row = _downsample._row(RUN, "k", 0, written)
        back = (
            row["n"],
            list(_downsample._unpack("q", row["steps"])),
            [repr(v) for v in _downsample._unpack("d", row["vals"])],
            list(_downsample._unpack("i", row["positions"])),
        )
        assert back == _env_key(read)


def test_numpy_and_pure_python_keep_the_same_points_of_a_full_chunk() -> None:
    """A chunk's envelope does not depend on which process computed it (a writer with
    numpy, a reader without)."""
    from runtrack.store.downsample import _extremes_py, extremes

    for seed in range(30):
        rnd = random.Random(seed)
        values = array("d", [rnd.choice([rnd.random(), 0.5, 0.0]) for _ in range(FULL)])
        for _ in range(rnd.randrange(0, 300)):
            values[rnd.randrange(FULL)] = rnd.choice([math.nan, math.inf, -math.inf, -0.0])
        if seed % 3 == 0:
            values[128:640] = array("d", [math.nan]) * 512
        buckets = FULL // _downsample.BUCKET
        fast = extremes(values, buckets)
        assert fast == _extremes_py(values, buckets), seed
        assert all(type(i) is int for i in fast)


@pytest.mark.usefixtures("at_write")
def test_the_write_stores_the_envelopes_of_its_full_chunks(url: str) -> None:
    records = _records(100_000, 1)
    # uneven writes: the tail chunks are merged and rewritten, full chunks split off
    sizes = [7_000, 3_001, 1, 50_000, 1_500, 1_500, 1_500]
    sizes.append(len(records) - sum(sizes))
    for i, size in enumerate(sizes):
        done = sum(sizes[:i])
        write_batches(url, RUN, records[done : done + size], [size], create=i == 0)
        # right after each write: an envelope for every full chunk, and only those
        assert _stored(url) == full_chunks(url)
    assert {k for k, _ in full_chunks(url)} == {"a", "b", "c"}
    assert _check_identical_to_read_path(url) == len(full_chunks(url)) > 20


def test_downsampled_reads_are_the_same_with_and_without_stored_envelopes(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = _records(90_000, 2)
    sizes = [10_000, 333, 20_000, 4_000, 4_000]
    monkeypatch.setattr(_downsample, "WRITE_ENVELOPES", True)
    write_batches(url, RUN, records, sizes, create=True)
    assert _stored(url) == full_chunks(url) != []

    decoded: list[int] = []  # the points of each chunk decoded for an envelope
    envelope = _downsample._envelope

    def spy(steps: bytes, vals: bytes, *size: int) -> _downsample.Envelope:
        env = envelope(steps, vals, *size)
        decoded.append(env.n)
        return env

    monkeypatch.setattr(_downsample, "_envelope", spy)
    stored = _answers(url)  # the first view ever: only the trailing chunks are decoded
    assert decoded and FULL not in decoded
    _forget(url)
    decoded.clear()
    computed = _answers(url)  # the full chunks decoded (and their envelopes stored again)
    charted = [(k, seq) for k, seq in full_chunks(url) if k != "c"]  # "c": raw points
    assert decoded.count(FULL) == len(charted)
    assert stored == computed
    assert _stored(url) == charted
    assert _check_identical_to_read_path(url, times=True) > 0
    assert _answers(url) == stored


def test_the_same_answers_when_written_without_envelopes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = _records(60_000, 3)
    sizes = [25_000, 1_000, 34_000]
    with_url, without_url = (f"sqlite:///{tmp_path / n}" for n in ("with.db", "without.db"))
    monkeypatch.setattr(_downsample, "WRITE_ENVELOPES", True)
    write_batches(with_url, RUN, records, sizes, create=True)
    monkeypatch.setattr(_downsample, "WRITE_ENVELOPES", False)
    write_batches(without_url, RUN, records, sizes, create=True)
    assert _stored(without_url) == [] and _stored(with_url) == full_chunks(with_url) != []
    assert _answers(with_url) == _answers(without_url)


@pytest.mark.usefixtures("at_write")
def test_many_small_writes_leave_no_stale_envelope(url: str) -> None:
    records = _records(40_000, 4)
    write_batches(url, RUN, records[:1], [1], create=True)
    s = SqlStore(url)
    try:
        seen: set[tuple[str, int]] = set()
        for i in range(1, len(records), 997):
            s.write(RunBatch(RUN, "main", tuple(records[i : i + 997])))
            full = full_chunks(url)
            assert _stored(url) == full
            # a merge deletes trailing chunks only: a full chunk, once written, stays
            assert seen <= set(full)
            seen = set(full)
        chunk_seqs = rows(url, "SELECT key, seq, n FROM metric_chunks")
        assert all(n <= FULL for _, _, n in chunk_seqs)
    finally:
        s.close()
    assert _check_identical_to_read_path(url) == len(seen) > 0


@pytest.mark.usefixtures("at_write")
def test_a_failure_to_compute_envelopes_loses_no_point(
    url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(steps: Any, values: Any) -> Any:
        raise ValueError("no envelope today")

    monkeypatch.setattr(_downsample, "envelope_of", broken)
    records = _records(30_000, 5)
    with caplog.at_level("DEBUG", logger="runtrack"):
        write_batches(url, RUN, records, [12_000, 18_000], create=True)
    assert "no envelope today" in caplog.text
    assert _stored(url) == [] and full_chunks(url) != []
    s = SqlStore(url)
    try:
        history = s.get_history(RUN, ["a", "c"])
        c = sum(1 for r in records if r.keys == ("c",))
        assert len(history["a"].value) == 30_000 and len(history["c"].value) == c
        assert s.stream_position(RUN, "main") == records[-1].seq
    finally:
        s.close()
    monkeypatch.undo()  # the read path computes and stores them instead
    first = _answers(url)
    assert _stored(url) == full_chunks(url)
    assert _answers(url) == first


@pytest.mark.usefixtures("at_write")
def test_a_database_error_storing_envelopes_rolls_the_write_back(url: str) -> None:
    records = _records(20_000, 6)
    write_batches(url, RUN, records[:5_000], [], create=True)
    # a row where the write's first full chunk of "a" goes (seq 1: seq 0 is the tail)
    engine = make_engine(url)
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO metric_envelopes (run_id, key, seq, n, positions, steps, vals) "
                "VALUES (:r, 'a', 1, 1, :b, :b, :b)"
            ),
            {"r": RUN, "b": b""},
        )
    engine.dispose()
    before = rows(url, "SELECT key, seq, n FROM metric_chunks ORDER BY 1, 2")
    s = SqlStore(url)
    try:
        with pytest.raises(StoreError):
            s.write(RunBatch(RUN, "main", tuple(records[5_000:])))
        assert s.stream_position(RUN, "main") == 5_000
        b = sum(1 for r in records[:5_000] if r.keys == ("a", "b"))
        assert len(s.get_history(RUN, ["b"])["b"].value) == b
    finally:
        s.close()
    assert rows(url, "SELECT key, seq, n FROM metric_chunks ORDER BY 1, 2") == before


def test_envelopes_at_write_only_when_numpy_is_loaded(tmp_path: Path) -> None:
    """A writer that has not imported numpy does not import it (nor pay pure-Python
    envelopes); one that has stores the envelopes."""
    code = f"""
import sys, time
from runtrack.entities import MetricsRecord, RunBatch, RunSpec
from runtrack.store.sql.store import SqlStore
s = SqlStore("sqlite:///{tmp_path / "gate.db"}", auto_upgrade=True)
recs = tuple(MetricsRecord(i + 1, i, 1.0 + i, ("a",), [i * 0.5]) for i in range(20_000))
for rid in ("nonumpy001", "numpy00001"):
    if rid == "numpy00001":
        import numpy
    s.create_run(RunSpec(rid, "p", "r", "u", "h", time.time()))
    s.write(RunBatch(rid, "main", recs))
    print(rid, "numpy" in sys.modules)
s.close()
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["nonumpy001", "False", "numpy00001", "True"]
    url = f"sqlite:///{tmp_path / 'gate.db'}"
    q = "SELECT run_id, count(*) FROM metric_envelopes GROUP BY run_id"
    assert [tuple(r) for r in rows(url, q)] == [("numpy00001", 2)]


def test_a_run_created_with_its_first_batch_stores_its_envelopes(url: str, at_write: None) -> None:
    """``create_runs`` with records (the SDK's first batch, ``runtrack sync``) takes the
    same path as later writes."""
    from runtrack.entities import NewRun

    records = _records(60_000, 3)
    s = SqlStore(url, auto_upgrade=True)
    try:
        spec = RunSpec(RUN, "p", "r", "u", "h", time.time())
        s.create_runs([NewRun(spec, RunBatch(RUN, "main", tuple(records[:20_000])))])
        created = full_chunks(url)
        assert {k for k, _ in created} == {"a", "b"}  # ~16,400 points each: 2 full chunks
        assert _stored(url) == created
        s.write(RunBatch(RUN, "main", tuple(records[20_000:])))
    finally:
        s.close()
    assert _stored(url) == full_chunks(url)
    assert {k for k, _ in full_chunks(url)} == {"a", "b", "c"}
    assert _check_identical_to_read_path(url) == len(full_chunks(url))
