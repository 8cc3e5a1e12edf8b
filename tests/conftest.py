"""Shared fixtures: an isolated RUNTRACK_DIR per test, and PostgreSQL databases of our own."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from _support import empty_bucket, fresh_pg_database, s3_client, start_moto, stop_moto


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's ~/.runtrack or a team server."""
    for var in list(os.environ):
        if var.startswith("RUNTRACK_") and var != "RUNTRACK_TEST_PG":
            monkeypatch.delenv(var)
    monkeypatch.setenv("RUNTRACK_DIR", str(tmp_path / "rt"))
    monkeypatch.setenv("RUNTRACK_QUIET", "1")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    with fresh_pg_database() as url:
        yield url


@pytest.fixture
def sdk(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An SDK without background noise (system metrics, console capture, package scans),
    whose process state (runs, opened stores) is reset afterwards."""
    from runtrack.client._state import STATE

    monkeypatch.setenv("RUNTRACK_SYSTEM_METRICS_INTERVAL", "0")
    monkeypatch.setenv("RUNTRACK_CONSOLE", "0")
    monkeypatch.setenv("RUNTRACK_CAPTURE_PACKAGES", "0")
    yield
    for run in list(STATE.runs):
        run.finish()
    for store in STATE.stores.values():
        store.close()
    STATE.stores.clear()
    STATE.artifact_stores.clear()
    STATE.recovered.clear()
    STATE.created_in.clear()
    STATE.seeds.clear()
    STATE.shared_provenance = None


# -- a real S3 (moto's server process), started once per session when a test asks ---------
@pytest.fixture(scope="session")
def make_s3_client() -> Callable[..., Any]:
    """``make_s3_client(endpoint, key=..., secret=...)``: a client to any moto server."""
    return s3_client


@pytest.fixture(scope="session")
def moto_server() -> Callable[..., AbstractContextManager[str]]:
    """``with moto_server(env) as url``: a moto server of a test's own (e.g. one that
    checks credentials, or one to stop midway)."""

    @contextlib.contextmanager
    def run(env: dict[str, str] | None = None) -> Iterator[str]:
        proc, url = start_moto(env)
        try:
            yield url
        finally:
            stop_moto(proc)

    return run


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    proc, url = start_moto()
    try:
        yield url
    finally:
        stop_moto(proc)


@pytest.fixture
def s3(moto_endpoint: str) -> Any:
    return s3_client(moto_endpoint)


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    name = f"rt-{uuid.uuid4().hex[:20]}"
    s3.create_bucket(Bucket=name)
    yield name
    empty_bucket(s3, name)
