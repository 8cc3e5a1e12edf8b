"""Server-side downsampling for charts: extremes kept, first and last points kept, the
same answer from chunk envelopes (SqlStore) as from the full history (the default)."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from runtrack.entities import MetricsRecord, RunBatch, RunSpec
from runtrack.server.app import create_app
from runtrack.server.config import ServerConfig
from runtrack.store.base import TrackingStore
from runtrack.store.downsample import downsample, extremes
from runtrack.store.registry import open_store

N = 100_000  # 13 chunks: the envelopes are used


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrackingStore]:
    path = tmp_path_factory.mktemp("ds") / "rt.db"
    s = open_store(f"sqlite:///{path}", auto_upgrade=True)
    s.create_run(RunSpec("dsrun00001", "p", "r", "u", "h", time.time()))
    rnd = random.Random(1)
    records = []
    for step in range(N):
        v = math.sin(step / 500) + rnd.random() * 0.1
        if step == 31_337:
            v = 50.0  # one spike
        if step == 77_777:
            v = -40.0
        if 90_000 <= step < 90_300:
            v = math.nan
        records.append(MetricsRecord(step + 1, step * 2, 1.7e9 + step, ("loss",), [v]))
    s.write(RunBatch("dsrun00001", "main", tuple(records)))
    yield s
    s.close()


@pytest.mark.parametrize("x", ["step", "time"])
def test_extremes_first_and_last_survive(store: TrackingStore, x: str) -> None:
    full = store.get_history("dsrun00001", ["loss"])["loss"]
    got = store.get_history_downsampled("dsrun00001", ["loss"], 2000, x)["loss"]  # type: ignore[arg-type]
    assert len(got.x) <= 2100 and not got.exact and got.total == N
    assert max(got.y) == 50.0 and min(v for v in got.y if v == v) == -40.0
    xs = list(full.step) if x == "step" else list(full.time)
    assert got.x[0] == xs[0] and got.x[-1] == xs[-1]
    assert list(got.x) == sorted(got.x)
    # every point drawn is a real point of the series
    real = dict(zip(xs, full.value, strict=True))
    pairs = zip(got.x, got.y, strict=True)
    assert all(real[a] == b or (b != b and real[a] != real[a]) for a, b in pairs)


def test_the_envelopes_agree_with_the_plain_algorithm(store: TrackingStore) -> None:
    fast = store.get_history_downsampled("dsrun00001", ["loss"], 2000)["loss"]
    slow = TrackingStore.get_history_downsampled(store, "dsrun00001", ["loss"], 2000)["loss"]
    assert max(fast.y) == max(slow.y) and min(fast.y) == min(slow.y)
    assert (fast.x[0], fast.x[-1]) == (slow.x[0], slow.x[-1])


def test_a_zoomed_range_is_exact_when_small(store: TrackingStore) -> None:
    got = store.get_history_downsampled("dsrun00001", ["loss"], 2000, "step", 1000, 2000)["loss"]
    assert got.exact and list(got.x) == list(range(1000, 2001, 2))
    wide = store.get_history_downsampled("dsrun00001", ["loss"], 500, "step", 0, 100_000)["loss"]
    assert wide.x[0] >= 0 and wide.x[-1] <= 100_000 and max(wide.y) == 50.0


def test_unknown_keys_are_absent(store: TrackingStore) -> None:
    assert store.get_history_downsampled("dsrun00001", ["nope"]) == {}


def test_plain_algorithm_on_nan_and_tiny_series() -> None:
    assert extremes([1.0, 2.0], 10) == [0, 1]
    values = [math.nan] * 50 + [1.0, 5.0, -3.0] + [math.nan] * 50
    kept = extremes(values, 5)
    assert 51 in kept and 52 in kept and kept[0] == 0 and kept[-1] == len(values) - 1
    s = downsample("k", list(range(10)), [float(i) for i in range(10)], 100)
    assert s.exact and s.total == 10


def test_the_route(tmp_path: Path, store: TrackingStore) -> None:
    config = ServerConfig(
        db_url="sqlite://",
        artifacts=str(tmp_path / "a"),
        auth=False,
        allowed_hosts=("testserver",),
        access_log=False,
    )
    with TestClient(create_app(config, store=store)) as c:
        r = c.get(
            "/api/v1/runs/dsrun00001/history/downsampled",
            params={"key": ["loss", "nope"], "points": 500},
        )
        assert r.status_code == 200
        body = r.json()
        assert body["x"] == "step" and list(body["series"]) == ["loss"]
        assert body["series"]["loss"]["total"] == N and len(body["series"]["loss"]["x"]) <= 520
        assert c.get("/api/v1/runs/dsrun00001/history/downsampled").status_code == 400
        bad = c.get(
            "/api/v1/runs/dsrun00001/history/downsampled", params={"key": "loss", "points": 1}
        )
        assert bad.status_code == 400
        assert c.get("/api/v1/runs/nope0000/history/downsampled?key=a").status_code == 404


# -- envelopes kept in the database (metric_envelopes) ---------------------------------


def _series(n: int, seed: int, start: int = 0) -> list[MetricsRecord]:
    rnd = random.Random(seed)
    out = []
    for step in range(start, start + n):
        v = math.cos(step / 300) + rnd.random() * 0.2
        if step % 9_001 == 17:
            v = 100.0 + step  # spikes everywhere, in every chunk's buckets
        if step % 20_000 < 150:
            v = math.nan
        if step % 13_333 == 5:
            v = -math.inf
        out.append(MetricsRecord(step + 1, step * 3, 1.6e9 + step * 0.5, ("a", "b"), [v, -v]))
    return out


def _stored_envelopes(url: str) -> list[tuple[str, int]]:
    from sqlalchemy import text

    from runtrack.store.sql._engine import make_engine

    engine = make_engine(url)
    with engine.connect() as c:
        rows = c.execute(text("SELECT key, seq FROM metric_envelopes ORDER BY key, seq")).all()
    engine.dispose()
    return [(r[0], r[1]) for r in rows]


def _without_times(url: str, table: str = "metric_envelopes") -> int:
    from sqlalchemy import text

    from runtrack.store.sql._engine import make_engine

    engine = make_engine(url)
    with engine.connect() as c:
        n = c.execute(text(f"SELECT count(*) FROM {table} WHERE times IS NULL")).scalar()
    engine.dispose()
    return int(n or 0)


def _forget_envelopes(url: str) -> None:
    from runtrack.store.sql._engine import make_engine

    engine = make_engine(url)
    with engine.begin() as c:
        c.exec_driver_sql("DELETE FROM metric_envelopes")
        c.exec_driver_sql("DELETE FROM metric_overviews")
    engine.dispose()


_REQUESTS: list[tuple[int, str, float | None, float | None]] = [
    (500, "step", None, None),  # from the envelopes
    (500, "time", None, None),
    (2000, "step", None, None),  # envelopes too coarse for 2,000 of 100,000: raw points
    (500, "step", 30_000, 200_000),
    (300, "time", 10_000, 160_000),
    (20, "step", None, None),
    (2000, "step", 60_000, 75_000),  # few chunks: raw points
]


def _answers(url: str) -> list[object]:
    """Every request, from a store that just started (nothing cached in memory)."""
    from runtrack.store.sql.store import SqlStore

    s = SqlStore(url)
    try:
        return [
            s.get_history_downsampled("envrun0001", ["a", "b"], p, x, lo, hi)  # type: ignore[arg-type]
            for p, x, lo, hi in _REQUESTS
        ]
    finally:
        s.close()


def _same(a: list[object], b: list[object]) -> bool:
    def norm(answers: list[object]) -> list[object]:
        out: list[object] = []
        for r in answers:
            assert isinstance(r, dict)
            out.append(
                {k: ([*map(repr, v.x)], [*map(repr, v.y)], v.total, v.exact) for k, v in r.items()}
            )
        return out

    return norm(a) == norm(b)


def _full_chunks(url: str) -> list[tuple[str, int]]:
    from sqlalchemy import text

    from runtrack.store.sql._codec import CHUNK_POINTS
    from runtrack.store.sql._engine import make_engine

    engine = make_engine(url)
    with engine.connect() as c:
        q = "SELECT key, seq FROM metric_chunks WHERE n = :n ORDER BY key, seq"
        rows = c.execute(text(q), {"n": CHUNK_POINTS}).all()
    engine.dispose()
    return [(r[0], r[1]) for r in rows]


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_stored_envelopes_give_the_same_answer_as_the_points(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    from runtrack.store.sql import _downsample
    from runtrack.store.sql._codec import CHUNK_POINTS
    from runtrack.store.sql.store import SqlStore

    url = f"sqlite:///{tmp_path / 'env.db'}"
    if backend == "postgres":
        url = request.getfixturevalue("pg_url")
    # written by a process without numpy: the envelopes are left to the first read
    # (those stored by the write are tested in tests/store/test_envelopes_on_write.py)
    monkeypatch.setattr(_downsample, "WRITE_ENVELOPES", False)
    s = SqlStore(url, auto_upgrade=True)
    s.create_run(RunSpec("envrun0001", "p", "r", "u", "h", time.time()))
    records = _series(100_000, 1)
    for i, size in enumerate([7_000, 3_001, 50_000, 39_999]):  # merges of the tail chunks
        done = sum([7_000, 3_001, 50_000, 39_999][:i])
        s.write(RunBatch("envrun0001", "main", tuple(records[done : done + size])))
    s.close()

    decoded: list[bool] = []  # one per chunk decoded for an envelope: was it full?
    envelope = _downsample._envelope

    def spy(steps: bytes, vals: bytes, *size: int) -> _downsample.Envelope:
        env = envelope(steps, vals, *size)
        decoded.append(env.n == CHUNK_POINTS)
        return env

    monkeypatch.setattr(_downsample, "_envelope", spy)
    computed = _answers(url)  # decodes the chunks, keeps the full chunks' envelopes
    assert any(decoded) and _stored_envelopes(url) == _full_chunks(url) != []
    assert _without_times(url) == 0  # a time-axis request added them
    decoded.clear()
    stored = _answers(url)  # a restarted server: full chunks from the stored envelopes
    assert not any(decoded)
    assert _same(stored, computed)

    # more points: the tail chunks are merged and rewritten, new full chunks appear
    more = _series(45_000, 2, start=100_000)
    s = SqlStore(url)
    for i in range(0, len(more), 1_500):
        s.write(RunBatch("envrun0001", "main", tuple(more[i : i + 1_500])))
    s.close()
    partly = _answers(url)  # the old envelopes stored, the new ones computed
    assert _stored_envelopes(url) == _full_chunks(url)
    again = _answers(url)
    _forget_envelopes(url)
    decoded.clear()
    fresh = _answers(url)  # every envelope computed from the points
    assert any(decoded)  # the full chunks' envelopes computed again
    assert _same(partly, fresh) and _same(again, fresh)
    assert fresh[0]["a"].total == 145_000  # type: ignore[index]
    top = max(v for v in fresh[0]["a"].y if v == v)  # type: ignore[index]
    assert top == 100.0 + 9_001 * 16 + 17

    # envelopes stored by a chart on the step axis get their times from one on the time
    # axis (a time-axis chart only decodes the chunks' times, once), at either level
    # (145,000 points: 1,000 from the envelopes, 500 from the overviews)
    for points, table in ((1000, "metric_envelopes"), (500, "metric_overviews")):
        _forget_envelopes(url)
        s = SqlStore(url)
        s.get_history_downsampled("envrun0001", ["a", "b"], points, "step")
        s.close()
        assert _without_times(url, table) == len(_full_chunks(url)) > 0
        s = SqlStore(url)
        by_time = s.get_history_downsampled("envrun0001", ["a", "b"], points, "time")
        s.close()
        assert _without_times(url, table) == 0
        s = SqlStore(url)
        assert _same(
            [s.get_history_downsampled("envrun0001", ["a", "b"], points, "time")], [by_time]
        )
        s.close()
    assert _same([by_time], [fresh[1]])  # (500, "time") from the overviews

    # a deleted run takes its envelopes with it
    s = SqlStore(url)
    s.delete_run("envrun0001")
    s.close()
    assert _stored_envelopes(url) == []


def test_keeping_envelopes_never_fails_nor_holds_up_a_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from runtrack.store.sql import _downsample
    from runtrack.store.sql.store import SqlStore

    monkeypatch.setattr(_downsample, "WRITE_ENVELOPES", False)  # left to the read
    path = tmp_path / "locked.db"
    url = f"sqlite:///{path}"
    s = SqlStore(url, auto_upgrade=True)
    s.create_run(RunSpec("envrun0001", "p", "r", "u", "h", time.time()))
    s.write(RunBatch("envrun0001", "main", tuple(_series(30_000, 3))))
    s.close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the database
    try:
        t0 = time.perf_counter()
        locked = _answers(url)
        assert time.perf_counter() - t0 < 10  # not the 60 s busy timeout
        assert _stored_envelopes(url) == []
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert _same(_answers(url), locked) and _stored_envelopes(url) == _full_chunks(url) != []


def test_the_server_loads_what_its_first_chart_needs_at_start_up(tmp_path: Path) -> None:
    """numpy and the downsampling modules are imported before the first request (and,
    numpy loaded, the server's writes store the envelopes of the chunks they fill)."""
    import subprocess
    import sys

    code = f"""
import sys
from fastapi.testclient import TestClient
from runtrack.server.app import create_app
from runtrack.server.config import ServerConfig
config = ServerConfig(db_url="sqlite:///{tmp_path / "s.db"}", artifacts="{tmp_path / "a"}",
    auth=False, allowed_hosts=("testserver",), access_log=False, auto_upgrade=True)
app = create_app(config)
print("numpy" in sys.modules)
with TestClient(app):
    print(*(m in sys.modules for m in ("numpy", "runtrack.store.sql._downsample")))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["False", "True", "True"]
