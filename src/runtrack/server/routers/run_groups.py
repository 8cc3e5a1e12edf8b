"""Run groups and a project's keys, for the web UI's run table (READ on the project).

::

    GET /projects/{project}/runs/groups?by=config.model&metric=val_loss&filter=...&max_groups=N
        the runs matching ``filter`` grouped by one field (``config.<key>``,
        ``tags.<key>``, ``run.status|user|host|group``): per group the run count and,
        with ``metric``, how many runs have it, its mean, standard deviation and a 95 %
        confidence interval of the mean (Student's t). Largest groups first.
    GET /projects/{project}/keys
        the config, metric and tag keys of the project's runs (the column picker's).

On the SQL store both are SQL: the groups are one ``GROUP BY`` over the filtered runs
(the filter compiled by the store's query compiler), joined to the key's row and the
metric's summary, so 100,000 runs cost one scan of their rows in the database, not a
transfer. The keys are a skip scan of the key indexes (one index probe per distinct key
plus a check that the project has it). Other stores (none serve in production) answer
from ``search_runs``: every matching run read, O(runs).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import Select, and_, func, literal, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from ...entities import RunRecord
from ...errors import ProjectNotFoundError, ValidationError
from ...validation import check_project
from .._deps import project_of_path, store
from .._io import reply
from ..auth import Access, Principal, policy

router = APIRouter(prefix="/api/v1", tags=["runs"])

_RUN_FIELDS = {"status": "status", "user": "user", "host": "host", "group": "grp"}
_MAX_KEY = 500
_MAX_KEYS = 5000

# Student's t, two-sided 95 %, for 1..30 degrees of freedom
_T95 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t95(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom (a table to 30,
    then the Cornish-Fisher expansion, within 1e-3)."""
    if df < 1:
        raise ValueError("df must be >= 1")
    if df <= len(_T95):
        return _T95[df - 1]
    z = 1.959963984540054
    return (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    )


def parse_by(by: str) -> tuple[str, str]:
    """``config.k`` / ``tags.k`` / ``run.status`` -> (namespace, key); ValidationError else."""
    ns, dot, key = by.partition(".")
    if not dot or not key or len(key) > _MAX_KEY:
        raise ValidationError(
            f"by={by!r}: group by config.<key>, tags.<key> or run.status|user|host|group"
        )
    if ns in ("config", "params"):
        return "config", key
    if ns == "tags":
        return "tags", key
    if ns == "run" and key in _RUN_FIELDS:
        return "run", key
    raise ValidationError(
        f"by={by!r}: group by config.<key>, tags.<key> or run.status|user|host|group"
    )


def parse_metric(metric: str | None) -> str | None:
    if metric is None or metric == "":
        return None
    key = metric.removeprefix("metrics.")
    if not key or len(key) > _MAX_KEY:
        raise ValidationError(f"metric={metric!r} must be a metric key (metrics.<key>)")
    return key


def summarise(
    value: Any, count: int, n: int, mean: float | None, sq: float | None, shift: float = 0.0
) -> dict[str, Any]:
    """One group's answer from its count, the metric's count, and the mean and mean
    square of ``v - shift`` (a shift near the values keeps the variance exact enough
    when they are large and close together, e.g. timestamps)."""
    out: dict[str, Any] = {"value": value, "count": count, "n": n}
    if n == 0 or mean is None or not math.isfinite(mean):
        out.update(mean=None, std=None, ci_low=None, ci_high=None)
        return out
    out["mean"] = shift + mean
    if n < 2 or sq is None:
        out.update(std=None, ci_low=None, ci_high=None)
        return out
    var = max(0.0, (sq - mean * mean) * n / (n - 1))
    std = math.sqrt(var)
    half = t95(n - 1) * std / math.sqrt(n)
    out.update(std=std, ci_low=out["mean"] - half, ci_high=out["mean"] + half)
    return out


# -- SQL ------------------------------------------------------------------------------------
def _sql_groups(
    s: Any, project: str, filter: str | None, ns: str, key: str, metric: str | None
) -> tuple[int, list[dict[str, Any]]]:
    from ...store.sql import _query
    from ...store.sql.schema import metric_summaries, run_params, run_tags, runs

    def go(conn: Connection) -> tuple[int, list[dict[str, Any]]]:
        pid = s._project_ids(conn, project)
        if pid == []:
            raise ProjectNotFoundError(f"project {project!r} does not exist")
        matched = (
            _query.select_runs([runs.c.id], project_id=pid, filter=filter, now=s._clock())
            .order_by(None)  # grouped: no order needed
            .subquery("m")
        )
        src: Any = matched
        cols: list[ColumnElement[Any]]
        if ns == "config":
            rp = run_params
            src = src.outerjoin(rp, and_(rp.c.run_id == matched.c.id, rp.c.key == key))
            cols = [rp.c.vtype, rp.c.num, rp.c.str]
        elif ns == "tags":
            src = src.outerjoin(
                run_tags, and_(run_tags.c.run_id == matched.c.id, run_tags.c.key == key)
            )
            cols = [literal("s").label("vtype"), literal(None).label("num"), run_tags.c.value]
        else:
            src = src.join(runs, runs.c.id == matched.c.id)
            cols = [
                literal("s").label("vtype"),
                literal(None).label("num"),
                getattr(runs.c, _RUN_FIELDS[key]),
            ]
        aggs: list[ColumnElement[Any]] = [func.count().label("count")]
        shift = 0.0
        if metric is not None:
            ms = metric_summaries
            # one value of the metric (an index probe) to shift the others by
            probe = select(ms.c.value).where(ms.c.key == metric, ms.c.value.is_not(None))
            if isinstance(pid, int):
                probe = probe.where(ms.c.project_id == pid)
            first = conn.execute(probe.limit(1)).scalar()
            shift = float(first) if first is not None and math.isfinite(first) else 0.0
            src = src.outerjoin(ms, and_(ms.c.run_id == matched.c.id, ms.c.key == metric))
            d = ms.c.value - shift
            aggs += [
                func.count(ms.c.value).label("n"),
                func.avg(d).label("mean"),
                func.avg(d * d).label("sq"),
            ]
        else:
            aggs += [literal(0).label("n"), literal(None).label("mean"), literal(None).label("sq")]
        stmt: Select[Any] = select(*cols, *aggs).select_from(src).group_by(*cols)
        groups: list[dict[str, Any]] = []
        total = 0
        for row in conn.execute(stmt):
            vtype, num, text, count, n, mean, sq = row
            total += int(count)
            groups.append(
                summarise(
                    _param_value(vtype, num, text),
                    int(count),
                    int(n or 0),
                    None if mean is None else float(mean),
                    None if sq is None else float(sq),
                    shift,
                )
            )
        return total, groups

    result: tuple[int, list[dict[str, Any]]] = s._read("grouping runs", go)
    return result


def _param_value(vtype: str | None, num: float | None, text: str | None) -> Any:
    if vtype is None:
        return None  # the key is missing
    if vtype == "n":
        if num is None:
            return "NaN"
        return int(num) if float(num).is_integer() and abs(num) < 2**53 else float(num)
    if vtype == "b":
        return bool(num)
    if vtype == "z":
        return None
    return text  # strings; JSON values as their JSON text


def _sql_keys(s: Any, project: str) -> dict[str, list[str]]:
    from ...store.sql.schema import metric_summaries, run_params, run_tags, runs

    def skip_scan(conn: Connection, table: Any, pid: int) -> list[str]:
        """Distinct keys by probing the (key, ...) index once per key, each checked
        against the project (a key of other projects only costs a probe of its rows)."""
        keys: list[str] = []
        last: str | None = None
        while len(keys) < _MAX_KEYS:
            q = select(func.min(table.c.key))
            if last is not None:
                q = q.where(table.c.key > last)
            nxt = conn.execute(q).scalar()
            if nxt is None:
                break
            last = str(nxt)
            has = conn.execute(
                select(literal(1))
                .select_from(table.join(runs, runs.c.id == table.c.run_id))
                .where(table.c.key == last, runs.c.project_id == pid)
                .limit(1)
            ).first()
            if has is not None:
                keys.append(last)
        return keys

    def go(conn: Connection) -> dict[str, list[str]]:
        pid = s._project_ids(conn, project)
        if pid == [] or not isinstance(pid, int):
            raise ProjectNotFoundError(f"project {project!r} does not exist")
        metrics: list[str] = []
        last: str | None = None
        ms = metric_summaries
        while len(metrics) < _MAX_KEYS:
            q = select(func.min(ms.c.key)).where(ms.c.project_id == pid)
            if last is not None:
                q = q.where(ms.c.key > last)
            nxt = conn.execute(q).scalar()
            if nxt is None:
                break
            last = str(nxt)
            metrics.append(last)
        return {
            "config": skip_scan(conn, run_params, pid),
            "metrics": metrics,
            "tags": skip_scan(conn, run_tags, pid),
        }

    result: dict[str, list[str]] = s._read("listing keys", go)
    return result


# -- any store (reads every matching run) ----------------------------------------------------
def _flat(d: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for k, v in d.items():
        if isinstance(v, Mapping) and v:
            yield from _flat(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def _all_runs(s: Any, project: str, filter: str | None) -> Iterable[RunRecord]:
    offset = 0
    while True:
        page: Sequence[RunRecord] = s.search_runs(project, filter, limit=1000, offset=offset)
        yield from page
        if len(page) < 1000:
            return
        offset += len(page)


def _scan_groups(
    s: Any, project: str, filter: str | None, ns: str, key: str, metric: str | None
) -> tuple[int, list[dict[str, Any]]]:
    s.get_project(project)
    acc: dict[str, list[Any]] = {}
    total = 0
    for r in _all_runs(s, project, filter):
        total += 1
        if ns == "config":
            value = dict(_flat(r.config)).get(key)
        elif ns == "tags":
            value = r.tags.get(key)
        else:
            value = getattr(r, "group" if key == "group" else key)
        slot = acc.setdefault(repr(value), [value, 0, []])
        slot[1] += 1
        v: Any = None
        if metric is not None:  # as the SQL store's summary value: the user's, else last
            v = r.summary.get(metric)
            if isinstance(v, bool) or not isinstance(v, float | int):
                v = getattr(r.metrics.get(metric), "last", None)
        if isinstance(v, float | int) and not isinstance(v, bool) and math.isfinite(v):
            slot[2].append(float(v))
    groups = []
    for value, count, vals in acc.values():
        n = len(vals)
        shift = vals[0] if n else 0.0
        mean = sum(v - shift for v in vals) / n if n else None
        sq = sum((v - shift) ** 2 for v in vals) / n if n else None
        groups.append(summarise(value, count, n, mean, sq, shift))
    return total, groups


def _is_sql(s: Any) -> bool:
    return all(hasattr(s, a) for a in ("_read", "_project_ids", "_clock", "engine"))


@router.get("/projects/{project}/runs/groups")
def run_groups(
    request: Request,
    project: str,
    by: str = Query(..., max_length=600),
    metric: str | None = Query(None, max_length=600),
    filter: str | None = Query(None, max_length=10_000),
    max_groups: int = Query(100, ge=1, le=1000),
    _: Principal = policy(Access.READ, project_of_path),
) -> Response:
    check_project(project)
    ns, key = parse_by(by)
    mkey = parse_metric(metric)
    s = store(request)
    flt = filter or None
    if _is_sql(s):
        total, groups = _sql_groups(s, project, flt, ns, key, mkey)
    else:
        total, groups = _scan_groups(s, project, flt, ns, key, mkey)
    groups.sort(key=lambda g: (-g["count"], repr(g["value"])))
    return reply(
        request,
        {
            "by": f"{ns}.{key}",
            "metric": mkey,
            "filter": flt,
            "runs": total,
            "group_count": len(groups),
            "groups": groups[:max_groups],
            "truncated": len(groups) > max_groups,
        },
    )


@router.get("/projects/{project}/keys")
def project_keys(
    request: Request, project: str, _: Principal = policy(Access.READ, project_of_path)
) -> Response:
    check_project(project)
    s = store(request)
    if _is_sql(s):
        return reply(request, _sql_keys(s, project))
    return reply(request, _scan_keys(s, project))


def _scan_keys(s: Any, project: str) -> dict[str, list[str]]:
    s.get_project(project)
    config: set[str] = set()
    metrics: set[str] = set()
    tags: set[str] = set()
    for r in _all_runs(s, project, None):
        config.update(k for k, _v in _flat(r.config))
        metrics.update(r.metrics)
        tags.update(r.tags)
    return {"config": sorted(config), "metrics": sorted(metrics), "tags": sorted(tags)}
