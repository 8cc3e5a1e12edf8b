"""The statement side of the query compiler: ordering keys, the plain statement, and
the adaptive page plan (walk an ordering index, or drive from the most selective
indexed condition). See ``_query`` for why."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from sqlalchemy import (
    Float,
    Select,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    select,
    true,
    union_all,
)
from sqlalchemy.sql.elements import Cast, ColumnElement, Null, UnaryExpression
from sqlalchemy.sql.selectable import Alias, FromClause, Subquery

from ...query import ast as q
from ...query._semantics import (
    field_type,
)
from ._query_where import (
    _MAX_CANDIDATES,
    _MAX_JOINS,
    Cond,
    FieldId,
    _bytewise,
    _conjuncts,
    _Context,
    _gated_limit,
    _kv_atom,
    _kv_column,
    _on,
    _project,
    _required,
    _run_column,
    _table,
    _unindexed,
    _Where,
    runs,
)


# -- ordering ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Key:
    expr: ColumnElement[Any]
    descending: bool
    nullable: bool

    def clause(self, *, natural: bool = False) -> UnaryExpression[Any]:
        c = self.expr.desc() if self.descending else self.expr.asc()
        return c if natural or not self.nullable else c.nulls_last()


def _sort_keys(
    item: q.OrderItem, joined: dict[FieldId, FromClause], nonnull: set[FieldId], ctx: _Context
) -> list[_Key]:
    f, desc = item.field, item.descending
    if f.kind == "run":
        col = _run_column(f.key, ctx)
        nullable = f.key in ("end_time", "group", "parent")
        if field_type(f) in ("string", "status"):
            col = _bytewise(col)
        return [_Key(col, desc, nullable)]
    a = joined[(f.kind, f.key)]
    fid = (f.kind, f.key)
    if f.kind == "metrics":
        return [_Key(a.c.value, desc, fid not in nonnull)]
    if f.kind == "tags":
        return [_Key(_bytewise(a.c.value), desc, fid not in nonnull)]
    num = case((a.c.vtype.in_(("n", "b")), a.c.num))
    text = _bytewise(case((a.c.vtype == "s", a.c.str)))
    return [_Key(num, desc, True), _Key(text, desc, True)]


_TIE_BREAK: Final = (runs.c.start_time.desc(), runs.c.id.desc())


# -- one plain statement ------------------------------------------------------------------------
def _plain(
    ctx: _Context,
    expr: q.Expr | None,
    order: list[q.OrderItem],
    output: Callable[[list[_Key]], list[ColumnElement[Any]]],
    *,
    ordered: bool = True,
) -> Select[Any]:
    """Required key/value fields inner-joined (planner's choice of driving table), sort
    fields outer-joined, the rest probed with EXISTS."""
    joined: dict[FieldId, FromClause] = {}
    source: FromClause = runs
    required = _required(expr)
    for kind, key in required[:_MAX_JOINS]:
        a = _table(kind).alias()
        joined[(kind, key)] = a
        source = source.join(a, _on(a, kind, key, ctx))
    for item in order:
        fid = (item.field.kind, item.field.key)
        if item.field.kind != "run" and fid not in joined:
            a = _table(fid[0]).alias()
            joined[fid] = a
            source = source.outerjoin(a, _on(a, fid[0], fid[1], ctx))
    nonnull = {fid for fid in joined if fid in required}
    keys = [k for item in order for k in _sort_keys(item, joined, nonnull, ctx)]
    where = _Where(ctx, joined, fence=False).cond(expr)
    stmt = select(*output(keys)).select_from(source).where(_project(ctx), where)
    if ordered:
        stmt = stmt.order_by(*(k.clause() for k in keys), *_TIE_BREAK)
    return stmt


def _page_columns(keys: list[_Key]) -> list[ColumnElement[Any]]:
    """What a page's subquery yields: the run id, its sort keys and its start time."""
    out: list[ColumnElement[Any]] = [runs.c.id.label("id")]
    out += [k.expr.label(f"s{i}") for i, k in enumerate(keys)]
    out.append(runs.c.start_time.label("st"))
    return out


def _key_shape(order: list[q.OrderItem], ctx: _Context) -> list[_Key]:
    """The sort keys of ``order`` (for their number and directions only)."""
    joined: dict[FieldId, FromClause] = {
        (o.field.kind, o.field.key): _table(o.field.kind).alias()
        for o in order
        if o.field.kind != "run"
    }
    return [k for o in order for k in _sort_keys(o, joined, set(), ctx)]


def _join_back(
    columns: Sequence[ColumnElement[Any]],
    u: Subquery,
    order: list[q.OrderItem],
    limit: int,
    offset: int = 0,
) -> Select[Any]:
    """``SELECT columns FROM runs JOIN u`` in the page's order, ``limit`` rows after
    ``offset`` (``u`` from :func:`_page_columns`): wide rows are read for the page only,
    never sorted."""
    keys = [
        _Key(u.c[f"s{i}"], key.descending, True).clause()
        for i, key in enumerate(_key_shape(order, _Context(None, 0.0)))
    ]
    stmt = (
        select(*columns)
        .select_from(runs.join(u, runs.c.id == u.c.id))
        .order_by(*keys, u.c.st.desc(), u.c.id.desc())
        .limit(limit)
    )
    return stmt.offset(offset) if offset else stmt


# -- a page in index order, with a plan chosen at run time --------------------------------------
def _threshold(k: int) -> int:
    """Most candidates worth sorting rather than walking the ordering index for a page
    of ``k`` rows: each plan then costs at most a few thousand primary-key probes."""
    return max(1_000, min(30 * k, 30_000))


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A required, indexed predicate: the runs that satisfy it can be read from its index
    (a branch driven by it checks the rest of the filter)."""

    expr: q.Compare | q.In
    rows: Select[Any]  # SELECT run_id FROM <its index>


def _candidates(expr: q.Expr | None, exclude: q.Field | None, ctx: _Context) -> list[_Candidate]:
    found: list[tuple[int, _Candidate]] = []
    for c in _conjuncts(expr):
        if not isinstance(c, q.Compare | q.In) or c.field.kind == "run":
            continue
        if (isinstance(c, q.Compare) and c.op == "!=") or (isinstance(c, q.In) and c.negated):
            continue
        f = c.field
        if exclude is not None and (f.kind, f.key) == (exclude.kind, exclude.key):
            continue
        if f.kind == "metrics" and ctx.project_id is None:
            continue
        t = _table(f.kind)
        col, _typed, _conv = _kv_column(c, t, f.kind)
        rows = select(t.c.run_id).where(t.c.key == f.key, _kv_atom(c, t, f.kind))
        if f.kind == "metrics":
            rows = rows.where(t.c.project_id == ctx.project_id)
        if isinstance(c, q.Compare):
            # in index order: PostgreSQL then reads the index and stops at the cap,
            # rather than building a bitmap of every match first
            rows = rows.order_by(col)
        rank = 0 if (isinstance(c, q.In) or c.op == "=") else 1
        found.append((rank, _Candidate(c, rows)))
    found.sort(key=lambda rc: rc[0])  # equalities first (stable: then in filter order)
    return [c for _, c in found[:_MAX_CANDIDATES]]


def _is_null(e: ColumnElement[Any]) -> bool:
    return isinstance(e, Cast) and isinstance(e.clause, Null)


class _TopK:
    """``select_runs`` for a page ordered by a metric or by start time (see the module
    docstring): ``WITH gate, nn SELECT columns FROM runs JOIN (branches) u ...``."""

    def __init__(
        self,
        ctx: _Context,
        expr: q.Expr | None,
        order: list[q.OrderItem],
        limit: int,
        offset: int,
    ) -> None:
        self.ctx, self.expr, self.order = ctx, expr, order
        self.limit, self.offset, self.k = limit, offset, limit + offset
        self.threshold = _threshold(self.k)
        first = order[0].field if order else None
        self.metric = first if first is not None and first.kind == "metrics" else None
        self.required = _required(expr)
        # runs without the sort metric are a second part, unless the filter excludes them
        self.split = self.metric is not None and ("metrics", self.metric.key) not in self.required
        self.candidates = _candidates(expr, self.metric, ctx)

    def build(self, columns: Sequence[ColumnElement[Any]]) -> Select[Any]:
        if not self.candidates and not self.split:
            # one walk: a plain statement in index order
            stmt = self.branch(None, "all", None, output=list(columns))
            stmt = stmt.limit(self.limit)
            return stmt.offset(self.offset) if self.offset else stmt
        choice = self.gate()
        k = self.k
        with_value = [
            self.branch(i, "with", self.when(choice, i, None), limit=k).subquery()
            for i in self.choices()
        ]
        if self.split:
            nn = union_all(*(select(b) for b in with_value)).cte("nn")
            filled = select(func.count()).select_from(nn).scalar_subquery() >= self.k
            without = [
                self.branch(i, "without", self.when(choice, i, ~filled), limit=k).subquery()
                for i in self.choices()
            ]
            u = union_all(select(nn), *(select(b) for b in without)).subquery("u")
        else:
            u = union_all(*(select(b) for b in with_value)).subquery("u")
        return _join_back(columns, u, self.order, self.limit, self.offset)

    def choices(self) -> list[int | None]:
        return [None, *range(len(self.candidates))]

    def gate(self) -> ColumnElement[Any] | None:
        """The chosen plan: index of the driving candidate, or -1 to walk."""
        if not self.candidates:
            return None
        cap = self.threshold
        # one-row derived tables (aggregates are never pulled up, so each count runs once)
        counted = [
            select(func.count().label("n"))
            .select_from(c.rows.limit(cap + 1).subquery())
            .subquery(f"n{i}")
            for i, c in enumerate(self.candidates)
        ]
        counts = [t.c.n for t in counted]
        whens = []
        for i, n in enumerate(counts):
            smallest = [n < m for m in counts[:i]] + [n <= m for m in counts[i + 1 :]]
            whens.append((and_(n <= cap, *smallest), i))
        source: FromClause = counted[0]
        for t in counted[1:]:
            source = source.join(t, true())  # one row each
        gate = select(case(*whens, else_=-1).label("choice")).select_from(source).cte("gate")
        return select(gate.c.choice).scalar_subquery()

    def when(
        self, choice: ColumnElement[Any] | None, i: int | None, also: Cond | None
    ) -> Cond | None:
        """Does the branch run? (The walk is choice -1, candidate ``i`` drives as ``i``.)"""
        conds: list[Cond] = []
        if choice is not None:
            conds.append(choice == (-1 if i is None else i))
        if also is not None:
            conds.append(also)
        return and_(*conds) if conds else None

    def branch(
        self,
        drive: int | None,
        part: Literal["all", "with", "without"],
        gate: Cond | None,
        output: list[ColumnElement[Any]] | None = None,
        limit: int | None = None,
    ) -> Select[Any]:
        """One way to produce the page: walk the ordering index (``drive`` None) or drive
        from candidate ``drive``; ``part`` restricts runs by the sort metric's presence;
        ``gate`` says whether this branch runs at all (else it returns nothing)."""
        ctx = self.ctx
        joined: dict[FieldId, FromClause] = {}
        source: FromClause
        if drive is None:
            source = runs
        else:
            cand: Alias | Subquery = (
                self.candidates[drive].rows.limit(self.threshold + 1).subquery()
            )
            source = cand.join(runs, runs.c.id == cand.c.run_id)
        without = part == "without"
        for o in self.order:
            f = o.field
            if f.kind == "run" or (without and f is self.metric):
                continue
            a = _table(f.kind).alias()
            joined[(f.kind, f.key)] = a
            inner = f is self.metric
            on = _on(a, f.kind, f.key, ctx)
            source = source.join(a, on) if inner else source.outerjoin(a, on)
        nonnull = {fid for fid in joined if fid in self.required}
        if self.metric is not None:
            nonnull.add(("metrics", self.metric.key))
        keys: list[_Key] = []
        for o in self.order:
            if without and o.field is self.metric:  # NULL for every run of this part
                keys.append(_Key(cast(null(), Float), o.descending, True))
            else:
                keys += _sort_keys(o, joined, nonnull, ctx)
        if self.metric is not None and not without and ctx.project_id is not None:
            # the metric index drives (or the candidates); SQLite with statistics would
            # rather scan runs by project, so keep ix_runs_project_start out of its reach
            project = _unindexed(runs.c.project_id) == ctx.project_id
        else:
            project = _project(ctx)
        where = _Where(ctx, joined, fence=True)
        known = None if drive is None else self.candidates[drive].expr
        conds: list[Cond] = [project, where.cond(self.expr, skip=known)]
        if gate is not None:
            conds.append(gate)
        if self.metric is not None and part == "with":
            conds.append(joined[("metrics", self.metric.key)].c.value.is_not(None))
        elif self.metric is not None and without:
            conds.append(where.cond(q.IsNull(self.metric)))
        out = _page_columns(keys) if output is None else output
        # (without order_by, the tie-break is the order: newest first)
        order = [k.clause(natural=not k.nullable) for k in keys if not _is_null(k.expr)]
        stmt = select(*out).select_from(source).where(*conds).order_by(*order, *_TIE_BREAK)
        if limit is None:
            return stmt
        return stmt.limit(limit if gate is None else _gated_limit(gate, literal(limit)))
