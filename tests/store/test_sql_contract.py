"""The TrackingStore contract on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from runtrack.store.base import TrackingStore
from runtrack.store.sql.store import SqlStore
from runtrack.testing.store_contract import TrackingStoreContract


class TestSqliteStore(TrackingStoreContract):
    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> Iterator[Callable[..., TrackingStore]]:
        def make(**options: Any) -> TrackingStore:
            return SqlStore(f"sqlite:///{tmp_path / 'rt.db'}", **options)

        yield make


@pytest.mark.postgres
class TestPostgresStore(TrackingStoreContract):
    @pytest.fixture
    def store_factory(self, pg_url: str) -> Iterator[Callable[..., TrackingStore]]:
        made: list[TrackingStore] = []

        def make(**options: Any) -> TrackingStore:
            s = SqlStore(pg_url, **options)
            made.append(s)
            return s

        yield make
        for s in made:
            s.close()
