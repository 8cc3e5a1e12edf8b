"""Compile the run query language (:mod:`runtrack.query`) to SQLAlchemy Core.

Every literal becomes a bound parameter; no text of the filter is ever spliced into SQL.

Semantics
---------
* ``config.<k>`` reads the ``run_params`` row of that flattened key, *typed by the
  literal*: a number literal sees rows of vtype ``n`` (``num``), a string literal rows of
  vtype ``s`` (``str``), ``true``/``false`` rows of vtype ``b``. A value of another type
  behaves like a missing value for that comparison (``config.x != 5`` does not match a
  run whose ``x`` is ``'abc'`` or ``true``); ``like``/``ilike`` see only strings.
  ``config.k is null`` matches runs without the key or with a JSON ``null`` (vtype
  ``z``); ``is not null`` the others. A NaN config value (vtype ``n``, ``num`` NULL)
  never satisfies a comparison and is not ``null``.
* ``metrics.<k>`` is ``metric_summaries.value`` (NULL for NaN: ``is null`` then).
* ``tags.<k>`` is ``run_tags.value``; a number literal is compared as its canonical
  string (``5`` -> ``'5'``, ``0.5`` -> ``'0.5'``), as it is for the string run attributes.
* ``run.<attribute>`` reads the ``runs`` column (``group`` -> ``grp``, ``parent`` ->
  ``parent_id``). ``start_time``/``end_time`` take epoch seconds or ISO-8601 strings
  (naive = UTC), converted here. ``run.duration`` is ``coalesce(end_time, heartbeat,
  now) - start_time`` seconds, ``now`` being the store's clock.
* SQL NULL semantics throughout: a missing value never satisfies ``= != < <= > >=``,
  ``in``, ``not in``, ``like`` or ``ilike``; only ``is null``. ``not`` is SQL's three-valued
  ``NOT``: ``not (metrics.x > 1)`` is ``metrics.x <= 1`` and does **not** match runs
  without ``x``. It is implemented by pushing every ``not`` down to the predicates
  (De Morgan; ``not a > 1`` -> ``a <= 1``, ``not in`` <-> ``in``, ``is null`` <->
  ``is not null``), which is exactly equivalent to three-valued logic and leaves a
  negation-free condition in which "unknown" and "false" can be treated alike.
* String comparisons and ordering are by code point on both backends (PostgreSQL
  compares with ``COLLATE "C"``). ``like`` is case-sensitive (SQLite connections must
  set ``PRAGMA case_sensitive_like=ON``); ``ilike`` folds ASCII case on SQLite and uses
  ``ILIKE`` on PostgreSQL. In a pattern ``%`` and ``_`` are wildcards and a backslash
  makes the next character literal.
* Ordering: missing values last in both directions, then ``runs.start_time desc,
  runs.id desc``; without ``order_by`` the newest runs come first. A config key sorts its
  numbers (and booleans as 0/1) first, numerically, then its strings; runs whose value
  is missing, null or JSON come last.

Plans
-----
The flattened key/value tables defeat cardinality estimates (PostgreSQL multiplies the
selectivity of ``key = 'optimizer'`` by that of ``str = 'adam'`` over all keys; SQLite's
statistics are per-index averages), so a planner left alone drives the query from the
wrong table for common or for rare values alike, off by one or two orders of magnitude.
When the answer is a page (``limit`` given, one project) ordered by something an index
yields in order -- a metric (``ix_metric_summaries_sort(project_id, key, value)``) or
the start time (``ix_runs_project_start``; the default order) -- the statement decides
at run time between two plans:

* *walk*: read the ordering index in order and probe every other condition by primary
  key, stopping after ``limit + offset`` matches. The probes are correlated ``EXISTS``
  fenced with ``OFFSET 0`` (PostgreSQL then cannot turn them into joins it would
  misplan), and SQLite is kept off ``ix_runs_project_start`` with ``+project_id``;
* *drive*: collect the runs of an indexed, required condition (``config.k = v``,
  ``tags.k in (...)``, ``config.k < x``, another metric's range...) from its index, probe
  the rest, sort them.

A ``gate`` CTE counts the candidates of up to three such conditions, each count capped
at :func:`_threshold` rows; the smallest one under the cap drives, otherwise the walk
runs. Every branch is switched off unless chosen: on SQLite by ``LIMIT 0`` (it tests a
``WHERE`` gate row by row but skips a ``LIMIT 0`` branch outright), on PostgreSQL by a
``WHERE`` gate that becomes a one-time filter (a constant ``LIMIT`` lets it cost the walk
as a walk). When the sort metric is not required by the filter, the runs without it are
a second part that only runs when the first could not fill the page. Then the chosen
rows (at most ``limit + offset`` per part) are joined back to ``runs`` and ordered.
Other shapes (no limit, other orders, all projects, counting) are one plain statement:
required fields inner-joined on their ``(run_id, key)`` primary key, sort fields
outer-joined, others probed with ``EXISTS``.

PostgreSQL's JIT compilation (on by default, for plans costed over 100,000) costs
30-100 ms and pays off only on analytic queries; run the store with ``jit = off``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Select,
    func,
)
from sqlalchemy.sql.elements import ColumnElement

from ...errors import ValidationError
from ...query import parse_filter, parse_order_by
from ._query_plan import _join_back, _page_columns, _plain, _TopK
from ._query_where import _Context, _dedupe, _nnf, _walkable

__all__ = ["count_runs", "select_runs"]


# -- public ------------------------------------------------------------------------------
def select_runs(
    columns: Sequence[ColumnElement[Any]],
    *,
    project_id: int | Sequence[int] | None,
    filter: str | None,
    order_by: Sequence[str] | str = (),
    limit: int | None = None,
    offset: int = 0,
    now: float,
) -> Select[Any]:
    """``SELECT columns FROM runs`` matching ``filter`` in ``order_by`` order, one page.

    ``columns`` are columns of ``schema.runs``; ``project_id`` None means all projects, a
    sequence several;
    ``limit`` None means no limit; ``now`` (epoch seconds, the store's clock) ends the
    ``run.duration`` of runs still running. Raises ``QueryError`` for a malformed filter
    or order_by and ``ValidationError`` for a negative or non-integer limit/offset.
    """
    _check_page(limit, offset)
    expr = _nnf(parse_filter(filter))
    order = _dedupe(parse_order_by(order_by))
    ctx = _context(project_id, now)
    if limit is not None and limit > 0 and ctx.project_id is not None and _walkable(order):
        return _TopK(ctx, expr, order, limit, offset).build(columns)
    if limit is None:
        stmt = _plain(ctx, expr, order, lambda _keys: list(columns))
        return stmt.offset(offset) if offset else stmt
    # a page: sort narrow rows (id and sort keys), then fetch the page's columns
    page = _plain(ctx, expr, order, _page_columns).limit(limit)
    if offset:
        page = page.offset(offset)
    return _join_back(columns, page.subquery("u"), order, limit)


def count_runs(
    *, project_id: int | Sequence[int] | None, filter: str | None, now: float
) -> Select[Any]:
    """``SELECT count(*)`` of the runs ``select_runs`` would return without a limit."""
    expr = _nnf(parse_filter(filter))
    ctx = _context(project_id, now)
    return _plain(ctx, expr, [], lambda _keys: [func.count().label("count")], ordered=False)


def _context(project_id: int | Sequence[int] | None, now: float) -> _Context:
    if project_id is None or isinstance(project_id, int):
        return _Context(project_id, float(now))
    ids = tuple(dict.fromkeys(project_id))
    if len(ids) == 1:
        return _Context(ids[0], float(now))
    return _Context(None, float(now), ids)


def _check_page(limit: object, offset: object) -> None:
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)):
        raise ValidationError(f"limit must be an integer or None, not {limit!r}")
    if not isinstance(offset, int) or isinstance(offset, bool):
        raise ValidationError(f"offset must be an integer, not {offset!r}")
    if limit is not None and limit < 0:
        raise ValidationError(f"limit must be >= 0, not {limit}")
    if offset < 0:
        raise ValidationError(f"offset must be >= 0, not {offset}")
