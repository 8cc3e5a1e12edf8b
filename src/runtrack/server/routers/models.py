"""The model registry. A registered model belongs to the project of its first version:
reading it needs READ there, registering versions and moving aliases WRITE, changing its
promotion gates MANAGE (an editor cannot lift the gates that hold the editor back).

::

    GET    /models?project=P                       registered models the caller can read
    GET    /models/{name}                          one (READ)
    GET    /models/{name}/versions                 its versions (READ)
    POST   /models/{name}/versions                 {project, ref, tags?, description?}:
                                                   register (WRITE on the artifact's project
                                                   and on the model's)
    GET    /model-versions?ref=name@alias          one version (READ)
    GET    /model-detail?ref=name@alias            version + run + lineage, one answer (READ)
    PUT    /models/{name}/aliases/{alias}          {version, reason} (WRITE; gates checked)
    DELETE /models/{name}/aliases/{alias}?reason=  (WRITE)
    GET    /models/{name}/alias-history?alias=A&at=T   the audit log, or with ``at`` (epoch
                                                   seconds) the version the alias named then
    PUT    /models/{name}/gates                    {gates} (MANAGE)
    PATCH  /models/{name}/versions/{version}/tags  {tags} (WRITE)

There is no route that edits or deletes the audit log; the database refuses it too.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from ...errors import ModelNotFoundError, ValidationError
from ...protocol import (
    alias_event_to_wire,
    model_detail_to_wire,
    model_version_to_wire,
    registered_model_to_wire,
)
from ...store.base import TrackingStore
from ...validation import check_project
from .._deps import store
from .._io import reply
from ..auth import Access, Authenticator, Principal, Role, policy
from ..auth import check_project as authorize
from .catalog import actor_of, body_object, visible_part

router = APIRouter(prefix="/api/v1", tags=["models"])


def _name_of_ref(ref: str) -> str:
    for sep in ("@", "/"):
        if sep in ref:
            return ref.partition(sep)[0]
    return ref


def _owner(s: TrackingStore, name: str) -> str:
    return s.model_project(name)


def _check(request: Request, principal: Principal, name: str, role: Role) -> None:
    authorize(request, principal, _owner(store(request), name), role)


@router.get("/models")
def list_models(
    request: Request, project: str | None = None, principal: Principal = policy(Access.USER)
) -> Response:
    if project is not None:
        check_project(project)
    models = store(request).list_models(project)
    if not principal.admin:
        auth: Authenticator = request.app.state.authenticator
        readable = auth.readable_projects(principal)
        if readable is not None:
            allowed = set(readable)
            models = [m for m in models if m.project in allowed]
    return reply(request, [registered_model_to_wire(m) for m in models])


@router.get("/models/{name}")
def get_model(request: Request, name: str, principal: Principal = policy(Access.USER)) -> Response:
    model = store(request).get_model(name)
    authorize(request, principal, model.project, Role.VIEWER)
    return reply(request, registered_model_to_wire(model))


@router.get("/models/{name}/versions")
def list_versions(
    request: Request, name: str, principal: Principal = policy(Access.USER)
) -> Response:
    _check(request, principal, name, Role.VIEWER)
    return reply(
        request, [model_version_to_wire(v) for v in store(request).list_model_versions(name)]
    )


@router.post("/models/{name}/versions", status_code=201)
async def register(
    request: Request, name: str, principal: Principal = policy(Access.USER)
) -> Response:
    body = await body_object(request)
    project, ref = body.get("project"), body.get("ref")
    if not isinstance(ref, str):
        raise ValidationError("'ref' must name an artifact version, e.g. 'churn-model:v3'")
    check_project(project)
    assert isinstance(project, str)
    head, sep, _ = ref.partition("/")
    artifact_project = check_project(head) if sep else project
    s = store(request)

    def go() -> Response:
        authorize(request, principal, artifact_project, Role.EDITOR)
        if artifact_project != project:
            authorize(request, principal, project, Role.EDITOR)
        try:
            owner: str | None = s.get_model(name).project
        except ModelNotFoundError:  # a new model: the project of `project` will own it
            owner = None
        if owner is not None:
            authorize(request, principal, owner, Role.EDITOR)
        version = s.register_model(
            name,
            project,
            ref,
            actor=actor_of(request, principal, body),
            tags=body.get("tags"),
            description=body.get("description"),
        )
        return reply(request, model_version_to_wire(version), 201)

    return await run_in_threadpool(go)


@router.get("/model-versions")
def get_version(request: Request, ref: str, principal: Principal = policy(Access.USER)) -> Response:
    _check(request, principal, _name_of_ref(ref), Role.VIEWER)
    return reply(request, model_version_to_wire(store(request).get_model_version(ref)))


@router.get("/model-detail")
def model_detail(
    request: Request, ref: str, principal: Principal = policy(Access.USER)
) -> Response:
    _check(request, principal, _name_of_ref(ref), Role.VIEWER)
    detail = store(request).model_detail(ref)
    if detail.run is not None and not principal.admin:
        try:
            authorize(request, principal, detail.run.project, Role.VIEWER)
        except HTTPException:  # the run lives in a project the caller cannot read
            detail = type(detail)(detail.version, None, detail.lineage, detail.alias)
    detail = type(detail)(
        detail.version, detail.run, visible_part(request, principal, detail.lineage), detail.alias
    )
    return reply(request, model_detail_to_wire(detail))


@router.put("/models/{name}/aliases/{alias}")
async def set_alias(
    request: Request, name: str, alias: str, principal: Principal = policy(Access.USER)
) -> Response:
    """Body ``{"version": 7, "reason": "..."}``. 409 ``promotion_refused`` when a gate
    refuses (nothing changes)."""
    body = await body_object(request)

    def go() -> Response:
        _check(request, principal, name, Role.EDITOR)
        result = store(request).set_model_alias(
            name,
            alias,
            body.get("version"),
            actor=actor_of(request, principal, body),
            reason=body.get("reason"),
        )
        return reply(request, None if result is None else model_version_to_wire(result))

    if body.get("version") is None:
        raise ValidationError("'version' is required (remove an alias with DELETE)")
    return await run_in_threadpool(go)


@router.delete("/models/{name}/aliases/{alias}")
def remove_alias(
    request: Request,
    name: str,
    alias: str,
    reason: str | None = None,
    actor: str | None = None,
    principal: Principal = policy(Access.USER),
) -> Response:
    _check(request, principal, name, Role.EDITOR)
    store(request).set_model_alias(
        name, alias, None, actor=actor_of(request, principal, {"actor": actor}), reason=reason
    )
    return reply(request, None)


@router.get("/models/{name}/alias-history")
def alias_history(
    request: Request,
    name: str,
    alias: str | None = None,
    at: float | None = None,
    principal: Principal = policy(Access.USER),
) -> Response:
    _check(request, principal, name, Role.VIEWER)
    s = store(request)
    if at is not None:
        if alias is None:
            raise ValidationError("'at' needs 'alias': which alias to look up at that time")
        version = s.model_version_at(name, alias, at)
        return reply(
            request, {"version": None if version is None else model_version_to_wire(version)}
        )
    return reply(request, [alias_event_to_wire(e) for e in s.model_alias_history(name, alias)])


@router.put("/models/{name}/gates")
async def set_gates(
    request: Request, name: str, principal: Principal = policy(Access.USER)
) -> Response:
    body = await body_object(request)

    def go() -> Response:
        _check(request, principal, name, Role.ADMIN)
        model = store(request).set_model_gates(name, body.get("gates", []))
        return reply(request, registered_model_to_wire(model))

    return await run_in_threadpool(go)


@router.patch("/models/{name}/versions/{version}/tags")
async def set_tags(
    request: Request, name: str, version: int, principal: Principal = policy(Access.USER)
) -> Response:
    body = await body_object(request)

    def go() -> Response:
        _check(request, principal, name, Role.EDITOR)
        mv = store(request).set_model_version_tags(name, version, body.get("tags") or {})
        return reply(request, model_version_to_wire(mv))

    return await run_in_threadpool(go)
