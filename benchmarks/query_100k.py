"""Time the run query compiler on 100,000 runs, on SQLite and PostgreSQL.

Each run has 20 config keys, 10 metric summaries and 3 tags (rows in ``run_params``,
``metric_summaries`` and ``run_tags`` as the SqlStore writes them). The script prints the
median of 10 executions (after one warm-up) of:

* target: ``metrics.auc > 0.9 and params.optimizer = 'adam'`` ordered by
  ``metrics.auc desc``, top 100 (the query of the MLflow anchor benchmark);
* a numeric variant: ``config.lr < 1e-3 and metrics.auc > 0.6``, same order, top 100;
* ``count_runs`` of the target filter;
* a few other shapes for reference (default order, sort without a metric filter, ...).

Usage::

    .venv/bin/python benchmarks/query_100k.py                 # both backends
    .venv/bin/python benchmarks/query_100k.py --backend sqlite --runs 20000
    .venv/bin/python benchmarks/query_100k.py --explain       # also print the query plans

PostgreSQL: ``RUNTRACK_TEST_PG`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/
postgres``) names a server where the script may create and drop a scratch database. Its
tables are ANALYZEd after loading (autovacuum would do so within a minute); SQLite's are
not, as the SqlStore does not run ANALYZE (``--sqlite-analyze`` to compare).

Recorded (2026-11, 2 noisy cores, SQLite 3.40.1, PostgreSQL 15 with default settings
and with ``jit=off``; medians of 10, ms)::

    query                                              SQLite   PG    PG jit=off
    target: auc>0.9 & optimizer=adam, auc desc, 100     11.0   17.7     20.3
    config.lr<1e-3 & auc>0.6, auc desc, 100             10.7    8.7     11.4
    config.data.path = one of 51 (2%) & auc>0.5         21.7   26.4     39.5
    config.seed = 1234 (15 runs), auc desc               0.4    3.1      5.9
    tags: two conditions, 1.6% together                 78.0  185.6     91.1
    no filter, auc desc, 100 / page 11                 0.9/22.6  2.4/13.3  3.3/13.3
    default order (newest), 100                          0.4    0.7      0.9
    order by config.lr (no index order), auc>0.9       253    332      245
    count_runs(target filter) = 4967                   247    270      274
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Float,
    Integer,
    LargeBinary,
    Table,
    create_engine,
    event,
    text,
)

from runtrack.store.sql import _query, schema

PG_ADMIN_URL = os.environ.get(
    "RUNTRACK_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
NOW = 1_800_000_000.0
QUERIES: list[tuple[str, str | None, list[str], int | None]] = [
    # (label, filter, order_by, limit)
    (
        "target: auc>0.9 & optimizer=adam, order auc desc, top 100",
        "metrics.auc > 0.9 and params.optimizer = 'adam'",
        ["metrics.auc desc"],
        100,
    ),
    (
        "config.lr<1e-3 & auc>0.6, order auc desc, top 100",
        "config.lr < 1e-3 and metrics.auc > 0.6",
        ["metrics.auc desc"],
        100,
    ),
    (
        "selective: config.lr<2e-5 & auc>0.5, order auc desc, top 100",
        "config.lr < 2e-5 and metrics.auc > 0.5",
        ["metrics.auc desc"],
        100,
    ),
    (
        "rare: config.seed=1234 (~10 runs), order auc desc, top 100",
        "config.seed = 1234",
        ["metrics.auc desc"],
        100,
    ),
    (
        "2%: config.data.path=.../7 & auc>0.5, order auc desc, top 100",
        "config.data.path = 's3://bucket/data/7' and metrics.auc > 0.5",
        ["metrics.auc desc"],
        100,
    ),
    (
        "5%: tags.dataset='ds-3' & tags.team='nlp', order val_loss asc, top 100",
        "tags.dataset = 'ds-3' and tags.team = 'nlp'",
        ["metrics.val_loss asc"],
        100,
    ),
    ("no filter, order auc desc, top 100", None, ["metrics.auc desc"], 100),
    ("no filter, order auc desc, page 11 (offset 1000)", None, ["metrics.auc desc"], -1000),
    ("no filter, order auc asc, top 100", None, ["metrics.auc asc"], 100),
    ("no filter, default order (newest), top 100", None, [], 100),
    (
        "tags.stage='prod' or config.model.depth>=10, newest, top 100",
        "tags.stage = 'prod' or config.model.depth >= 10",
        [],
        100,
    ),
    (
        "run.status='finished' & duration>3000, newest, top 100",
        "run.status = 'finished' and run.duration > 3000",
        [],
        100,
    ),
    ("config.optimizer='adam', newest, top 100", "config.optimizer = 'adam'", [], 100),
    ("config.seed=1234, newest, top 100", "config.seed = 1234", [], 100),
    (
        "order config.lr asc (no index order), top 100",
        "metrics.auc > 0.9",
        ["config.lr asc"],
        100,
    ),
]
COUNT_FILTER = "metrics.auc > 0.9 and params.optimizer = 'adam'"


# -- data -------------------------------------------------------------------------------
Row = dict[str, Any]


def generate(n_runs: int, seed: int = 0) -> Iterator[tuple[Row, list[Row], list[Row], list[Row]]]:
    """Yield (run row, param rows, metric rows, tag rows) for ``n_runs`` runs."""
    rnd = random.Random(seed)
    statuses = (
        ["finished"] * 80 + ["failed"] * 10 + ["running"] * 5 + ["killed"] * 3 + ["crashed"] * 2
    )
    t0 = NOW - 365 * 86400
    for i in range(n_runs):
        rid = f"r{i:08d}"
        start = t0 + i * (365 * 86400 / n_runs) + rnd.random()
        status = rnd.choice(statuses)
        end = None if status == "running" else start + rnd.uniform(60, 7200)
        config: dict[str, Any] = {
            "lr": 10 ** rnd.uniform(-5, -1),
            "optimizer": rnd.choice(["adam", "sgd", "adamw", "rmsprop"]),
            "batch_size": rnd.choice([16, 32, 64, 128, 256]),
            "epochs": rnd.randint(1, 100),
            "dropout": rnd.uniform(0, 0.5),
            "model.depth": rnd.randint(2, 12),
            "model.width": rnd.choice([64, 128, 256, 512]),
            "model.name": rnd.choice(["resnet", "vit", "mlp", "gbdt"]),
            "seed": rnd.randint(0, 10_000),
            "use_amp": rnd.random() < 0.5,
            "weight_decay": rnd.choice([0.0, 1e-4, 1e-3]),
            "warmup": rnd.randint(0, 1000),
            "scheduler": rnd.choice(["cosine", "step", "none"]),
            "data.path": f"s3://bucket/data/{rnd.randint(0, 50)}",
            "data.split": rnd.choice([0.1, 0.2, 0.3]),
            "grad_clip": None if rnd.random() < 0.3 else rnd.uniform(0.1, 5),
            "layers": [rnd.randint(1, 9) for _ in range(3)],
            "momentum": rnd.uniform(0.8, 0.99),
            "label_smoothing": rnd.choice([0.0, 0.1]),
            "num_workers": rnd.choice([2, 4, 8]),
        }
        metrics = {
            "auc": 0.5 + rnd.random() * 0.5,
            "loss": rnd.random() * 2,
            "acc": rnd.random(),
            "val_loss": rnd.random() * 2 if rnd.random() > 0.01 else math.nan,
            "val/acc": rnd.random(),
            "f1": rnd.random(),
            "precision": rnd.random(),
            "recall": rnd.random(),
            "train.loss": rnd.random(),
            "epoch_time": rnd.uniform(1, 100),
        }
        tags = {
            "stage": rnd.choice(["dev", "candidate", "prod", "dev", "dev"]),
            "team": rnd.choice(["vision", "nlp", "tabular"]),
            "dataset": f"ds-{rnd.randint(0, 20)}",
        }
        run = {
            "id": rid,
            "project_id": 1,
            "name": f"run-{i}",
            "status": status,
            "user": rnd.choice(["ana", "bo", "chen"]),
            "host": f"gpu{rnd.randint(0, 9)}",
            "start_time": start,
            "end_time": end,
            "heartbeat": end if end is not None else NOW - rnd.uniform(0, 600),
            "parent_id": None,
            "grp": None if rnd.random() < 0.5 else f"g{i % 100}",
            "notes": None,
            "error": None,
            "config": json.dumps(config),
            "tags": json.dumps(tags),
            "metrics": json.dumps({k: [v, v, v, 1, 0] for k, v in metrics.items()}),
            "summary": "{}",
            "provenance": "{}",
            "inputs": "[]",
        }
        params = [
            dict(
                zip(("run_id", "key", "vtype", "num", "str"), (rid, k, *param_row(v)), strict=True)
            )
            for k, v in config.items()
        ]
        mrows = [
            {
                "run_id": rid,
                "key": k,
                "project_id": 1,
                "value": None if math.isnan(v) else v,
                "last": v,
                "min": v,
                "max": v,
                "count": 1,
                "last_step": 0,
            }
            for k, v in metrics.items()
        ]
        trows = [{"run_id": rid, "key": k, "value": v} for k, v in tags.items()]
        yield run, params, mrows, trows


def param_row(v: Any) -> tuple[str, float | None, str | None]:
    """(vtype, num, str) as the SqlStore stores one flattened config value."""
    if v is None:
        return ("z", None, None)
    if isinstance(v, bool):
        return ("b", 1.0 if v else 0.0, None)
    if isinstance(v, int | float):
        return ("n", float(v), None)
    if isinstance(v, str):
        return ("s", None, v)
    return ("j", None, json.dumps(v))


def _default(col: Column[Any]) -> Any:
    """A filler for NOT NULL columns the benchmark does not care about."""
    if col.nullable:
        return None
    if isinstance(col.type, Float):
        return 0.0
    if isinstance(col.type, Integer):  # BigInteger is one
        return 0
    if isinstance(col.type, LargeBinary):
        return b""
    return ""


def _tuples(table: Table, rows: list[Row]) -> tuple[list[str], list[tuple[Any, ...]]]:
    cols = list(table.columns)
    return [c.name for c in cols], [
        tuple(r[c.name] if c.name in r else _default(c) for c in cols) for r in rows
    ]


def load(engine: Engine, n_runs: int, analyze: bool = True) -> None:
    schema.metadata.create_all(engine)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("INSERT INTO projects (id, name, created_at) VALUES (1, 'bench', 0)")
        batch: list[Any] = []
        for item in generate(n_runs):
            batch.append(item)
            if len(batch) >= 5000:
                _insert(engine, cur, batch)
                batch = []
        if batch:
            _insert(engine, cur, batch)
        raw.commit()
    finally:
        raw.close()
    if analyze:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))


def _insert(engine: Engine, cur: Any, batch: list[Any]) -> None:
    for table, rows in (
        (schema.runs, [r for r, _, _, _ in batch]),
        (schema.run_params, [p for _, ps, _, _ in batch for p in ps]),
        (schema.metric_summaries, [m for _, _, ms, _ in batch for m in ms]),
        (schema.run_tags, [t for _, _, _, ts in batch for t in ts]),
    ):
        names, tuples = _tuples(table, rows)
        collist = ", ".join(f'"{c}"' for c in names)
        if engine.dialect.name == "sqlite":
            marks = ", ".join("?" * len(names))
            cur.executemany(f"INSERT INTO {table.name} ({collist}) VALUES ({marks})", tuples)
        else:
            with cur.copy(f"COPY {table.name} ({collist}) FROM STDIN") as copy:
                for row in tuples:
                    copy.write_row(row)


# -- engines ----------------------------------------------------------------------------
@contextmanager
def sqlite_engine(n_runs: int, path: str | None, analyze: bool) -> Iterator[Engine]:
    tmp = None
    if path is None:
        tmp = tempfile.TemporaryDirectory()
        path = str(Path(tmp.name) / "bench.db")
    fresh = not Path(path).exists()
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA case_sensitive_like=ON")
        cur.close()

    try:
        if fresh:
            t = time.perf_counter()
            load(engine, n_runs, analyze=analyze)
            print(f"  sqlite: loaded {n_runs} runs in {time.perf_counter() - t:.1f} s")
        yield engine
    finally:
        engine.dispose()
        if tmp is not None:
            tmp.cleanup()


@contextmanager
def pg_engine(n_runs: int, keep: str | None, jit_off: bool) -> Iterator[Engine]:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = keep or f"runtrack_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        ).first()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    connect_args = {"options": "-c jit=off"} if jit_off else {}
    engine = create_engine(PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name, connect_args=connect_args)
    try:
        if not exists:
            t = time.perf_counter()
            load(engine, n_runs)
            print(f"  postgresql: loaded {n_runs} runs in {time.perf_counter() - t:.1f} s")
        yield engine
    finally:
        engine.dispose()
        if keep is None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


# -- timing -----------------------------------------------------------------------------
def median_ms(engine: Engine, stmt: Any, repeat: int) -> tuple[float, int]:
    with engine.connect() as conn:
        rows = len(conn.execute(stmt).all())  # warm-up
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            rows = len(conn.execute(stmt).all())
            times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), rows


def explain(engine: Engine, stmt: Any) -> str:
    compiled = stmt.compile(engine, compile_kwargs={"render_postcompile": True})
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    params: Any = compiled.params
    if compiled.positiontup is not None:  # SQLite: positional parameters
        params = tuple(compiled.params[name] for name in compiled.positiontup)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(prefix + str(compiled), params).all()
    if engine.dialect.name == "sqlite":
        return "\n".join(f"    {r[-1]}" for r in rows)
    return "\n".join(f"    {r[0]}" for r in rows)


def bench(engine: Engine, repeat: int, show_plans: bool) -> None:
    cols = [
        schema.runs.c.id,
        schema.runs.c.name,
        schema.runs.c.status,
        schema.runs.c.config,
        schema.runs.c.tags,
        schema.runs.c.metrics,
    ]
    for label, flt, order, limit in QUERIES:
        offset = 0
        if limit is not None and limit < 0:  # a page further down: offset -limit, 100 rows
            offset, limit = -limit, 100
        stmt = _query.select_runs(
            cols, project_id=1, filter=flt, order_by=order, limit=limit, offset=offset, now=NOW
        )
        ms, rows = median_ms(engine, stmt, repeat)
        print(f"  {ms:8.2f} ms  {rows:4d} rows  {label}")
        if show_plans:
            print(explain(engine, stmt))
    stmt = _query.count_runs(project_id=1, filter=COUNT_FILTER, now=NOW)
    ms, _ = median_ms(engine, stmt, repeat)
    with engine.connect() as conn:
        n = conn.execute(stmt).scalar_one()
    print(f"  {ms:8.2f} ms  count_runs({COUNT_FILTER!r}) = {n}")
    if show_plans:
        print(explain(engine, stmt))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--explain", action="store_true", help="print the query plans too")
    ap.add_argument("--sqlite-path", help="keep/reuse the SQLite database at this path")
    ap.add_argument("--pg-keep", metavar="DBNAME", help="keep/reuse this PostgreSQL database")
    ap.add_argument(
        "--pg-jit-off", action="store_true", help="connect with jit=off (recommended setting)"
    )
    ap.add_argument(
        "--sqlite-analyze", action="store_true", help="ANALYZE the SQLite database after loading"
    )
    args = ap.parse_args(argv)
    print(f"runtrack query benchmark: {args.runs} runs, median of {args.repeat}")
    if args.backend in ("sqlite", "both"):
        import sqlite3

        print(
            f"SQLite {sqlite3.sqlite_version} (ANALYZE: {'yes' if args.sqlite_analyze else 'no'})"
        )
        with sqlite_engine(args.runs, args.sqlite_path, args.sqlite_analyze) as engine:
            bench(engine, args.repeat, args.explain)
    if args.backend in ("postgresql", "both"):
        with pg_engine(args.runs, args.pg_keep, args.pg_jit_off) as engine:
            with engine.connect() as conn:
                version = conn.execute(text("SELECT version()")).scalar_one().split(",")[0]
                jit = conn.execute(text("SHOW jit")).scalar_one()
                print(f"{version} (jit={jit})")
            bench(engine, args.repeat, args.explain)
    return 0


if __name__ == "__main__":
    sys.exit(main())
