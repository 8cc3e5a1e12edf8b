"""PostgreSQL without autovacuum: the store analyzes the tables it grows."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from runtrack.entities import NewRun, RunSpec
from runtrack.store.sql.store import SqlStore

pytestmark = pytest.mark.postgres


def test_tables_are_analyzed_as_runs_are_created(pg_url: str) -> None:
    store = SqlStore(pg_url)
    try:
        with store.engine.connect() as conn:
            autovacuum = conn.execute(text("SHOW autovacuum")).scalar()

        def analyses() -> int:
            with store.engine.connect() as conn:
                q = "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'runs'"
                return int(conn.execute(text(q)).scalar() or 0)

        before = analyses()

        def analyzed(wait: float = 0.0) -> bool:
            deadline = time.monotonic() + wait  # statistics reach the views within ~1 s
            while analyses() <= before:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.1)
            return True

        specs = [RunSpec(f"an{i:06d}", "p", "r", "u", "h", 1.7e9) for i in range(250)]
        store.create_runs([NewRun(s) for s in specs[:150]])
        assert not analyzed()  # below the first threshold
        store.create_runs([NewRun(s) for s in specs[150:]])
        assert analyzed(wait=5.0) == (autovacuum == "off")
    finally:
        store.close()
