"""GET /projects/{p}/runs/groups (count, mean and 95 % CI of a metric per group, in SQL)
and GET /projects/{p}/keys (the column picker's keys)."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from runtrack.entities import MetricsRecord, RunBatch, RunSpec
from runtrack.server.routers.run_groups import t95


def _runs() -> list[tuple[RunSpec, float | None]]:
    out: list[tuple[RunSpec, float | None]] = []
    for i in range(23):
        model = ["gbm", "mlp", "cnn"][i % 3]
        config = {"model": {"kind": model}, "lr": [0.1, 0.01][i % 2], "flag": i % 4 == 0}
        if i == 22:
            config = {"lr": 0.5}  # no model.kind
        spec = RunSpec(
            f"grp{i:06d}",
            "g",
            f"run-{i}",
            "u",
            "h",
            1.7e9 + i,
            config=config,
            tags={"stage": "prod" if i % 2 else "dev"},
        )
        loss = None if i % 5 == 4 else 1.0 + 0.1 * i + (i % 3) * 0.01
        out.append((spec, loss))
    return out


@pytest.fixture
def client(app_factory: Callable[..., FastAPI]) -> Iterator[TestClient]:
    app = app_factory()
    s = app.state.store
    for spec, loss in _runs():
        s.create_run(spec)
        if loss is not None:
            s.write(
                RunBatch(spec.id, "main", (MetricsRecord(1, 0, time.time(), ("loss",), [loss]),))
            )
    s.create_run(RunSpec("othr000001", "other", "x", "u", "h", 1.7e9, config={"secret": 1}))
    with TestClient(app) as c:
        yield c


def _expected(key: Callable[[RunSpec], object]) -> dict[object, list[float]]:
    groups: dict[object, list[float]] = {}
    for spec, loss in _runs():
        vals = groups.setdefault(key(spec), [])
        if loss is not None:
            vals.append(loss)
    return groups


def test_groups_by_a_config_key_with_mean_and_ci(client: TestClient) -> None:
    r = client.get(
        "/api/v1/projects/g/runs/groups", params={"by": "config.model.kind", "metric": "loss"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["runs"] == 23 and body["by"] == "config.model.kind" and body["metric"] == "loss"
    got = {g["value"]: g for g in body["groups"]}
    want = _expected(lambda s: s.config.get("model", {}).get("kind"))
    assert set(got) == set(want)  # None: the run without the key
    counts = {
        k: sum(1 for s, _ in _runs() if s.config.get("model", {}).get("kind") == k) for k in want
    }
    for value, vals in want.items():
        g = got[value]
        assert g["count"] == counts[value] and g["n"] == len(vals)
        if len(vals) >= 2:
            mean = statistics.fmean(vals)
            sd = statistics.stdev(vals)
            half = t95(len(vals) - 1) * sd / math.sqrt(len(vals))
            assert g["mean"] == pytest.approx(mean)
            assert g["std"] == pytest.approx(sd, rel=1e-6)
            assert g["ci_low"] == pytest.approx(mean - half, rel=1e-6)
            assert g["ci_high"] == pytest.approx(mean + half, rel=1e-6)
    # largest groups first
    assert [g["count"] for g in body["groups"]] == sorted(
        (g["count"] for g in body["groups"]), reverse=True
    )


def test_groups_by_typed_values_tags_and_run_fields_with_a_filter(client: TestClient) -> None:
    r = client.get("/api/v1/projects/g/runs/groups", params={"by": "config.flag"})
    assert {g["value"]: g["count"] for g in r.json()["groups"]} == {True: 6, False: 16, None: 1}
    assert all(g["mean"] is None for g in r.json()["groups"])  # no metric asked
    r = client.get(
        "/api/v1/projects/g/runs/groups", params={"by": "config.lr", "metric": "metrics.loss"}
    )
    assert {g["value"]: g["count"] for g in r.json()["groups"]} == {0.1: 11, 0.01: 11, 0.5: 1}
    r = client.get(
        "/api/v1/projects/g/runs/groups",
        params={"by": "tags.stage", "metric": "loss", "filter": "config.lr = 0.1"},
    )
    body = r.json()
    assert body["runs"] == 11 and {g["value"] for g in body["groups"]} == {"dev"}
    r = client.get("/api/v1/projects/g/runs/groups", params={"by": "run.status", "max_groups": 1})
    assert r.json()["groups"][0]["value"] == "finished" or r.json()["groups"][0]["count"] == 23


@pytest.mark.parametrize(
    ("params", "status", "fragment"),
    [
        ({}, 400, "query.by"),
        ({"by": "model"}, 400, "group by config.<key>"),
        ({"by": "run.notes"}, 400, "group by config.<key>"),
        ({"by": "config."}, 400, "group by config.<key>"),
        ({"by": "config.a", "metric": "metrics."}, 400, "metric key"),
        ({"by": "config.a", "filter": "metrics.loss >> 1"}, 400, "position"),
        ({"by": "config.a", "max_groups": 0}, 400, "max_groups"),
    ],
)
def test_bad_requests_are_precise(
    client: TestClient, params: dict[str, object], status: int, fragment: str
) -> None:
    r = client.get("/api/v1/projects/g/runs/groups", params=params)
    assert r.status_code == status, r.text
    assert fragment in r.text


def test_an_unknown_project_is_404(client: TestClient) -> None:
    assert (
        client.get("/api/v1/projects/nope/runs/groups", params={"by": "config.a"}).status_code
        == 404
    )
    assert client.get("/api/v1/projects/nope/keys").status_code == 404


def test_keys_of_a_project_only(client: TestClient) -> None:
    r = client.get("/api/v1/projects/g/keys")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "config": ["flag", "lr", "model.kind"],
        "metrics": ["loss"],
        "tags": ["stage"],
    }


def test_large_values_keep_an_exact_variance(app_factory: Callable[..., FastAPI]) -> None:
    """Timestamps-like values (1.7e9 +- 0.01): mean and std stay exact (shifted sums)."""
    app = app_factory()
    s = app.state.store
    vals = [1.7e9 + 0.001 * ((i * 7) % 11) for i in range(20)]
    for i, v in enumerate(vals):
        spec = RunSpec(f"big{i:07d}", "big", f"r{i}", "u", "h", 1.7e9 + i, config={"k": "x"})
        s.create_run(spec)
        s.write(RunBatch(spec.id, "main", (MetricsRecord(1, 0, time.time(), ("t",), [v]),)))
    with TestClient(app) as c:
        g = c.get("/api/v1/projects/big/runs/groups", params={"by": "config.k", "metric": "t"})
    (group,) = g.json()["groups"]
    assert group["mean"] == pytest.approx(statistics.fmean(vals), abs=1e-6)
    assert group["std"] == pytest.approx(statistics.stdev(vals), rel=1e-6)


def test_any_store_gives_the_same_groups(client: TestClient) -> None:
    """The fallback for stores without SQL (every run read) agrees with the SQL answer."""
    from runtrack.server.routers import run_groups

    store = client.app.state.store  # type: ignore[attr-defined]
    for ns, key in (("config", "model.kind"), ("tags", "stage"), ("run", "status")):
        total, sql = run_groups._sql_groups(store, "g", None, ns, key, "loss")
        total2, scan = run_groups._scan_groups(store, "g", None, ns, key, "loss")
        assert total == total2 == 23
        by_value = {repr(g["value"]): g for g in scan}
        for g in sql:
            other = by_value[repr(g["value"])]
            assert other["count"] == g["count"] and other["n"] == g["n"]
            for field in ("mean", "std", "ci_low", "ci_high"):
                assert other[field] == pytest.approx(g[field]), (key, field)


def test_any_store_gives_the_same_keys(client: TestClient) -> None:
    from runtrack.server.routers import run_groups

    store = client.app.state.store  # type: ignore[attr-defined]
    assert run_groups._scan_keys(store, "g") == run_groups._sql_keys(store, "g")
