"""Who may do what: principals, project roles, and the per-route policy.

Deny by default: every route takes exactly one policy (a dependency made by
:func:`policy`), and ``tests/server/test_routes_policy.py`` fails if a registered route
has none. A policy authenticates the request (``Authorization: Bearer <token>``), then
checks the principal's role in the project the route touches:

========== =====================================================================
access      who passes
========== =====================================================================
PUBLIC      everyone (health checks only)
USER        any authenticated principal (the route may check more itself)
READ        viewer, editor or admin of the project
WRITE       editor or admin of the project
MANAGE      admin of the project
ADMIN       server administrators
========== =====================================================================

Server administrators pass every check. The :class:`Authenticator` decides who a token
belongs to and which roles they hold; :class:`OpenAccess` (a server started without
auth, on loopback or with ``--insecure-no-auth``) treats every request as an
administrator.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool


class Role(enum.IntEnum):
    VIEWER = 1
    EDITOR = 2
    ADMIN = 3

    @classmethod
    def parse(cls, value: str) -> Role:
        try:
            return cls[value.upper()]
        except KeyError:
            raise ValueError(f"role {value!r} must be viewer, editor or admin") from None


class Access(enum.Enum):
    PUBLIC = "public"
    USER = "user"
    READ = "read"
    WRITE = "write"
    MANAGE = "manage"
    ADMIN = "admin"


_NEEDED = {Access.READ: Role.VIEWER, Access.WRITE: Role.EDITOR, Access.MANAGE: Role.ADMIN}


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    admin: bool = False
    token_id: int | None = None


ANONYMOUS_ADMIN = Principal("local", admin=True)


class Authenticator(abc.ABC):
    """Answers who a credential belongs to and what they may do. Thread-safe."""

    @abc.abstractmethod
    def authenticate(self, token: str | None) -> Principal | None:
        """The principal of a bearer token; None if missing, unknown, revoked or expired."""

    @abc.abstractmethod
    def role(self, principal: Principal, project: str) -> Role | None:
        """The principal's role in a project (None: no access). Admins are not asked."""

    @abc.abstractmethod
    def readable_projects(self, principal: Principal) -> list[str] | None:
        """Projects the principal may read; None means all of them."""

    @abc.abstractmethod
    def project_created(self, principal: Principal, project: str) -> None:
        """A principal created a project (its first run): make them its admin."""


class OpenAccess(Authenticator):
    """No authentication: every request acts as an administrator."""

    def authenticate(self, token: str | None) -> Principal | None:
        return ANONYMOUS_ADMIN

    def role(self, principal: Principal, project: str) -> Role | None:
        return Role.ADMIN

    def readable_projects(self, principal: Principal) -> list[str] | None:
        return None

    def project_created(self, principal: Principal, project: str) -> None:
        return None


ProjectOf = Callable[[Request], str | None]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(
            401,
            "the Authorization header must be 'Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return token.strip()


def authenticate(request: Request) -> Principal:
    auth: Authenticator = request.app.state.authenticator
    principal = auth.authenticate(bearer_token(request))
    if principal is None:
        raise HTTPException(
            401,
            "authentication required: send 'Authorization: Bearer "
            "<token>' (create a token with `runtrack token create`)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.state.principal = principal
    return principal


def check_project(request: Request, principal: Principal, project: str, needed: Role) -> None:
    """Refuse unless the principal holds ``needed`` (or more) in ``project``. A project
    the principal cannot see is reported as not found, not forbidden."""
    if principal.admin:
        return
    auth: Authenticator = request.app.state.authenticator
    role = auth.role(principal, project)
    if role is None:
        raise HTTPException(
            404, f"project {project!r} does not exist or is not visible to {principal.name}"
        )
    if role < needed:
        raise HTTPException(
            403,
            f"{principal.name} is {role.name.lower()} of project "
            f"{project!r}; this needs {needed.name.lower()}",
        )


def policy(access: Access, project: ProjectOf | None = None) -> Any:
    """The dependency that guards a route; it returns the request's ``Principal``.

    ``project`` finds the project the request touches (a path parameter, or the project
    of the run named in the path); READ/WRITE/MANAGE need it.
    """
    if access in _NEEDED and project is None:
        raise ValueError(f"{access} needs a way to find the project")

    def check(request: Request) -> Principal:
        principal = authenticate(request)
        if access is Access.USER:
            return principal
        if access is Access.ADMIN:
            if not principal.admin:
                raise HTTPException(403, f"{principal.name} is not a server administrator")
            return principal
        assert project is not None
        name = project(request)
        if name is not None:
            try:
                check_project(request, principal, name, _NEEDED[access])
            except HTTPException as exc:
                unknown = getattr(project, "unknown", None)
                if exc.status_code == 404 and unknown is not None:
                    # a run or sweep the principal cannot see answers as one that does not
                    # exist: its 404 must not tell that it does, nor name its project
                    raise unknown(request) from None
                raise
        return principal

    async def guard(request: Request) -> Principal:
        # async, so that a request costs no thread hop where nothing can block: public
        # routes, and a server without authentication (everyone is the administrator,
        # no token or role to look up). Token and role lookups read the database: they
        # run in the thread pool.
        if access is Access.PUBLIC:
            return ANONYMOUS_ADMIN if request.app.state.open_access else Principal("anonymous")
        if request.app.state.open_access:
            principal = authenticate(request)
            # no role to check, but the resolver validates the path (and may keep what
            # it loaded for the route): run it, in the pool unless its answer is cached
            if project is not None and _peek(project, request) is None:
                await run_in_threadpool(project, request)
            return principal
        return await run_in_threadpool(check, request)

    guard.__runtrack_policy__ = access  # type: ignore[attr-defined]
    return Depends(guard)


def _peek(project: ProjectOf, request: Request) -> str | None:
    """The project a resolver would find, if it knows it without any I/O (its ``peek``
    attribute, e.g. a cache of run -> project); None to call the resolver."""
    peek: ProjectOf | None = getattr(project, "peek", None)
    return None if peek is None else peek(request)


def route_policy(dependency: Any) -> Access | None:
    """The policy a dependency callable enforces (for the route audit test)."""
    return getattr(dependency, "__runtrack_policy__", None)
