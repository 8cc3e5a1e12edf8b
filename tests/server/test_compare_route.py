"""POST /api/v1/compare: the statistical comparison and the diffs, run by the server for
the web UI; without numpy/scipy the diffs still come, with a clear message."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import runtrack
from runtrack.artifacts.registry import open_artifact_store
from runtrack.store.registry import open_store


def _runs() -> list[str]:
    rng = np.random.default_rng(0)
    n = 600
    y = (rng.random(n) < 0.4).astype(np.int64)
    shared = rng.normal(size=n) + 1.2 * y
    ids = np.array([f"ex-{i:04d}" for i in range(n)])
    out = []
    for name, noise, shift, lr in (("A", 1, 0.0, 0.1), ("B", 2, 1.2, 0.01)):
        logit = shared + 0.9 * np.random.default_rng(noise).normal(size=n) + shift * y - 0.6
        score = 1.0 / (1.0 + np.exp(-logit))
        with runtrack.init(project="cmp", name=name, config={"lr": lr, "depth": 4}) as run:
            run.summary["latency_ms"] = 10.0 if name == "A" else 20.0
            run.log_predictions(
                "test", y, y_pred=(score > 0.5).astype(np.int64), y_score=score, ids=ids
            )
            out.append(run.id)
    for k in range(2):  # no prediction sets, a summary metric
        with runtrack.init(project="cmp", name=f"plain-{k}", config={"lr": 0.1 * (k + 1)}) as run:
            run.log({"loss": 0.5})
            run.summary["latency_ms"] = 5.0 + k
            out.append(run.id)
    return out


@pytest.fixture
def setup(
    sdk: None, tmp_path: Path, app_factory: Callable[..., FastAPI]
) -> Iterator[tuple[TestClient, list[str]]]:
    ids = _runs()
    rt = tmp_path / "rt"
    store = open_store(f"sqlite:///{rt / 'runtrack.db'}")
    app = app_factory(store=store, artifacts=open_artifact_store(rt / "artifacts"))
    with TestClient(app) as client:
        yield client, ids
    store.close()


def test_a_paired_comparison_with_diffs(setup: tuple[TestClient, list[str]]) -> None:
    client, (a, b, _p0, _p1) = setup
    r = client.post("/api/v1/compare", json={"runs": [a, b], "metric": "auc", "n_boot": 200})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["unavailable"] is None and body["note"] is None
    cmp = body["comparison"]
    assert cmp["metric"] == "auc" and cmp["prediction_set"] == "test"
    assert len(cmp["pairs"]) == 1 and cmp["recommendation"]
    assert [r["label"] for r in body["runs"]] == ["A", "B"]
    config = body["diffs"]["config"]
    assert set(config["differing"]) == {"lr"}
    assert "packages" in body["diffs"]["environment"]


def test_without_a_metric_or_predictions_the_diffs_and_a_note(
    setup: tuple[TestClient, list[str]],
) -> None:
    client, (_a, _b, p0, p1) = setup
    r = client.post("/api/v1/compare", json={"runs": [p0, p1]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["comparison"] is None and body["unavailable"] is None
    assert "name a summary metric" in body["note"]
    assert set(body["diffs"]["config"]["differing"]) == {"lr"}
    r = client.post("/api/v1/compare", json={"runs": [p0, p1], "metric": "latency_ms:min"})
    assert r.status_code == 200, r.text
    assert r.json()["comparison"]["metric"] == "latency_ms"


def test_without_numpy_or_scipy_the_diffs_and_a_clear_message(
    setup: tuple[TestClient, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, (a, b, _p0, _p1) = setup
    monkeypatch.setitem(sys.modules, "scipy", None)  # "import scipy" raises ImportError
    r = client.post("/api/v1/compare", json={"runs": [a, b], "metric": "auc"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["comparison"] is None
    assert "numpy and scipy" in body["unavailable"] and "runtrack[compare]" in body["unavailable"]
    assert set(body["diffs"]["config"]["differing"]) == {"lr"}


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ([], 400, "must be an object"),
        ({"runs": "abc"}, 400, "list of run ids"),
        ({"runs": ["x"]}, 400, "2 to 20 runs"),
        ({"runs": ["a" * 8] * 21}, 400, "2 to 20 runs"),
        ({"runs": ["abcd1234", "abcd1235"], "alpha": 0.7}, 400, "alpha"),
        ({"runs": ["abcd1234", "abcd1235"], "n_boot": 10}, 400, "n_boot"),
        ({"runs": ["abcd1234", "abcd1235"], "secondary": "x"}, 400, "secondary"),
        ({"runs": ["abcd1234", "abcd1235"], "colour": 1}, 400, "unknown field"),
        ({"runs": ["abcd1234", "abcd1235"]}, 404, "abcd1234"),
    ],
)
def test_bad_requests_are_precise(
    setup: tuple[TestClient, list[str]], body: object, status: int, fragment: str
) -> None:
    client, _ids = setup
    r = client.post("/api/v1/compare", json=body)
    assert r.status_code == status, r.text
    assert fragment in r.text


def test_a_metric_no_run_has_is_a_400(setup: tuple[TestClient, list[str]]) -> None:
    client, (a, b, _p0, _p1) = setup
    r = client.post("/api/v1/compare", json={"runs": [a, b], "metric": "nothing_like_it"})
    assert r.status_code == 400, r.text
