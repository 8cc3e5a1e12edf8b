"""Projects: the ones a principal may read."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ...protocol import project_to_wire
from .._deps import project_of_path, store
from .._io import reply
from ..auth import Access, Authenticator, Principal, policy

router = APIRouter(prefix="/api/v1", tags=["projects"])


@router.get("/projects")
def list_projects(request: Request, principal: Principal = policy(Access.USER)) -> Response:
    auth: Authenticator = request.app.state.authenticator
    visible = None if principal.admin else auth.readable_projects(principal)
    projects = store(request).list_projects()
    if visible is not None:
        allowed = set(visible)
        projects = [p for p in projects if p.name in allowed]
    return reply(request, [project_to_wire(p) for p in projects])


@router.get("/projects/{project}")
def get_project(
    request: Request, project: str, _: Principal = policy(Access.READ, project_of_path)
) -> Response:
    return reply(request, project_to_wire(store(request).get_project(project)))
