"""Runs: create, read, search, and the write path (batches of a stream)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, Response

from ...entities import ArtifactOp, ArtifactSpec, OpRecord
from ...errors import ProjectNotFoundError, ValidationError
from ...protocol import (
    batch_from_wire,
    new_runs_from_wire,
    run_to_wire,
    series_to_wire,
    spec_run_from_wire,
)
from ...validation import check_key, check_project, check_stream
from .._deps import config, project_of_run, store
from .._group import GroupCommit
from .._io import read_body, reply
from .._rows import Columns, parse_columns, run_row_to_wire
from ..auth import Access, Authenticator, Principal, Role, policy
from ..auth import check_project as authorize
from .artifacts import gc_mark_now, refuse_lost_blobs, refuse_missing_blobs

router = APIRouter(prefix="/api/v1", tags=["runs"])

_RUN_SPEC = {
    "type": "object",
    "required": ["id", "project", "name", "user", "host", "start_time"],
    "properties": {
        "id": {"type": "string", "pattern": "^[0-9a-z]{4,32}$"},
        "project": {"type": "string"},
        "name": {"type": "string"},
        "user": {"type": "string"},
        "host": {"type": "string"},
        "start_time": {"type": "number"},
        "config": {"type": "object"},
        "tags": {"type": "object", "additionalProperties": {"type": "string"}},
        "notes": {"type": ["string", "null"]},
        "group": {"type": ["string", "null"]},
        "parent_id": {"type": ["string", "null"]},
    },
}
_SEARCH = {
    "type": "object",
    "properties": {
        "project": {
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string"}},
                {"type": "null"},
            ]
        },
        "filter": {"type": ["string", "null"]},
        "order_by": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "limit": {"type": ["integer", "null"]},
        "offset": {"type": "integer"},
    },
}
_SEARCH_PAGE = {  # a search (not a count) may name the columns a table shows
    "type": "object",
    "properties": {
        **_SEARCH["properties"],  # type: ignore[dict-item]
        "columns": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]},
    },
}


def _body(schema: dict[str, Any], media: str = "application/json") -> dict[str, Any]:
    """OpenAPI request body for routes that read (and size-limit) their body themselves."""
    return {"requestBody": {"required": True, "content": {media: {"schema": schema}}}}


async def _may_create_in(request: Request, principal: Principal, project: str) -> bool:
    """Refuse unless the principal may create runs in ``project``: as its editor, or as
    its creator if it does not exist yet (then True: grant the role once it exists)."""
    check_project(project)
    known: set[str] = request.app.state.known_projects
    if project not in known:
        try:
            await run_in_threadpool(store(request).get_project, project)
        except ProjectNotFoundError:
            return True
        known.add(project)  # projects are never deleted: no need to ask again
    authorize(request, principal, project, Role.EDITOR)
    return False


def _created(request: Request, principal: Principal, projects: set[str]) -> None:
    auth: Authenticator = request.app.state.authenticator
    for name in sorted(projects):
        auth.project_created(principal, name)
        request.app.state.known_projects.add(name)


@router.post("/runs", status_code=201, openapi_extra=_body(_RUN_SPEC))
async def create_run(request: Request, principal: Principal = policy(Access.USER)) -> Response:
    """Create a run (and its project, of which the creator becomes admin)."""
    spec = spec_run_from_wire(await read_body(request, config(request).limits.json_body_bytes))
    new_project = await _may_create_in(request, principal, spec.project)
    record = await run_in_threadpool(store(request).create_run, spec)
    if new_project:
        _created(request, principal, {spec.project})
    return reply(request, run_to_wire(record), 201)


_BULK = {
    "type": "object",
    "required": ["runs"],
    "properties": {
        "runs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["spec"],
                "properties": {"spec": _RUN_SPEC, "batch": {"type": ["object", "null"]}},
            },
        }
    },
}


@router.post("/runs/bulk", openapi_extra=_body(_BULK, "application/msgpack"))
async def create_runs(request: Request, principal: Principal = policy(Access.USER)) -> Response:
    """Create many runs, each with its first records, in one transaction (msgpack:
    ``{"runs": [{"spec": ..., "batch": ...}]}``, batches as in ``/runs/{id}/batches``).
    A run that exists in the same project is continued (a retried request is stored
    once); nothing is written if any run is refused. Answers ``{"results": [[applied,
    skipped, position], ...]}``."""
    limits = config(request).limits
    body = await read_body(request, limits.batch_body_bytes)
    items = new_runs_from_wire(body, max_runs=limits.bulk_runs, max_records=limits.batch_records)
    by_project: dict[str, list[ArtifactSpec]] = {}
    for item in items:
        specs = by_project.setdefault(item.spec.project, [])
        if item.batch is not None:
            specs += [
                r.op.spec
                for r in item.batch.records
                if isinstance(r, OpRecord) and isinstance(r.op, ArtifactOp)
            ]
    new_projects = set()
    all_specs = [spec for specs in by_project.values() for spec in specs]
    since = await gc_mark_now(request) if all_specs else None
    for name, specs in by_project.items():
        if await _may_create_in(request, principal, name):
            new_projects.add(name)
        if specs:
            refusal = await refuse_missing_blobs(request, name, specs)
            if refusal is not None:
                return refusal
    group: GroupCommit = request.app.state.group_commit
    results = await group.submit(items)
    _created(request, principal, new_projects)
    refusal = await refuse_lost_blobs(request, all_specs, since)  # gc deleted some meanwhile
    if refusal is not None:
        return refusal
    return reply(request, {"results": [[r.applied, r.skipped, r.position] for r in results]})


@router.get("/runs/{run_id}")
def get_run(
    request: Request, run_id: str, _: Principal = policy(Access.READ, project_of_run)
) -> Response:
    return reply(request, run_to_wire(store(request).get_run(run_id)))


_SEARCH_FIELDS = frozenset({"project", "filter", "order_by", "limit", "offset"})


async def _search_args(
    request: Request, principal: Principal, extra: frozenset[str] = frozenset()
) -> dict[str, Any]:
    body = await read_body(request, config(request).limits.json_body_bytes)
    if not isinstance(body, dict):
        raise ValidationError("a search is an object: {project, filter, order_by, limit, offset}")
    unknown = set(body) - _SEARCH_FIELDS - extra
    if unknown:
        raise ValidationError(f"unknown search fields: {', '.join(sorted(unknown))}")
    limits = config(request).limits
    project = body.get("project")
    flt = body.get("filter")
    if flt is not None and (not isinstance(flt, str) or len(flt) > limits.filter_chars):
        raise ValidationError(
            f"filter must be a string of at most {limits.filter_chars} characters"
        )
    order_by = body.get("order_by") or []
    if isinstance(order_by, str):
        order_by = [order_by]
    if not isinstance(order_by, list) or not all(isinstance(o, str) for o in order_by):
        raise ValidationError("order_by must be a string or a list of strings")
    auth: Authenticator = request.app.state.authenticator
    if project is None:
        project = None if principal.admin else auth.readable_projects(principal)
    else:
        names = [project] if isinstance(project, str) else project
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValidationError("project must be a name, a list of names or null")
        for name in names:
            check_project(name)
            authorize(request, principal, name, Role.VIEWER)
    return {
        "project": project,
        "filter": flt,
        "order_by": order_by,
        "limit": body.get("limit"),
        "offset": body.get("offset", 0),
        "columns": parse_columns(body.get("columns"), limits.search_columns),
    }


@router.post("/runs/search", openapi_extra=_body(_SEARCH_PAGE))
async def search_runs(request: Request, principal: Principal = policy(Access.USER)) -> Response:
    """Runs matching the query language, in the projects the principal may read: full
    records, or with ``columns`` (field names of the query language) table rows holding
    only the named config, metric and tag keys."""
    args = await _search_args(request, principal, frozenset({"columns"}))
    limits = config(request).limits
    limit = args["limit"]
    if limit is None or (isinstance(limit, int) and limit > limits.page_limit):
        limit = limits.page_limit  # a page is capped; page with offset for more
    records = await run_in_threadpool(
        store(request).search_runs,
        args["project"],
        args["filter"],
        args["order_by"],
        limit,
        args["offset"],
    )
    cols: Columns | None = args["columns"]
    if cols is None:
        return reply(request, {"runs": [run_to_wire(r) for r in records]})
    return reply(request, {"runs": [run_row_to_wire(r, cols) for r in records]})


@router.post("/runs/count", openapi_extra=_body(_SEARCH))
async def count_runs(request: Request, principal: Principal = policy(Access.USER)) -> Response:
    args = await _search_args(request, principal)
    n = await run_in_threadpool(store(request).count_runs, args["project"], args["filter"])
    return reply(request, {"count": n})


@router.get("/runs/{run_id}/history")
def history(
    request: Request,
    run_id: str,
    key: list[str] | None = Query(default=None),
    _: Principal = policy(Access.READ, project_of_run),
) -> Response:
    """Every point of the given metric keys (``?key=loss&key=acc``; all when omitted).
    With ``Accept: application/msgpack`` the columns are little-endian float64/int64
    bytes (regular steps as ``[first, stride, n]``); in JSON, lists."""
    limits = config(request).limits
    if key is not None:
        if len(key) > limits.history_keys:
            raise ValidationError(f"at most {limits.history_keys} keys per request")
        for k in key:
            check_key(k)
    series = store(request).get_history(run_id, key)
    if "application/msgpack" in request.headers.get("accept", ""):
        return reply(request, {k: series_to_wire(s) for k, s in series.items()})
    return reply(request, {k: s.to_dict() for k, s in series.items()})


@router.get("/runs/{run_id}/console")
def console(
    request: Request, run_id: str, _: Principal = policy(Access.READ, project_of_run)
) -> PlainTextResponse:
    return PlainTextResponse(store(request).get_console(run_id))


@router.post("/runs/{run_id}/heartbeat", status_code=204)
def heartbeat(
    request: Request, run_id: str, _: Principal = policy(Access.WRITE, project_of_run)
) -> Response:
    store(request).heartbeat(run_id)
    return Response(status_code=204)


@router.get("/runs/{run_id}/streams/{stream}")
def stream_position(
    request: Request,
    run_id: str,
    stream: str,
    _: Principal = policy(Access.WRITE, project_of_run),
) -> Response:
    check_stream(stream)
    return reply(request, {"position": store(request).stream_position(run_id, stream)})


@router.post(
    "/runs/{run_id}/batches",
    openapi_extra=_body({"type": "string", "format": "binary"}, "application/msgpack"),
)
async def write_batch(
    request: Request, run_id: str, _: Principal = policy(Access.WRITE, project_of_run)
) -> Response:
    """Apply a batch of one stream (msgpack, see ``runtrack.protocol.batch_to_wire``);
    records already applied are skipped, so a retried batch is stored once."""
    limits = config(request).limits
    body = await read_body(request, limits.batch_body_bytes)
    batch = batch_from_wire(run_id, body, max_records=limits.batch_records)
    specs = [
        r.op.spec for r in batch.records if isinstance(r, OpRecord) and isinstance(r.op, ArtifactOp)
    ]
    since = await gc_mark_now(request) if specs else None
    if specs:  # the same rule as POST /runs/{id}/artifacts: only blobs the project holds
        refusal = await refuse_missing_blobs(request, project_of_run(request), specs)
        if refusal is not None:
            return refusal
    result = await run_in_threadpool(store(request).write, batch)
    refusal = await refuse_lost_blobs(request, specs, since)  # gc deleted some meanwhile
    if refusal is not None:
        return refusal
    return reply(
        request, {"applied": result.applied, "skipped": result.skipped, "position": result.position}
    )


@router.post("/maintenance/crashed")
def mark_crashed(request: Request, _: Principal = policy(Access.USER)) -> Response:
    """Mark running runs whose heartbeat stopped as crashed (the server's clock)."""
    return reply(request, {"crashed": store(request).mark_stale_runs_crashed()})
