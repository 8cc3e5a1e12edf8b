"""The TrackingStore contract over HTTP: RestStore -> the real server (in process) ->
SqlStore on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from runtrack.server.app import create_app
from runtrack.server.config import ServerConfig
from runtrack.store.base import TrackingStore
from runtrack.store.rest import RestStore
from runtrack.store.sql.store import SqlStore
from runtrack.testing.store_contract import TrackingStoreContract


def _factory(db_url: str, tmp_path: Path) -> Iterator[Callable[..., TrackingStore]]:
    opened: list[Any] = []

    def make(**options: Any) -> TrackingStore:
        sql = SqlStore(db_url, auto_upgrade=True, **options)
        config = ServerConfig(
            db_url=db_url,
            artifacts=str(tmp_path / "artifacts"),
            auth=False,
            allowed_hosts=("testserver",),
            access_log=False,
        )
        client = TestClient(create_app(config, store=sql))
        client.__enter__()
        opened.append((client, sql))
        return RestStore("http://testserver", client=client, retries=0)

    yield make
    for client, sql in opened:
        client.__exit__(None, None, None)
        sql.close()


class TestRestOverSqlite(TrackingStoreContract):
    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> Iterator[Callable[..., TrackingStore]]:
        yield from _factory(f"sqlite:///{tmp_path / 'rt.db'}", tmp_path)


@pytest.mark.postgres
class TestRestOverPostgres(TrackingStoreContract):
    @pytest.fixture
    def store_factory(self, pg_url: str, tmp_path: Path) -> Iterator[Callable[..., TrackingStore]]:
        yield from _factory(pg_url, tmp_path)
