"""The query compiler against real SQLite and PostgreSQL databases.

Runs are inserted directly into the schema's tables (as the SqlStore writes them), every
result is compared with a plain-Python reference evaluation of the same filter over the
same runs, with SQL's three-valued logic and the typed semantics of ``_query``.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    Engine,
    Float,
    Integer,
    LargeBinary,
    Table,
    create_engine,
    event,
    func,
    insert,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from runtrack import query as q
from runtrack.errors import QueryError, ValidationError
from runtrack.store.sql import _query_plan, schema
from runtrack.store.sql._query import count_runs, select_runs

NOW = 1_800_000_000.0


# -- databases ------------------------------------------------------------------------------------
def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA case_sensitive_like=ON")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
PG_ADMIN_URL = os.environ.get(
    "RUNTRACK_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def database(backend: str, directory: Path, pg_url: str | None = None) -> Iterator[Engine]:
    """An empty database with runtrack's tables: a SQLite file with the SqlStore's
    pragmas, or a PostgreSQL database (``pg_url``, else one of our own, dropped after)."""
    name = admin = None
    if backend == "sqlite":
        eng = create_engine(f"sqlite:///{directory / 'query.db'}")
        event.listen(eng, "connect", _sqlite_pragmas)
    elif pg_url is not None:
        eng = create_engine(pg_url)
    else:
        name = f"runtrack_test_{uuid.uuid4().hex[:12]}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        eng = create_engine(PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name)
    try:
        schema.metadata.create_all(eng)
        yield eng
    finally:
        eng.dispose()
        if admin is not None:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A fresh database per test (PostgreSQL: conftest's ``pg_url``)."""
    pg_url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    with database(request.param, tmp_path, pg_url) as eng:
        yield eng


# -- runs and how they are stored -----------------------------------------------------------------
@dataclass
class R:
    id: str
    project: int = 1
    name: str = "run"
    status: str = "finished"
    user: str = "ana"
    host: str = "h"
    start: float = 1_700_000_000.0
    end: float | None = None
    heartbeat: float | None = None
    parent: str | None = None
    group: str | None = None
    config: dict[str, Any] = field(default_factory=dict)  # flattened keys
    metrics: dict[str, float] = field(default_factory=dict)  # NaN allowed
    tags: dict[str, str] = field(default_factory=dict)


def _fill(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """Values for the NOT NULL columns these tests do not care about."""

    def default(col: Column[Any]) -> Any:
        if col.nullable:
            return None
        if isinstance(col.type, Float):
            return 0.0
        if isinstance(col.type, Integer):
            return 0
        if isinstance(col.type, LargeBinary):
            return b""
        return "{}" if col.name in ("config", "tags", "metrics", "summary", "provenance") else ""

    return {c.name: row[c.name] if c.name in row else default(c) for c in table.columns}


def _param(run_id: str, key: str, v: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"run_id": run_id, "key": key, "num": None, "str": None}
    if isinstance(v, bool):
        row.update(vtype="b", num=1.0 if v else 0.0)
    elif isinstance(v, int | float):
        row.update(vtype="n", num=None if math.isnan(v) else float(v))
    elif isinstance(v, str):
        row.update(vtype="s", str=v)
    elif v is None:
        row.update(vtype="z")
    else:
        row.update(vtype="j", str=json.dumps(v))
    return row


def insert_runs(engine: Engine, rs: Sequence[R]) -> None:
    with engine.begin() as conn:
        for pid in sorted({r.project for r in rs} | {1, 2}):
            conn.execute(insert(schema.projects).values(id=pid, name=f"p{pid}", created_at=0.0))
        conn.execute(
            insert(schema.runs),
            [
                _fill(
                    schema.runs,
                    {
                        "id": r.id, "project_id": r.project, "name": r.name, "status": r.status,
                        "user": r.user, "host": r.host, "start_time": r.start,
                        "end_time": r.end, "heartbeat": r.heartbeat, "parent_id": r.parent,
                        "grp": r.group,
                    },
                )
                for r in rs
            ],
        )  # fmt: skip
        params = [
            _fill(schema.run_params, _param(r.id, k, v)) for r in rs for k, v in r.config.items()
        ]
        if params:
            conn.execute(insert(schema.run_params), params)
        ms = [
            _fill(
                schema.metric_summaries,
                {"run_id": r.id, "key": k, "project_id": r.project,
                 "value": None if math.isnan(v) else v, "last": v, "count": 1},
            )
            for r in rs
            for k, v in r.metrics.items()
        ]  # fmt: skip
        if ms:
            conn.execute(insert(schema.metric_summaries), ms)
        tags = [
            _fill(schema.run_tags, {"run_id": r.id, "key": k, "value": v})
            for r in rs
            for k, v in r.tags.items()
        ]
        if tags:
            conn.execute(insert(schema.run_tags), tags)
    if engine.dialect.name == "postgresql":  # as autovacuum would soon after the writes
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")


def ids(
    engine: Engine,
    filter: str | None = None,
    order_by: Sequence[str] | str = (),
    *,
    project_id: int | None = 1,
    limit: int | None = None,
    offset: int = 0,
    now: float = NOW,
) -> list[str]:
    stmt = select_runs(
        [schema.runs.c.id],
        project_id=project_id,
        filter=filter,
        order_by=order_by,
        limit=limit,
        offset=offset,
        now=now,
    )
    with engine.connect() as conn:
        return [row.id for row in conn.execute(stmt)]


def count(engine: Engine, filter: str | None, project_id: int | None = 1) -> int:
    with engine.connect() as conn:
        stmt = count_runs(project_id=project_id, filter=filter, now=NOW)
        return int(conn.execute(stmt).scalar_one())


# -- the reference: the documented semantics in plain Python --------------------------------------
Truth = bool | None


def _canonical(v: int | float) -> str:
    return str(v) if isinstance(v, int) else repr(v)


def _epoch(text: str) -> float:
    dt = datetime.fromisoformat(text.strip())
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def _literal(f: q.Field, v: q.Number | q.String | q.Bool) -> Any:
    if f.kind == "run" and f.key in ("start_time", "end_time", "duration"):
        return _epoch(v.value) if isinstance(v, q.String) else float(v.value)
    if f.kind == "tags" or f.kind == "run":
        return _canonical(v.value) if isinstance(v, q.Number) else v.value  # type: ignore[arg-type]
    if f.kind == "metrics" or isinstance(v, q.Number):
        return float(v.value)
    return v.value


def _run_value(r: R, key: str, now: float) -> Any:
    if key == "duration":
        end = r.end if r.end is not None else r.heartbeat if r.heartbeat is not None else now
        return end - r.start
    return {
        "id": r.id, "name": r.name, "status": r.status, "user": r.user, "host": r.host,
        "group": r.group, "parent": r.parent, "start_time": r.start, "end_time": r.end,
    }[key]  # fmt: skip


def _typed(r: R, f: q.Field, sample: q.Number | q.String | q.Bool | None, now: float) -> Any:
    """The value a predicate sees, or None (unknown) when missing or of another type."""
    if f.kind == "run":
        return _run_value(r, f.key, now)
    if f.kind == "metrics":
        v = r.metrics.get(f.key)
        return None if v is None or math.isnan(v) else v
    if f.kind == "tags":
        return r.tags.get(f.key)
    if f.key not in r.config:
        return None
    v = r.config[f.key]
    if isinstance(sample, q.Bool):
        return v if isinstance(v, bool) else None
    if isinstance(sample, q.Number):
        ok = isinstance(v, int | float) and not isinstance(v, bool) and not math.isnan(v)
        return float(v) if ok else None
    return v if isinstance(v, str) else None


def _like_regex(pattern: str, ci: bool) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "%" else "." if c == "_" else re.escape(c))
        i += 1
    flags = re.DOTALL | (re.IGNORECASE | re.ASCII if ci else 0)
    return re.compile("".join(out), flags)


_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}  # fmt: skip


def evaluate(e: q.Expr, r: R, now: float = NOW) -> Truth:
    """Three-valued (Kleene) evaluation, as SQL does it."""
    if isinstance(e, q.And):
        vals = [evaluate(i, r, now) for i in e.items]
        return False if False in vals else None if None in vals else True
    if isinstance(e, q.Or):
        vals = [evaluate(i, r, now) for i in e.items]
        return True if True in vals else None if None in vals else False
    if isinstance(e, q.Not):
        v = evaluate(e.item, r, now)
        return None if v is None else not v
    if isinstance(e, q.IsNull):
        f = e.field
        if f.kind == "config":
            absent = f.key not in r.config or r.config[f.key] is None
        else:
            absent = _typed(r, f, None, now) is None
        return not absent if e.negated else absent
    if isinstance(e, q.Like):
        v = _typed(r, e.field, q.String(""), now)
        if v is None:
            return None
        hit = _like_regex(e.pattern, e.case_insensitive).fullmatch(v) is not None
        return not hit if e.negated else hit
    if isinstance(e, q.Compare):
        v = _typed(r, e.field, e.value, now)
        return None if v is None else _CMP[e.op](v, _literal(e.field, e.value))
    assert isinstance(e, q.In)
    v = _typed(r, e.field, e.values[0], now)
    if v is None:
        return None
    hit = v in [_literal(e.field, x) for x in e.values]
    return not hit if e.negated else hit


def reference(
    rs: Sequence[R],
    filter: str | None,
    order_by: Sequence[str] | str = (),
    project_id: int | None = 1,
    now: float = NOW,
) -> list[str]:
    expr = q.parse_filter(filter)
    hits = [
        r
        for r in rs
        if (project_id is None or r.project == project_id)
        and (expr is None or evaluate(expr, r, now) is True)
    ]
    hits.sort(key=lambda r: r.id, reverse=True)
    hits.sort(key=lambda r: r.start, reverse=True)
    for item in reversed(q.parse_order_by(order_by)):
        hits = _sort_by(hits, item, now)
    return [r.id for r in hits]


def _sort_by(rs: list[R], item: q.OrderItem, now: float) -> list[R]:
    """Stable sort by one key, missing values last in both directions."""
    f, desc = item.field, item.descending
    if f.kind == "config":
        groups: list[list[tuple[Any, R]]] = [[], [], []]  # numbers (bools as 0/1), strings, rest
        for r in rs:
            v = r.config.get(f.key)
            if isinstance(v, int | float) and not (isinstance(v, float) and math.isnan(v)):
                groups[0].append((float(v), r))
            elif isinstance(v, str):
                groups[1].append((v, r))
            else:
                groups[2].append((None, r))
        for g in groups[:2]:
            g.sort(key=lambda vr: vr[0], reverse=desc)
        return [r for g in groups for _, r in g]
    present = [(_typed(r, f, q.String("") if f.kind == "tags" else None, now), r) for r in rs]
    have = [(v, r) for v, r in present if v is not None]
    have.sort(key=lambda vr: vr[0], reverse=desc)
    return [r for _, r in have] + [r for v, r in present if v is None]


# -- hand-made runs: one per semantic corner ------------------------------------------------------
BASIC = [
    R("a", name="alpha", start=1000.0, end=1100.0, config={"lr": 0.01, "opt": "adam"},
      metrics={"auc": 0.9, "loss": 0.3}, tags={"stage": "prod", "seed": "5"}),
    R("b", name="beta", start=2000.0, end=2600.0, config={"lr": "auto", "opt": "sgd"},
      metrics={"auc": 0.7, "loss": float("nan")}, tags={"stage": "Prod", "seed": "0.5"}),
    R("c", name="gamma", start=3000.0, status="running", heartbeat=3500.0,
      config={"lr": True, "flag": True}, metrics={"auc": 0.95},
      tags={"stage": "dev", "seed": "5.0"}),
    R("d", name="delta", start=4000.0, status="failed", end=4010.0, config={"lr": None, "flag": 1},
      metrics={"loss": 0.1}, tags={"seed": "05"}),
    R("e", name="eps", start=5000.0, status="running", group="g1", config={"flag": False}),
    R("f", name="zeta", start=6000.0, end=6001.0, parent="a", group="g1",
      config={"lr": [1, 2]}, metrics={"auc": float("inf")}),
    R("g", name="eta", start=7000.0, end=7100.0, config={"lr": float("nan")},
      metrics={"auc": -float("inf")}, tags={"note": "100%"}),
    R("h", name="theta", start=8000.0, end=8500.0, config={"lr": 1}, tags={"note": "100"}),
    R("i", name="iota", start=9000.0, end=9001.0, config={"lr": False}, tags={"note": "a_b"}),
    R("j", name="kappa", start=10000.0, end=10001.0, tags={"note": "axb", "stage": "PROD"}),
    R("k", name="lambda", start=11000.0, end=11001.0, tags={"note": "back\\slash"}),
    R("l", name="mu", start=12000.0, end=12001.0, status="killed",
      tags={"note": "quote'd \"x\"", "uni": "ünï ✓ 数"}),
    R("m", project=2, name="other", start=500.0, end=600.0, metrics={"auc": 0.99},
      tags={"stage": "prod"}),
]  # fmt: skip


@pytest.fixture(scope="module", params=BACKENDS)
def basic(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """The hand-made runs, in one database per backend shared by the read-only tests
    (module scope, so not conftest's per-test ``pg_url``: ~90 cases share it)."""
    with database(request.param, tmp_path_factory.mktemp("basic")) as eng:
        insert_runs(eng, BASIC)
        yield eng


CASES: list[tuple[str, list[str]]] = [
    # config is typed by the literal: bools are not numbers, strings are not numbers
    ("config.lr = 1", ["h"]),
    ("config.lr = 1.0", ["h"]),
    ("config.lr != 1", ["a"]),
    ("not config.lr = 1", ["a"]),
    ("config.lr < 1", ["a"]),
    ("config.lr = true", ["c"]),
    ("config.lr != true", ["i"]),
    ("config.lr = false", ["i"]),
    ("config.lr = 'auto'", ["b"]),
    ("config.lr != 'auto'", []),
    ("config.lr like 'a%'", ["b"]),
    ("config.lr is null", ["d", "e", "j", "k", "l"]),
    ("config.lr is not null", ["a", "b", "c", "f", "g", "h", "i"]),
    ("config.lr = null", ["d", "e", "j", "k", "l"]),
    ("config.lr in (0.01, 1)", ["a", "h"]),
    ("config.lr not in (0.01)", ["h"]),
    ("config.lr in (true, false)", ["c", "i"]),
    ("config.flag = 1", ["d"]),
    ("config.flag = true", ["c"]),
    ("params.opt in ('adam', 'sgd')", ["a", "b"]),
    # metrics: NaN is null, infinities are numbers
    ("metrics.auc > 0.8", ["a", "c", "f"]),
    ("metrics.auc <= 0.8", ["b", "g"]),
    ("not metrics.auc > 0.8", ["b", "g"]),
    ("metrics.auc != 0.9", ["b", "c", "f", "g"]),
    ("metrics.loss is null", ["b", "c", "e", "f", "g", "h", "i", "j", "k", "l"]),
    ("metrics.loss is not null", ["a", "d"]),
    ("not metrics.loss is null", ["a", "d"]),
    ("metrics.auc in (0.9, 0.7)", ["a", "b"]),
    ("metrics.auc not in (0.9, 0.7)", ["c", "f", "g"]),
    ("metrics.auc > 1e308", ["f"]),
    ("metrics.auc < -1e308", ["g"]),
    # tags are strings; numbers compare as their canonical text
    ("tags.seed = 5", ["a"]),
    ("tags.seed = 0.5", ["b"]),
    ("tags.seed = 5.0", ["c"]),
    ("tags.seed in (5, 0.5)", ["a", "b"]),
    ("tags.seed = '05'", ["d"]),
    ("tags.stage = 'prod'", ["a"]),
    ("tags.stage != 'prod'", ["b", "c", "j"]),
    ("tags.stage like 'prod'", ["a"]),
    ("tags.stage ilike 'prod'", ["a", "b", "j"]),
    ("tags.stage not ilike 'PROD'", ["c"]),
    ("tags.stage like 'P%'", ["b", "j"]),
    ("tags.stage like '_rod'", ["a", "b"]),
    ("tags.note like '100%'", ["g", "h"]),
    (r"tags.note like '100\%'", ["g"]),
    ("tags.note like 'a_b'", ["i", "j"]),
    (r"tags.note like 'a\_b'", ["i"]),
    (r"tags.note like '%\\\\%'", ["k"]),
    (r"tags.note like 'back\\\\slash'", ["k"]),
    ("tags.note like '%''%'", ["l"]),
    ("tags.note like '%\"x\"'", ["l"]),
    ("tags.uni = 'ünï ✓ 数'", ["l"]),
    ("tags.uni like '%✓%'", ["l"]),
    ("tags.stage is null", ["d", "e", "f", "g", "h", "i", "k", "l"]),
    ("tags.stage > 'P'", ["a", "b", "c", "j"]),
    ("tags.stage > 'Prod'", ["a", "c"]),
    ("tags.stage < 'a'", ["b", "j"]),
    # run attributes
    ("run.status = 'running'", ["c", "e"]),
    ("run.status in ('failed', 'killed')", ["d", "l"]),
    ("run.status != 'finished'", ["c", "d", "e", "l"]),
    ("run.name like '%ta'", ["b", "d", "f", "g", "h", "i"]),
    ("run.name ilike 'ALPHA'", ["a"]),
    ("run.id in ('a', 'm', 'zz')", ["a"]),
    ("run.group = 'g1'", ["e", "f"]),
    ("run.group != 'g1'", []),
    ("run.group is null", ["a", "b", "c", "d", "g", "h", "i", "j", "k", "l"]),
    ("run.parent = 'a'", ["f"]),
    ("run.user = 'ana' and run.host = 'h'", list("abcdefghijkl")),
    ("run.start_time >= 11000", ["k", "l"]),
    ("run.start_time < '1970-01-01T00:20:00Z'", ["a"]),
    ("run.start_time < '1970-01-01 00:20'", ["a"]),
    ("run.start_time < '1970-01-01T01:20:00+01:00'", ["a"]),
    ("run.end_time is null", ["c", "e"]),
    ("run.end_time > 11000.5", ["k", "l"]),
    ("run.duration > 400", ["b", "c", "h", "e"]),
    ("run.duration = 1", ["f", "i", "j", "k", "l"]),
    # logic: NOT follows SQL, missing values never satisfy anything but `is null`
    ("not (metrics.auc > 0.8 and tags.stage = 'prod')", ["b", "c", "g", "j"]),
    ("not (metrics.auc > 0.8 or tags.stage = 'prod')", ["b"]),
    ("metrics.auc > 0.8 or tags.stage = 'prod'", ["a", "c", "f"]),
    ("not not metrics.auc > 0.8", ["a", "c", "f"]),
    ("not (metrics.auc > 0.8 or metrics.auc is null)", ["b", "g"]),
    ("(tags.seed = 5 or tags.seed = '05') and not run.status = 'failed'", ["a"]),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_semantics(basic: Engine, text: str, expected: list[str]) -> None:
    assert sorted(ids(basic, text)) == sorted(expected)
    assert sorted(reference(BASIC, text)) == sorted(expected)  # the reference agrees
    assert count(basic, text) == len(expected)


def test_all_projects_and_unknown_project(basic: Engine) -> None:
    assert set(ids(basic, "metrics.auc > 0.8", project_id=None)) == {"a", "c", "f", "m"}
    assert count(basic, "metrics.auc > 0.8", project_id=None) == 4
    assert ids(basic, project_id=99) == [] and count(basic, None, project_id=99) == 0
    assert ids(basic, "metrics.auc > 0.8", ["metrics.auc desc"], project_id=99, limit=5) == []


def test_default_order_is_newest_first(basic: Engine) -> None:
    assert ids(basic) == list("lkjihgfedcba")
    assert ids(basic, limit=3) == list("lkj")
    assert ids(basic, project_id=None)[-1] == "m"


@pytest.mark.parametrize("limit", [None, 3])
@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("metrics.auc desc", "fcabg" + "lkjihed"),
        ("metrics.auc asc", "gbacf" + "lkjihed"),
        ("metrics.loss", "da" + "lkjihgfecb"),
        ("tags.stage asc", "jbca" + "lkihgfed"),
        ("tags.stage desc", "acbj" + "lkihgfed"),
        ("run.end_time desc", "lkjihgfdba" + "ec"),
        ("run.end_time asc", "abdfghijkl" + "ec"),
        ("run.group desc", "fe" + "lkjihgdcba"),
        ("config.lr asc", "iahc" + "b" + "lkjgfed"),
        ("config.lr desc", "hcai" + "b" + "lkjgfed"),
        ("run.name", None),
        ("run.duration desc", None),
        (["tags.stage", "metrics.auc desc"], None),
    ],
)
def test_missing_values_sort_last(
    basic: Engine, order: str | list[str], expected: str | None, limit: int | None
) -> None:
    ref = reference(BASIC, None, order)
    if expected is not None:
        assert "".join(ref) == expected
    assert ids(basic, None, order, limit=limit) == ref[:limit]


def test_duration_uses_the_store_clock(basic: Engine) -> None:
    # e: running, no heartbeat -> now - start; c: running, heartbeat 3500 -> 500
    assert ids(basic, "run.duration >= 1000", now=5000.0 + 999) == []
    assert ids(basic, "run.duration >= 1000", now=5000.0 + 1000) == ["e"]
    assert set(ids(basic, "run.duration >= 500", now=5000.0 + 1000)) == {"b", "c", "e", "h"}


def test_string_order_is_by_code_point(engine: Engine) -> None:
    values = ["b", "B", "a", "é", "z", "", "Z", "ä", "数", "a b", "ab"]
    rs = [R(f"r{i}", start=float(i), tags={"t": v}) for i, v in enumerate(values)]
    insert_runs(engine, rs)
    assert ids(engine, None, "tags.t") == reference(rs, None, "tags.t")
    assert [rs[int(i[1:])].tags["t"] for i in ids(engine, None, "tags.t")] == sorted(values)
    assert ids(engine, "tags.t > 'Z'", "tags.t desc") == reference(
        rs, "tags.t > 'Z'", "tags.t desc"
    )
    assert ids(engine, None, "tags.t desc", limit=4) == reference(rs, None, "tags.t desc")[:4]


def test_pagination(basic: Engine) -> None:
    for order in ([], ["metrics.auc desc"], ["run.name"], ["config.lr"], ["run.start_time asc"]):
        full = ids(basic, None, order)
        pages = [ids(basic, None, order, limit=5, offset=o) for o in range(0, 15, 5)]
        assert [i for p in pages for i in p] == full, order
        assert ids(basic, None, order, limit=0) == []
        assert ids(basic, None, order, offset=10) == full[10:]
        assert ids(basic, None, order, limit=100, offset=11) == full[11:]


def test_bad_input_raises_before_any_sql() -> None:
    cols = [schema.runs.c.id]
    with pytest.raises(QueryError) as info:
        select_runs(cols, project_id=1, filter="metrics.auc >", now=0.0)
    assert info.value.position == 13
    with pytest.raises(QueryError):
        select_runs(cols, project_id=1, filter=None, order_by=["metrics.auc sideways"], now=0.0)
    with pytest.raises(QueryError):
        count_runs(project_id=1, filter="foo.bar = 1", now=0.0)
    for kw in ({"limit": -1}, {"offset": -1}, {"limit": True}, {"limit": 1.5}, {"offset": None}):
        with pytest.raises(ValidationError):
            select_runs(cols, project_id=1, filter=None, now=0.0, **kw)  # type: ignore[arg-type]


# -- injection ------------------------------------------------------------------------------------
HOSTILE = "'; drop table runs; --"


def test_injection_is_harmless(engine: Engine) -> None:
    rs = [R("x", tags={"t": HOSTILE}, config={"c": HOSTILE}), R("y", tags={"t": "ok"})]
    insert_runs(engine, rs)
    quoted = HOSTILE.replace("'", "''")
    for text in (
        f"tags.t = '{quoted}'",
        f"config.c = '{quoted}'",
        f"tags.t like '{quoted}%'",
        f"tags.t in ('{quoted}', 'a')",
        f"run.name = '{quoted}' or tags.t = '{quoted}'",
        f"tags.`{HOSTILE}` is null and tags.t = '{quoted}'",
    ):
        assert ids(engine, text) == ["x"], text
        assert ids(engine, text, ["metrics.`x; drop table runs`"], limit=5) == ["x"]
        assert ids(engine, text, [f"tags.`{HOSTILE}` desc"], limit=5) == ["x"]
    with engine.connect() as conn:  # the table survived
        assert conn.execute(select(func.count()).select_from(schema.runs)).scalar_one() == 2


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()])
@pytest.mark.parametrize("limit", [None, 10])
def test_every_literal_and_key_is_a_bound_parameter(dialect: Any, limit: int | None) -> None:
    text = (
        "tags.zzkey1 = 'needle1' and metrics.zzkey2 > 0.123456 and "
        "config.zzkey3 in ('needle2', 'needle3') and run.name like 'needle4%' and "
        f"(config.zzkey4 < 98765 or tags.zzkey5 = '{HOSTILE.replace(chr(39), chr(39) * 2)}')"
    )
    stmt = select_runs(
        [schema.runs.c.id], project_id=7, filter=text, order_by=["metrics.zzkey6 desc"],
        limit=limit, offset=3, now=4242.5,
    )  # fmt: skip
    compiled = stmt.compile(dialect=dialect)
    sql = str(compiled)
    for needle in ("needle", "zzkey", "0.123456", "98765", "drop table", "4242"):
        assert needle not in sql.lower(), needle
    values = {str(v) for v in compiled.params.values()}
    assert {"needle1", "zzkey2", "0.123456", HOSTILE} <= values


# -- property test: random runs, random filters, both plans ---------------------------------------
STAGES = ["dev", "prod", "Prod", "candidate", "", "100%", "a_b", "back\\slash", "o'neil", "数"]


def random_runs(rnd: random.Random, n: int) -> list[R]:
    rs = []
    for i in range(n):
        config: dict[str, Any] = {}
        for key, choices in (
            ("lr", [0.1, 0.01, 1e-3, 1, "auto", True, False, None, [1, 2], float("nan")]),
            ("opt", ["adam", "sgd", "Adam", "ad_m", 3, None]),
            ("depth", [2, 4, 6, 8, True]),
            ("flag", [True, False, 1, 0]),
        ):
            if rnd.random() < 0.85:
                config[key] = rnd.choice(choices)
        metrics = {}
        for key in ("auc", "loss", "val/acc"):
            r = rnd.random()
            if r < 0.8:
                metrics[key] = round(rnd.random(), 2)
            elif r < 0.87:
                metrics[key] = float("nan")
        tags = {}
        if rnd.random() < 0.8:
            tags["stage"] = rnd.choice(STAGES)
        if rnd.random() < 0.6:
            tags["seed"] = rnd.choice(["5", "0.5", "05", "10", "x"])
        status = rnd.choice(["finished", "finished", "failed", "running", "killed", "crashed"])
        start = float(rnd.randint(0, 60)) * 100
        end = None if status == "running" else start + rnd.choice([1, 50, 500, 5000])
        rs.append(
            R(
                f"r{i:04d}", project=1 if rnd.random() < 0.85 else 2,
                name=rnd.choice(["alpha", "beta", "Alpha-2", "g_h", "exp 1"]), status=status,
                user=rnd.choice(["ana", "bo"]), start=start, end=end,
                heartbeat=None if rnd.random() < 0.3 else start + 300,
                group=rnd.choice([None, "g1", "g2"]), parent=rnd.choice([None, None, "r0000"]),
                config=config, metrics=metrics, tags=tags,
            )
        )  # fmt: skip
    return rs


def random_atom(rnd: random.Random) -> str:
    kind = rnd.randrange(5)
    num = rnd.choice(["0.5", "0.01", "1", "0", "-1", "0.25", "1e-3", "2", "0.1"])
    op = rnd.choice(["=", "!=", "<", "<=", ">", ">=", "<>", "=="])
    if kind == 0:
        key = rnd.choice(["auc", "loss", "`val/acc`", "missing"])
        return rnd.choice(
            [
                f"metrics.{key} {op} {num}",
                f"metrics.{key} in ({num}, 0.5, 0.25)",
                f"metrics.{key} not in ({num}, 0.75)",
                f"metrics.{key} is null",
                f"metrics.{key} is not null",
            ]
        )
    if kind == 1:
        key = rnd.choice(["lr", "opt", "depth", "flag", "missing"])
        return rnd.choice(
            [
                f"config.{key} {op} {num}",
                f"params.{key} {rnd.choice(['=', '!='])} {rnd.choice(['true', 'false'])}",
                f"config.{key} {op} '{rnd.choice(['adam', 'auto', 'sgd', 'b'])}'",
                f"config.{key} in (1, 0.1, 4)",
                f"config.{key} not in ('adam', 'auto')",
                f"config.{key} in (true)",
                f"config.{key} {rnd.choice(['like', 'ilike', 'not like'])} 'a%'",
                f"config.{key} is {rnd.choice(['', 'not '])}null",
            ]
        )
    if kind == 2:
        key = rnd.choice(["stage", "seed", "missing"])
        pattern = rnd.choice(["pro%", "PRO%", "%d", "_rod", "%\\%", "a\\_b", "%", "%\\\\\\\\%"])
        value = rnd.choice(["prod", "dev", "", "5", "o''neil", "数"])
        return rnd.choice(
            [
                f"tags.{key} {op} '{value}'",
                f"tags.{key} {op} {rnd.choice(['5', '0.5', '10'])}",
                f"tags.{key} in ('prod', 'dev')",
                f"tags.{key} in (5, 10)",
                f"tags.{key} not in ('prod', '')",
                f"tags.{key} {rnd.choice(['like', 'ilike', 'not like', 'not ilike'])} '{pattern}'",
                f"tags.{key} is {rnd.choice(['', 'not '])}null",
            ]
        )
    if kind == 3:
        return rnd.choice(
            [
                f"run.status {rnd.choice(['=', '!='])} '{rnd.choice(['running', 'failed'])}'",
                "run.status in ('finished', 'crashed')",
                f"run.name {rnd.choice(['like', 'ilike', 'not like'])} 'alpha%'",
                f"run.start_time {op} {rnd.randint(0, 60) * 100}",
                f"run.start_time {op} '1970-01-01T01:00:00Z'",
                f"run.duration {op} {rnd.choice([50, 300, 500, 5000])}",
                f"run.end_time is {rnd.choice(['', 'not '])}null",
                f"run.group {rnd.choice(['=', '!='])} 'g1'",
                "run.parent is null",
                "run.id in ('r0001', 'r0002', 'r0003')",
            ]
        )
    return rnd.choice(["metrics.auc > 0.5", "tags.stage = 'prod'", "config.lr < 0.05"])


def random_filter(rnd: random.Random, depth: int = 0) -> str:
    if depth >= 3 or rnd.random() < 0.4:
        return random_atom(rnd)
    parts = [random_filter(rnd, depth + 1) for _ in range(rnd.randint(2, 3))]
    text = f" {rnd.choice(['and', 'or', 'AND', 'Or'])} ".join(parts)
    if rnd.random() < 0.5:
        text = f"({text})"
    if rnd.random() < 0.3:
        text = f"not ({text})"
    return text


ORDERS: list[list[str]] = [
    [], ["metrics.auc desc"], ["metrics.auc"], ["metrics.loss desc", "tags.stage"],
    ["run.start_time"], ["run.start_time desc"], ["config.lr"], ["config.lr desc"],
    ["tags.stage desc"], ["run.end_time"], ["metrics.missing desc"], ["run.duration desc"],
    ["metrics.`val/acc`", "config.opt desc"],
]  # fmt: skip


@pytest.mark.parametrize("threshold", ["default", "walk", "drive"])
def test_random_filters_match_the_reference(
    engine: Engine, threshold: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Random runs and filters: every result equals the reference, in order, on both
    plans of a page (the threshold forces walking the index or driving from a condition)."""
    if threshold == "walk":
        monkeypatch.setattr(_query_plan, "_threshold", lambda k: 1)
    elif threshold == "drive":
        monkeypatch.setattr(_query_plan, "_threshold", lambda k: 10**6)
    rnd = random.Random(20261101)
    rs = random_runs(rnd, 220)
    insert_runs(engine, rs)
    checked = 0
    for _ in range(120):
        text = random_filter(rnd)
        order = rnd.choice(ORDERS)
        expected = reference(rs, text, order)
        assert ids(engine, text, order) == expected, (text, order)
        limit, offset = rnd.choice([1, 3, 10]), rnd.choice([0, 0, 2, 7])
        page = ids(engine, text, order, limit=limit, offset=offset)
        assert page == expected[offset : offset + limit], (text, order, limit, offset)
        if rnd.random() < 0.3:
            assert count(engine, text) == len(expected), text
            everywhere = reference(rs, text, order, project_id=None)
            assert ids(engine, text, order, project_id=None) == everywhere, text
        checked += bool(expected)
    assert checked > 40  # most filters match something


# -- the language's limits compile to SQL both databases accept -------------------------------
def _limit_filters() -> list[str]:
    many_or = " or ".join(f"tags.k{i % 7} = '{i}'" for i in range(q.MAX_TERMS))
    many_and = " and ".join(f"config.c{i} >= {i}" for i in range(20))  # > joins in one statement
    deep = "not (" * 50 + "metrics.auc > 0.5" + ")" * 50  # 100 levels of nesting
    nested = "(" * 99 + "tags.k1 = '1' or (config.c1 >= 1 and metrics.auc > 0.5)" + ")" * 99
    long_in = "tags.k3 in (" + ", ".join(f"'{i}'" for i in range(q.MAX_IN_VALUES)) + ")"
    return [many_or, many_and, deep, nested, long_in]


@pytest.mark.parametrize("which", range(5))
def test_limits_of_the_language_run(engine: Engine, which: int) -> None:
    rs = [
        R(
            f"r{i:03d}", start=float(i), metrics={"auc": i / 40},
            config={f"c{j}": i + j for j in range(20)},
            tags={f"k{j}": str((i * (j + 3)) % 200) for j in range(7)},
        )
        for i in range(40)
    ]  # fmt: skip
    insert_runs(engine, rs)
    text = _limit_filters()[which]
    expected = reference(rs, text)
    assert ids(engine, text) == expected
    assert count(engine, text) == len(expected)
    for order in (["metrics.auc desc"], [], ["config.c3"]):
        assert ids(engine, text, order, limit=5) == reference(rs, text, order)[:5]
