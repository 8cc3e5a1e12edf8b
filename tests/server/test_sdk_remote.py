"""The SDK against a team server: how many requests a run costs."""

from __future__ import annotations

import collections
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import runtrack
from runtrack.store.rest import RestStore
from runtrack.testing.live import LiveServer


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sdk: None) -> Iterator[LiveServer]:
    with LiveServer(tmp_path / "server") as srv:
        monkeypatch.setenv("RUNTRACK_URL", srv.url)
        yield srv


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> collections.Counter[str]:
    seen: collections.Counter[str] = collections.Counter()
    original = RestStore._call

    def counting(self: RestStore, method: str, path: str, **kw: Any) -> Any:
        seen[f"{method} {re.sub(r'/runs/[0-9a-z]{16,}', '/runs/ID', path)}"] += 1
        return original(self, method, path, **kw)

    monkeypatch.setattr(RestStore, "_call", counting)
    return seen


def one_run(project: str, i: int) -> str:
    run = runtrack.init(project=project, config={"i": i}, tags={"k": "v"})
    for step in range(3):
        run.log({"loss": 1.0 / (step + 1)}, step=step)
    run.finish()
    return run.id


def test_later_runs_of_a_process_cost_one_request(
    server: LiveServer, calls: collections.Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a run shorter than the flush interval: on a slow machine a run can outlast the
    # default 0.5 s, and its records are then rightly shipped in two requests
    monkeypatch.setenv("RUNTRACK_FLUSH_INTERVAL", "60")
    first = one_run("sdk", 0)
    assert calls == {"POST /runs/bulk": 1, "POST /runs/ID/batches": 1}
    calls.clear()
    later = [one_run("sdk", i) for i in range(1, 4)]
    # created by the shipper with all their records: no round trip in init()
    assert calls == {"POST /runs/bulk": 3}
    calls.clear()
    other = one_run("sdk-other", 9)  # a project this process has not written to yet
    assert calls == {"POST /runs/bulk": 1, "POST /runs/ID/batches": 1}
    api = runtrack.Api(server.url)
    for i, rid in enumerate([first, *later]):
        r = api.run(rid)
        assert (r.status, r.config, dict(r.tags)) == ("finished", {"i": i}, {"k": "v"})
        assert r.metrics["loss"].count == 3 and r.metrics["loss"].last == pytest.approx(1 / 3)
    assert api.run(other).project == "sdk-other"


def test_a_deferred_run_is_readable_after_flush(server: LiveServer) -> None:
    one_run("sdk", 0)
    run = runtrack.init(project="sdk", config={"a": 1})
    run.log({"x": 2.0})
    assert run.flush(timeout=30)
    assert runtrack.Api(server.url).run(run.id).metrics["x"].last == 2.0
    run.finish()


def test_an_artifact_of_a_run_created_by_its_first_shipment(
    server: LiveServer, tmp_path: Path
) -> None:
    """log_artifact names the run to the server at once: the run is created first."""
    one_run("sdk", 0)
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"w" * 10_000)
    run = runtrack.init(project="sdk")
    version = run.log_artifact(weights, name="weights")
    assert version is not None and version.created_by == run.id
    run.finish()
    assert runtrack.Api(server.url).run(run.id).status == "finished"


def test_a_run_is_visible_from_the_moment_init_returns(server: LiveServer) -> None:
    """Even a run created by its first shipment: reading it through the Api has it made."""
    one_run("sdk", 0)
    run = runtrack.init(project="sdk", config={"a": 1})
    api = runtrack.Api(server.url)
    assert api.run(run.id).status == "running"
    other = runtrack.init(project="sdk", config={"a": 2})
    assert other.id in {r.id for r in api.runs("sdk", filter="run.status = 'running'")}
    other.finish()
    run.finish()
