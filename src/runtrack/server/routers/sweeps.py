"""Sweeps: the search runs here, on the server, so agents anywhere need only the SDK.
Reading a sweep needs READ on its project; creating one, asking for trials, reporting
and telling need WRITE (an agent writes its trial runs anyway).

::

    POST /projects/{project}/sweeps              {spec}: create (201)
    GET  /projects/{project}/sweeps              the project's sweeps, newest first
    GET  /sweeps/{sweep_id}                      one sweep: status, counts, best / Pareto front
    GET  /sweeps/{sweep_id}/trials               every trial
    GET  /sweeps/{sweep_id}/analysis?importance=ped_anova|fanova|none
                                                 history, importance, parallel coordinates
    POST /sweeps/{sweep_id}/ask                  {host, request_id?}: the next trial (its
                                                 run created), or null when the sweep is
                                                 over; the same request_id again (a retry)
                                                 answers the same trial
    POST /sweeps/{sweep_id}/trials/{run_id}/report   {step, value} -> {"prune": bool}
    POST /sweeps/{sweep_id}/trials/{run_id}/tell     {state, values?, error?}
    POST /sweeps/{sweep_id}/stop                 {reason?}
    POST /sweeps/{sweep_id}/resume               {trials?, seconds?}: run again, with N
                                                 more trials / S more seconds
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from ...errors import SweepNotFoundError, ValidationError
from ...protocol import sweep_to_wire, trial_to_wire
from ...sweeps.spec import check_extension
from ...validation import check_sweep_id
from .._deps import project_of_path, store
from .._io import reply
from ..auth import Access, Principal, policy
from .catalog import actor_of, body_object

router = APIRouter(prefix="/api/v1", tags=["sweeps"])


def project_of_sweep(request: Request) -> str:
    """The project of the sweep named in the path (cached: a sweep never moves)."""
    sweep_id = check_sweep_id(request.path_params["sweep_id"])
    cache: dict[str, str] = request.app.state.run_projects  # a sweep's id is its run's
    name = cache.get(sweep_id)
    if name is None:
        name = store(request).sweep_project(sweep_id)
        if len(cache) > 100_000:
            cache.clear()
        cache[sweep_id] = name
    return name


project_of_sweep.unknown = lambda request: SweepNotFoundError(  # type: ignore[attr-defined]
    f"sweep {request.path_params['sweep_id']!r} does not exist"
)


async def _body(request: Request, *allowed: str) -> dict[str, Any]:
    """The request's JSON object, holding no field but ``allowed``: a misspelt field (a
    tell's "stat": "failed") must not be ignored and the default used instead."""
    h = request.headers
    empty = h.get("content-length") == "0" or (
        "content-length" not in h and "transfer-encoding" not in h
    )
    if "content-type" not in h and empty:  # `curl -X POST .../stop`: no body at all
        body: dict[str, Any] = {}
    else:
        body = await body_object(request)
    extra = sorted(k for k in body if k not in allowed)
    if extra:
        raise ValidationError(
            f"unknown field {extra[0]!r} in the body (allowed: {', '.join(allowed)})"
        )
    return body


def _opt_str(body: dict[str, object], key: str, limit: int) -> str | None:
    v = body.get(key)
    if v is None:
        return None
    if not isinstance(v, str) or len(v) > limit:
        raise ValidationError(f"{key!r} must be a string of at most {limit:,} characters")
    return v


@router.post("/projects/{project}/sweeps", status_code=201)
async def create_sweep(
    request: Request, project: str, principal: Principal = policy(Access.WRITE, project_of_path)
) -> Response:
    body = await _body(request, "spec", "host", "actor")
    spec = body.get("spec")
    if not isinstance(spec, dict):
        raise ValidationError("the body must be {'spec': {...}} with the sweep spec")
    host = _opt_str(body, "host", 250) or ""

    def go() -> Response:
        sweep = store(request).create_sweep(
            project, spec, actor=actor_of(request, principal, body), host=host
        )
        return reply(request, sweep_to_wire(sweep), 201)

    return await run_in_threadpool(go)


@router.get("/projects/{project}/sweeps")
def list_sweeps(
    request: Request, project: str, _: Principal = policy(Access.READ, project_of_path)
) -> Response:
    return reply(request, [sweep_to_wire(s) for s in store(request).list_sweeps(project)])


@router.get("/sweeps/{sweep_id}")
def get_sweep(
    request: Request, sweep_id: str, _: Principal = policy(Access.READ, project_of_sweep)
) -> Response:
    return reply(request, sweep_to_wire(store(request).get_sweep(sweep_id)))


@router.get("/sweeps/{sweep_id}/trials")
def list_trials(
    request: Request, sweep_id: str, _: Principal = policy(Access.READ, project_of_sweep)
) -> Response:
    return reply(request, [trial_to_wire(t) for t in store(request).sweep_trials(sweep_id)])


@router.get("/sweeps/{sweep_id}/analysis")
def analysis(
    request: Request,
    sweep_id: str,
    importance: str = "ped_anova",
    _: Principal = policy(Access.READ, project_of_sweep),
) -> Response:
    return reply(request, store(request).sweep_analysis(sweep_id, importance=importance))


@router.post("/sweeps/{sweep_id}/ask")
async def ask(
    request: Request, sweep_id: str, principal: Principal = policy(Access.WRITE, project_of_sweep)
) -> Response:
    body = await _body(request, "host", "actor", "request_id")
    host = _opt_str(body, "host", 250) or ""
    request_id = _opt_str(body, "request_id", 64)

    def go() -> Response:
        trial = store(request).sweep_ask(
            sweep_id, user=actor_of(request, principal, body), host=host, request_id=request_id
        )
        return reply(request, None if trial is None else trial_to_wire(trial))

    return await run_in_threadpool(go)


@router.post("/sweeps/{sweep_id}/trials/{run_id}/report")
async def report(
    request: Request,
    sweep_id: str,
    run_id: str,
    _: Principal = policy(Access.WRITE, project_of_sweep),
) -> Response:
    body = await _body(request, "step", "value")
    if "step" not in body or "value" not in body:
        raise ValidationError("the body must be {'step': N, 'value': X}")

    def go() -> Response:
        prune = store(request).sweep_report(sweep_id, run_id, body["step"], body["value"])
        return reply(request, {"prune": prune})

    return await run_in_threadpool(go)


@router.post("/sweeps/{sweep_id}/trials/{run_id}/tell")
async def tell(
    request: Request,
    sweep_id: str,
    run_id: str,
    _: Principal = policy(Access.WRITE, project_of_sweep),
) -> Response:
    body = await _body(request, "state", "values", "error")
    state = body.get("state", "complete")
    if not isinstance(state, str):
        raise ValidationError("'state' must be complete, pruned or failed")
    values = body.get("values")
    error = _opt_str(body, "error", 100_000)

    def go() -> Response:
        trial = store(request).sweep_tell(
            sweep_id,
            run_id,
            state=state,
            values=values,
            error=error,
        )
        return reply(request, trial_to_wire(trial))

    return await run_in_threadpool(go)


@router.post("/sweeps/{sweep_id}/stop")
async def stop(
    request: Request, sweep_id: str, _: Principal = policy(Access.WRITE, project_of_sweep)
) -> Response:
    body = await _body(request, "reason")
    reason = _opt_str(body, "reason", 1000)

    def go() -> Response:
        return reply(request, sweep_to_wire(store(request).stop_sweep(sweep_id, reason=reason)))

    return await run_in_threadpool(go)


@router.post("/sweeps/{sweep_id}/resume")
async def resume(
    request: Request, sweep_id: str, _: Principal = policy(Access.WRITE, project_of_sweep)
) -> Response:
    body = await _body(request, "trials", "seconds")
    trials, seconds = check_extension(body.get("trials"), body.get("seconds"))

    def go() -> Response:
        sw = store(request).resume_sweep(sweep_id, trials=trials, seconds=seconds)
        return reply(request, sweep_to_wire(sw))

    return await run_in_threadpool(go)
