"""The artifact catalogue, run inputs, deletion and lineage.

::

    GET    /projects/{project}/artifacts?type=T                 artifacts (READ)
    GET    /projects/{project}/artifacts/{name}/versions        versions (READ)
    GET    /projects/{project}/artifacts/{name}/alias-history   alias log (READ)
    PUT    /projects/{project}/artifacts/{name}/aliases/{alias} {version, reason} (WRITE)
    DELETE /projects/{project}/artifacts/{name}/aliases/{alias}?reason= (WRITE)
    DELETE /projects/{project}/artifacts/{ref}?force=           delete a version (WRITE)
    POST   /runs/{run_id}/uses                                  {ref} (WRITE; READ on the
                                                                artifact's project)
    DELETE /runs/{run_id}?force=                                delete a run (WRITE)
    GET    /lineage?root=R&project=P&direction=up|down&depth=N  (READ on the root's
                                                                project; nodes of projects
                                                                the caller cannot read are
                                                                left out)

The actor recorded in audit logs is the authenticated user, never a name the client
sends (on a server without authentication, the client's ``actor`` is taken as given).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from ...entities import Lineage
from ...errors import NotFoundError, ValidationError
from ...protocol import (
    alias_event_to_wire,
    artifact_info_to_wire,
    lineage_to_wire,
    version_to_wire,
)
from ...store.base import TrackingStore
from ...validation import check_project
from .._deps import config, project_of_path, project_of_run, store
from .._io import read_body, reply
from ..auth import Access, Authenticator, Principal, Role, policy
from ..auth import check_project as authorize

router = APIRouter(prefix="/api/v1", tags=["artifacts"])


def actor_of(request: Request, principal: Principal, body: Any = None) -> str:
    """Who did it: the authenticated user; on an open server, what the client says."""
    if request.app.state.open_access and isinstance(body, dict):
        claimed = body.get("actor")
        if isinstance(claimed, str) and claimed.strip():
            return claimed[:250]
    return principal.name


async def body_object(request: Request) -> dict[str, Any]:
    body = await read_body(request, config(request).limits.json_body_bytes)
    if not isinstance(body, dict):
        raise ValidationError("the request body must be an object")
    return body


@router.get("/projects/{project}/artifacts")
def list_artifacts(
    request: Request,
    project: str,
    type: str | None = None,
    _: Principal = policy(Access.READ, project_of_path),
) -> Response:
    check_project(project)
    items = store(request).list_artifacts(project, type)
    return reply(request, [artifact_info_to_wire(a) for a in items])


@router.get("/projects/{project}/artifacts/{name}/versions")
def list_versions(
    request: Request, project: str, name: str, _: Principal = policy(Access.READ, project_of_path)
) -> Response:
    check_project(project)
    versions = store(request).list_artifact_versions(project, name)
    return reply(request, [version_to_wire(v) for v in versions])


@router.get("/projects/{project}/artifacts/{name}/alias-history")
def alias_history(
    request: Request,
    project: str,
    name: str,
    alias: str | None = None,
    _: Principal = policy(Access.READ, project_of_path),
) -> Response:
    check_project(project)
    events = store(request).artifact_alias_history(project, name, alias)
    return reply(request, [alias_event_to_wire(e) for e in events])


@router.put("/projects/{project}/artifacts/{name}/aliases/{alias}")
async def set_alias(
    request: Request,
    project: str,
    name: str,
    alias: str,
    principal: Principal = policy(Access.WRITE, project_of_path),
) -> Response:
    """Body ``{"version": "vN", "reason": "..."}``."""
    check_project(project)
    body = await body_object(request)
    version = body.get("version")
    if not isinstance(version, str):
        raise ValidationError("'version' must be 'vN' or another alias of the artifact")
    result = await run_in_threadpool(
        lambda: store(request).set_artifact_alias(
            project,
            name,
            alias,
            version,
            actor=actor_of(request, principal, body),
            reason=body.get("reason"),
        )
    )
    return reply(request, None if result is None else version_to_wire(result))


@router.delete("/projects/{project}/artifacts/{name}/aliases/{alias}")
def remove_alias(
    request: Request,
    project: str,
    name: str,
    alias: str,
    reason: str | None = None,
    actor: str | None = None,
    principal: Principal = policy(Access.WRITE, project_of_path),
) -> Response:
    check_project(project)
    store(request).set_artifact_alias(
        project,
        name,
        alias,
        None,
        actor=actor_of(request, principal, {"actor": actor}),
        reason=reason,
    )
    return reply(request, None)


@router.delete("/projects/{project}/artifacts/{ref}")
def delete_version(
    request: Request,
    project: str,
    ref: str,
    force: bool = False,
    actor: str | None = None,
    principal: Principal = policy(Access.WRITE, project_of_path),
) -> Response:
    check_project(project)
    version = store(request).delete_artifact_version(
        project, ref, force=force, actor=actor_of(request, principal, {"actor": actor})
    )
    return reply(request, version_to_wire(version))


@router.post("/runs/{run_id}/uses")
async def use_artifact(
    request: Request, run_id: str, principal: Principal = policy(Access.WRITE, project_of_run)
) -> Response:
    """Body ``{"ref": "name:alias"}`` (or ``project/name:alias``: READ on that project)."""
    body = await body_object(request)
    ref = body.get("ref")
    if not isinstance(ref, str):
        raise ValidationError("'ref' must be an artifact reference such as 'name:latest'")
    project, sep, _ = ref.partition("/")
    if sep:
        await run_in_threadpool(authorize, request, principal, check_project(project), Role.VIEWER)
    version = await run_in_threadpool(store(request).use_artifact, run_id, ref)
    return reply(request, version_to_wire(version))


@router.delete("/runs/{run_id}")
def delete_run(
    request: Request,
    run_id: str,
    force: bool = False,
    _: Principal = policy(Access.WRITE, project_of_run),
) -> Response:
    store(request).delete_run(run_id, force=force)
    request.app.state.run_projects.pop(run_id, None)
    return reply(request, None)


def _root_project(s: TrackingStore, root: str, project: str | None) -> str | None:
    """The project whose READ role a lineage root needs (None: a dataset, any user)."""
    if root.startswith("run:"):
        return s.run_project(root[4:])
    if root.startswith("dataset:"):
        return None
    if "@" in root:
        return s.get_model(root.partition("@")[0]).project
    ref = root.removeprefix("artifact:")
    head, sep, _ = ref.partition("/")
    if sep:
        return check_project(head)
    if ":" not in ref and not root.startswith("artifact:"):
        try:
            return s.run_project(ref)
        except (NotFoundError, ValidationError):
            pass
    return project


@router.get("/lineage")
def lineage(
    request: Request,
    root: str,
    project: str | None = None,
    direction: str = "up",
    depth: int | None = Query(None, ge=0),
    principal: Principal = policy(Access.USER),
) -> Response:
    s = store(request)
    if project is not None:
        check_project(project)
    owner = _root_project(s, root, project)
    if owner is not None:
        authorize(request, principal, owner, Role.VIEWER)
    graph = s.lineage(root, project=project, direction=direction, depth=depth)
    return reply(request, lineage_to_wire(visible_part(request, principal, graph)))


def visible_part(request: Request, principal: Principal, graph: Lineage) -> Lineage:
    """The graph without the nodes of projects the principal cannot read."""
    if principal.admin:
        return graph
    auth: Authenticator = request.app.state.authenticator
    readable = set(auth.readable_projects(principal) or ())
    keep = {n.id for n in graph.nodes if n.project is None or n.project in readable}
    if len(keep) == len(graph.nodes):
        return graph
    return dataclasses.replace(
        graph,
        nodes=tuple(n for n in graph.nodes if n.id in keep),
        edges=tuple(e for e in graph.edges if e.source in keep and e.target in keep),
        truncated=True,
    )
