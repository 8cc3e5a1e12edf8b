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
