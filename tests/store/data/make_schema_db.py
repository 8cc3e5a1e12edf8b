"""Write a database of the current schema revision with a little data in it, to be kept
as tests/store/data/schema_<rev>.db: future revisions must keep opening it.

    .venv/bin/python tests/store/data/make_schema_db.py
"""

from __future__ import annotations

import math
from array import array
from pathlib import Path

from runtrack.entities import MetricsRecord, OpRecord, RunBatch, RunSpec, StatusOp, TagsOp
from runtrack.store.sql.schema import SCHEMA_REVISION
from runtrack.store.sql.store import SqlStore


def main() -> None:
    path = Path(__file__).with_name(f"schema_{SCHEMA_REVISION}.db")
    path.unlink(missing_ok=True)
    store = SqlStore(f"sqlite:///{path}", auto_upgrade=True)
    spec = RunSpec(
        id="fixture0run00001",
        project="fixture",
        name="fixture-run",
        user="u",
        host="h",
        start_time=1_750_000_000.0,
        config={"lr": 0.01, "model": {"depth": 3}},
        tags={"stage": "prod"},
    )
    store.create_run(spec)
    recs = [
        MetricsRecord(
            i + 1,
            i,
            1_750_000_000.0 + i,
            ("loss", "acc"),
            array("d", [1.0 / (i + 1), math.nan if i == 3 else i / 10]),
        )
        for i in range(10)
    ]
    store.write(
        RunBatch(
            spec.id,
            "fixture",
            (
                *recs,
                OpRecord(11, TagsOp({"t": "x"})),
                OpRecord(12, StatusOp("finished", 1.75e9 + 20)),
            ),
        )
    )
    store.close()
    for suffix in ("-wal", "-shm", ".migrate.lock"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    print(path)


if __name__ == "__main__":
    main()
