"""Helpers of the chart-envelope and overview tests: write a run's metric records in
batches, and read what the database holds."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import text

from runtrack.entities import MetricsRecord, RunBatch, RunSpec
from runtrack.store.sql import _codec
from runtrack.store.sql._engine import make_engine
from runtrack.store.sql.store import SqlStore

FULL = _codec.CHUNK_POINTS


def write_batches(
    url: str, run_id: str, records: list[MetricsRecord], sizes: list[int], *, create: bool
) -> None:
    """``records`` of run ``run_id`` in batches of ``sizes`` records (the rest in a last
    one); ``create`` creates the run first."""
    s = SqlStore(url, auto_upgrade=True)
    try:
        if create:
            s.create_run(RunSpec(run_id, "p", "r", "u", "h", time.time()))
        done = 0
        for size in [*sizes, len(records) - sum(sizes)]:
            if size > 0:
                s.write(RunBatch(run_id, "main", tuple(records[done : done + size])))
                done += size
        assert done == len(records)
    finally:
        s.close()


def rows(url: str, sql: str, **params: Any) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            return list(c.execute(text(sql), params).all())
    finally:
        engine.dispose()


def full_chunks(url: str) -> list[tuple[str, int]]:
    """(key, seq) of every full chunk."""
    q = "SELECT key, seq FROM metric_chunks WHERE n = :n ORDER BY key, seq"
    return [(r[0], r[1]) for r in rows(url, q, n=FULL)]
