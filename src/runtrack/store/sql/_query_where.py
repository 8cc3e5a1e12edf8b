"""The WHERE side of the query compiler: the filter in negation normal form, and the
conditions on runs, config (``run_params``), metrics and tags. See ``_query`` for the
semantics."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Final

from sqlalchemy import (
    Float,
    Integer,
    String,
    and_,
    case,
    false,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.selectable import FromClause

from ...query import ast as q
from ...query._semantics import (
    canonical_string,
    escape_like,
    field_type,
    like_segments,
    parse_timestamp,
)
from . import schema

runs = schema.runs
_MAX_JOINS: Final = 8  # required fields inner-joined in a plain statement; others EXISTS
_MAX_CANDIDATES: Final = 3  # conditions whose candidate count the adaptive plan weighs
_RUN_COLUMNS: Final = {
    "id": runs.c.id,
    "name": runs.c.name,
    "status": runs.c.status,
    "user": runs.c.user,
    "host": runs.c.host,
    "group": runs.c.grp,
    "parent": runs.c.parent_id,
    "start_time": runs.c.start_time,
    "end_time": runs.c.end_time,
}
_OPS: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_NEGATED: Final[dict[q.CompareOp, q.CompareOp]] = {
    "=": "!=",
    "!=": "=",
    "<": ">=",
    ">=": "<",
    ">": "<=",
    "<=": ">",
}
Cond = ColumnElement[bool]
FieldId = tuple[str, str]  # (kind, key)


# -- the syntax tree, normalised -----------------------------------------------------------
def _nnf(e: q.Expr | None, negate: bool = False) -> q.Expr | None:
    """Negation normal form: ``not`` pushed into the predicates (three-valued logic
    preserved), nested ``and``/``or`` flattened."""
    if e is None:
        return None
    if isinstance(e, q.Not):
        return _nnf(e.item, not negate)
    if isinstance(e, q.And | q.Or):
        items = [x for x in (_nnf(i, negate) for i in e.items) if x is not None]
        conj = isinstance(e, q.And) != negate
        cls: type[q.And] | type[q.Or] = q.And if conj else q.Or
        flat: list[q.Expr] = []
        for item in items:
            flat.extend(item.items if isinstance(item, cls) else (item,))
        return cls(tuple(flat), e.position)
    if not negate:
        return e
    if isinstance(e, q.Compare):
        return replace(e, op=_NEGATED[e.op])
    return replace(e, negated=not e.negated)


def _conjuncts(e: q.Expr | None) -> list[q.Expr]:
    if e is None:
        return []
    return list(e.items) if isinstance(e, q.And) else [e]


def _requires_value(e: q.Expr) -> bool:
    """Does the predicate hold only for runs where its field has a value?"""
    return isinstance(e, q.Compare | q.In | q.Like) or (isinstance(e, q.IsNull) and e.negated)


def _required(e: q.Expr | None) -> list[FieldId]:
    """Key/value fields that every matching run must have (top-level ``and``)."""
    out: list[FieldId] = []
    for c in _conjuncts(e):
        if _requires_value(c):
            f = c.field  # type: ignore[union-attr]
            if f.kind != "run" and (f.kind, f.key) not in out:
                out.append((f.kind, f.key))
    return out


def _dedupe(items: list[q.OrderItem]) -> list[q.OrderItem]:
    seen: set[FieldId] = set()
    out = []
    for item in items:
        fid = (item.field.kind, item.field.key)
        if fid not in seen:
            seen.add(fid)
            out.append(item)
    return out


def _walkable(order: list[q.OrderItem]) -> bool:
    if not order:
        return True
    f = order[0].field
    return f.kind == "metrics" or (f.kind == "run" and f.key == "start_time")


# -- fields --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Context:
    project_id: int | None  # one project (the plans can use the per-project indexes)
    now: float
    project_ids: tuple[int, ...] | None = None  # several projects (project_id is None)


def _table(kind: str) -> Any:
    return {
        "config": schema.run_params,
        "metrics": schema.metric_summaries,
        "tags": schema.run_tags,
    }[kind]


def _on(a: FromClause, kind: str, key: str, ctx: _Context) -> Cond:
    cond = and_(a.c.run_id == runs.c.id, a.c.key == key)
    if kind == "metrics" and ctx.project_id is not None:
        cond = and_(cond, a.c.project_id == ctx.project_id)  # lets the sort index serve
    return cond


def _present(a: FromClause, kind: str) -> Cond:
    """The row of a key/value field holds a value (the row itself may be missing)."""
    if kind == "config":
        return a.c.vtype != "z"
    if kind == "metrics":
        return a.c.value.is_not(None)
    return a.c.run_id.is_not(None)


def _absent(a: FromClause, kind: str) -> Cond:
    """``is null`` through an outer-joined row."""
    if kind == "config":
        return or_(a.c.run_id.is_(None), a.c.vtype == "z")
    if kind == "metrics":
        return a.c.value.is_(None)
    return a.c.run_id.is_(None)


class _bytewise(FunctionElement[str]):
    """A string expression compared by code point: ``COLLATE "C"`` on PostgreSQL (SQLite
    compares bytes already, and UTF-8 byte order is code point order)."""

    type = String()
    name = "bytewise"
    inherit_cache = True


@compiles(_bytewise)
def _bytewise_default(element: _bytewise, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(_bytewise, "postgresql")
def _bytewise_pg(element: _bytewise, compiler: SQLCompiler, **kw: Any) -> str:
    return f'({compiler.process(element.clauses, **kw)}) COLLATE "C"'


class _gated_limit(FunctionElement[int]):
    """``LIMIT`` of an adaptive branch: ``CASE WHEN gate THEN k ELSE 0 END`` on SQLite
    (which skips a ``LIMIT 0`` branch at once, while it would test a WHERE gate on every
    row), the constant ``k`` on PostgreSQL (which skips the branch through the WHERE
    gate, a one-time filter, and needs a constant to cost the branch sensibly)."""

    type = Integer()
    name = "gated_limit"
    inherit_cache = True


@compiles(_gated_limit)
def _gated_limit_default(element: _gated_limit, compiler: SQLCompiler, **kw: Any) -> str:
    gate, k = element.clauses
    return compiler.process(case((gate, k), else_=0), **kw)


@compiles(_gated_limit, "postgresql")
def _gated_limit_pg(element: _gated_limit, compiler: SQLCompiler, **kw: Any) -> str:
    _gate, k = element.clauses
    return compiler.process(k, **kw)


class _unindexed(FunctionElement[Any]):
    """A column SQLite must not use an index for: ``+col``, SQLite's documented way to
    steer its planner. Elsewhere the plain column (PostgreSQL estimates with it)."""

    name = "unindexed"
    inherit_cache = True

    def __init__(self, col: ColumnElement[Any]) -> None:
        super().__init__(col)
        self.type = col.type


@compiles(_unindexed)
def _unindexed_default(element: _unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(_unindexed, "sqlite")
def _unindexed_sqlite(element: _unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return "+" + compiler.process(element.clauses, **kw)


def _string_cmp(col: ColumnElement[Any], op: q.CompareOp, value: str) -> Cond:
    if op in ("=", "!="):
        return _OPS[op](col, value)  # type: ignore[no-any-return]
    return _OPS[op](_bytewise(col), literal(value, String))  # type: ignore[no-any-return]


def _like(col: ColumnElement[Any], e: q.Like) -> Cond:
    pattern = escape_like(like_segments(e.pattern))
    if e.case_insensitive:
        cond = col.ilike(pattern, escape="\\")
        return col.not_ilike(pattern, escape="\\") if e.negated else cond
    return col.not_like(pattern, escape="\\") if e.negated else col.like(pattern, escape="\\")


def _as_string(v: q.Number | q.String | q.Bool) -> str:
    if isinstance(v, q.String):
        return v.value
    if isinstance(v, q.Number):
        return canonical_string(v.value)
    raise AssertionError("the parser rejects booleans here")  # pragma: no cover


def _as_float(v: q.Number | q.String | q.Bool, f: q.Field) -> float:
    if isinstance(v, q.Number):
        return float(v.value)
    if isinstance(v, q.String) and field_type(f) == "time":
        return parse_timestamp(v.value)
    raise AssertionError("the parser rejects this literal here")  # pragma: no cover


def _run_column(key: str, ctx: _Context) -> ColumnElement[Any]:
    if key == "duration":
        end = func.coalesce(runs.c.end_time, runs.c.heartbeat, literal(ctx.now, Float))
        return end - runs.c.start_time
    return _RUN_COLUMNS[key]


def _run_atom(e: q.Expr, ctx: _Context) -> Cond:
    f = e.field  # type: ignore[union-attr]
    col = _run_column(f.key, ctx)
    numeric = field_type(f) in ("number", "time")
    if isinstance(e, q.IsNull):
        return col.is_not(None) if e.negated else col.is_(None)
    if isinstance(e, q.Like):
        return _like(col, e)
    if isinstance(e, q.Compare):
        if numeric:
            return _OPS[e.op](col, _as_float(e.value, f))  # type: ignore[no-any-return]
        return _string_cmp(col, e.op, _as_string(e.value))
    assert isinstance(e, q.In)
    values: list[Any] = [_as_float(v, f) if numeric else _as_string(v) for v in e.values]
    return col.not_in(values) if e.negated else col.in_(values)


def _kv_atom(e: q.Expr, a: FromClause, kind: str) -> Cond:
    """A predicate on the row ``a`` of a config/metrics/tags key (IsNull handled by the
    caller)."""
    if isinstance(e, q.IsNull):
        assert e.negated
        return _present(a, kind)
    if isinstance(e, q.Like):
        if kind == "config":
            return and_(a.c.vtype == "s", _like(a.c.str, e))
        return _like(a.c.value, e)
    assert isinstance(e, q.Compare | q.In)
    col, typed, conv = _kv_column(e, a, kind)
    cond: Cond
    if isinstance(e, q.Compare):
        v = conv(e.value)
        cond = _string_cmp(col, e.op, v) if isinstance(v, str) else _OPS[e.op](col, v)
    else:
        values = [conv(v) for v in e.values]
        cond = col.not_in(values) if e.negated else col.in_(values)
    return cond if typed is None else and_(typed, cond)


Literal_ = q.Number | q.String | q.Bool


def _as_number(v: Literal_) -> float:
    return float(v.value)


def _kv_column(
    e: q.Compare | q.In, a: FromClause, kind: str
) -> tuple[ColumnElement[Any], Cond | None, Callable[[Literal_], Any]]:
    """The column a comparison reads, the vtype it requires, and how literals convert."""
    sample = e.value if isinstance(e, q.Compare) else e.values[0]
    if kind == "metrics":
        return a.c.value, None, _as_number
    if kind == "tags":
        return a.c.value, None, _as_string
    if isinstance(sample, q.Number):
        return a.c.num, a.c.vtype == "n", _as_number
    if isinstance(sample, q.Bool):
        return a.c.num, a.c.vtype == "b", _as_number
    return a.c.str, a.c.vtype == "s", _as_string


# -- conditions -----------------------------------------------------------------------------
class _Where:
    """Compiles a negation-free filter. Fields in ``joined`` read their joined row;
    others are probed with a correlated ``EXISTS`` (fenced: never turned into a join)."""

    def __init__(self, ctx: _Context, joined: dict[FieldId, FromClause], fence: bool) -> None:
        self.ctx = ctx
        self.joined = joined
        self.fence = fence

    def cond(self, e: q.Expr | None, skip: q.Expr | None = None) -> Cond:
        """The condition of ``e``, without the top-level conjunct ``skip`` (a condition
        the rows are known to satisfy already)."""
        if e is None or e is skip:
            return true()
        if isinstance(e, q.And):
            return and_(true(), *(self.cond(i) for i in e.items if i is not skip))
        if isinstance(e, q.Or):
            return or_(false(), *(self.cond(i) for i in e.items))
        assert not isinstance(e, q.Not)  # _nnf removed them
        f = e.field
        if f.kind == "run":
            return _run_atom(e, self.ctx)
        a = self.joined.get((f.kind, f.key))
        if isinstance(e, q.IsNull) and not e.negated:
            if a is not None:
                return _absent(a, f.kind)
            return ~self.exists(f, lambda b: _present(b, f.kind))
        if a is not None:
            return _kv_atom(e, a, f.kind)
        return self.exists(f, lambda b: _kv_atom(e, b, f.kind))

    def exists(self, f: q.Field, cond: Callable[[FromClause], Cond]) -> Cond:
        b = _table(f.kind).alias()
        sub = select(literal(1)).where(b.c.run_id == runs.c.id, b.c.key == f.key, cond(b))
        if self.fence:
            sub = sub.offset(0)  # PostgreSQL keeps an EXISTS with OFFSET as a subplan
        return sub.exists()


def _project(ctx: _Context) -> Cond:
    if ctx.project_ids is not None:
        return runs.c.project_id.in_(ctx.project_ids)
    return true() if ctx.project_id is None else runs.c.project_id == ctx.project_id
