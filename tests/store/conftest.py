"""Fixtures of the store tests that run on both SQL backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runtrack.store.sql import _downsample


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database: a SQLite file, then PostgreSQL (a database of its own)."""
    if request.param == "postgres":
        yield request.getfixturevalue("pg_url")
    else:
        yield f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def at_write(monkeypatch: pytest.MonkeyPatch) -> None:
    """Envelopes and overviews computed at write, whatever the test process has imported."""
    monkeypatch.setattr(_downsample, "WRITE_ENVELOPES", True)
