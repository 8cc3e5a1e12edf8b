"""Who am I, sign-in, API tokens, users (server administrators) and project members.

A token's text appears in exactly one response: the one that creates it (sign-in, a new
token, a new user's first token). Listings show its id, label and first 8 characters.
Sign-in answers every failure with the same 401, whether or not the user exists, and
refuses (429) a user name and client address after ``LOGIN_FAILURES`` failures within
``LOGIN_WINDOW`` seconds; see ``docs/server-auth.md``.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from ...errors import ValidationError
from ...validation import check_project
from .._deps import config, project_of_path
from .._io import read_body, reply
from ..auth import Access, Authenticator, Principal, policy
from ..users import Member, SqlAuthenticator, Token, User

router = APIRouter(prefix="/api/v1", tags=["auth"])

LOGIN_FAILURES = 10  # failed sign-ins per user name and client address ...
LOGIN_WINDOW = 60.0  # ... within this many seconds
CLIENT_FAILURES = 100  # failed sign-ins per client address, whatever the user name
LOGIN_TOKEN_LIFETIME = 30 * 86400.0  # a token made by signing in expires after 30 days
_BAD_SIGN_IN = "wrong user name or password"


def _body(required: list[str], **properties: Any) -> dict[str, Any]:
    """The OpenAPI request body of a route that reads (and size-limits) its own JSON."""
    schema = {"type": "object", "required": required, "properties": properties}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


_STRING = {"type": "string"}
_LOGIN = _body(["user", "password"], user=_STRING, password=_STRING, label=_STRING)
_NEW_TOKEN = _body(["label"], label=_STRING, expires_in={"type": ["number", "null"]})
_NEW_USER = _body(["name"], name=_STRING, admin={"type": "boolean"}, password=_STRING)
_ROLE = _body(["role"], role={"type": "string", "enum": ["viewer", "editor", "admin"]})


# -- wire forms -------------------------------------------------------------------------
def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def user_to_wire(u: User) -> dict[str, Any]:
    return {
        "name": u.name,
        "admin": u.admin,
        "disabled": u.disabled,
        "has_password": u.has_password,
        "created_at": _ts(u.created_at),
    }


def token_to_wire(t: Token) -> dict[str, Any]:
    return {
        "id": t.id,
        "user": t.user,
        "label": t.label,
        "prefix": t.prefix,
        "created_at": _ts(t.created_at),
        "last_used_at": _ts(t.last_used_at),
        "expires_at": _ts(t.expires_at),
        "revoked_at": _ts(t.revoked_at),
    }


def member_to_wire(m: Member) -> dict[str, Any]:
    return {
        "project": m.project,
        "user": m.user,
        "role": m.role.name.lower(),
        "granted_by": m.granted_by,
        "granted_at": _ts(m.granted_at),
    }


# -- helpers ----------------------------------------------------------------------------
def _users(request: Request) -> SqlAuthenticator:
    auth: Authenticator = request.app.state.authenticator
    if not isinstance(auth, SqlAuthenticator):
        raise HTTPException(
            404, "this server runs without authentication: it has no users, tokens or roles"
        )
    return auth


async def _fields(
    request: Request, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> dict[str, Any]:
    body = await read_body(request, config(request).limits.json_body_bytes)
    shape = ", ".join([*required, *(f"{k}?" for k in optional)])
    if not isinstance(body, dict):
        raise ValidationError(f"the request body is an object: {{{shape}}}")
    unknown = set(body) - {*required, *optional}
    missing = [k for k in required if k not in body]
    if unknown or missing:
        raise ValidationError(
            f"the request body is an object: {{{shape}}}"
            + (f"; unknown: {', '.join(sorted(unknown))}" if unknown else "")
            + (f"; missing: {', '.join(missing)}" if missing else "")
        )
    return body


def _string(body: dict[str, Any], key: str) -> str:
    value = body[key]
    if not isinstance(value, str):
        raise ValidationError(f"{key} must be a string")
    return value


class FailedSignIns:
    """Failed sign-ins in a sliding window, per (user name, client address) and per client
    address, in this process's memory (a restart forgets them). Thread-safe; bounded:
    beyond ``max_keys`` the least recently failing keys are forgotten."""

    def __init__(
        self,
        per_user: int = LOGIN_FAILURES,
        per_client: int = CLIENT_FAILURES,
        window: float = LOGIN_WINDOW,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self._limits = (per_user, per_client)
        self._window = window
        self._clock = clock
        self._max_keys = max_keys
        self._lock = threading.Lock()
        self._failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()

    def _keys(self, user: str, client: str) -> tuple[tuple[str, str], tuple[str, str]]:
        return (user[:100], client), ("", client)  # "" is no valid user name

    def retry_after(self, user: str, client: str) -> float:
        """Seconds until this user name may try again from this address; 0: now."""
        now = self._clock()
        wait = 0.0
        with self._lock:
            for key, limit in zip(self._keys(user, client), self._limits, strict=True):
                times = self._failures.get(key)
                if times is None:
                    continue
                while times and times[0] <= now - self._window:
                    times.popleft()
                if len(times) >= limit:
                    wait = max(wait, times[len(times) - limit] + self._window - now)
        return wait

    def failed(self, user: str, client: str) -> None:
        now = self._clock()
        with self._lock:
            for key in self._keys(user, client):
                times = self._failures.setdefault(key, deque(maxlen=max(self._limits)))
                times.append(now)
                self._failures.move_to_end(key)
            while len(self._failures) > self._max_keys:
                self._failures.popitem(last=False)

    def succeeded(self, user: str, client: str) -> None:
        with self._lock:
            self._failures.pop(self._keys(user, client)[0], None)


def _sign_ins(request: Request) -> FailedSignIns:
    state = request.app.state
    limiter = getattr(state, "failed_sign_ins", None)
    if limiter is None:  # requests reach here on the event loop's thread: no race
        limiter = state.failed_sign_ins = FailedSignIns()
    assert isinstance(limiter, FailedSignIns)
    return limiter


# -- who am I, sign-in --------------------------------------------------------------------
@router.get("/auth/me")
def me(request: Request, principal: Principal = policy(Access.USER)) -> Response:
    """The authenticated user, and their roles in projects."""
    auth: Authenticator = request.app.state.authenticator
    memberships = auth.memberships(principal.name) if isinstance(auth, SqlAuthenticator) else []
    return reply(
        request,
        {
            "name": principal.name,
            "admin": principal.admin,
            "token_id": principal.token_id,
            "projects": {m.project: m.role.name.lower() for m in memberships},
        },
    )


@router.post("/auth/login", status_code=201, openapi_extra=_LOGIN)
async def login(request: Request, _: Principal = policy(Access.PUBLIC)) -> Response:
    """Exchange a user name and password for a new token (expires in 30 days)."""
    auth = _users(request)
    body = await _fields(request, ("user", "password"), ("label",))
    user, password = _string(body, "user"), _string(body, "password")
    label = _string(body, "label") if "label" in body else "sign-in"
    client = request.client.host if request.client else "?"
    limiter = _sign_ins(request)
    wait = limiter.retry_after(user, client)
    if wait > 0:
        raise HTTPException(
            429,
            f"too many failed sign-ins; retry in {math.ceil(wait)} s",
            headers={"Retry-After": str(math.ceil(wait))},
        )
    principal = await run_in_threadpool(auth.login, user, password)
    if principal is None:
        limiter.failed(user, client)
        raise HTTPException(401, _BAD_SIGN_IN, headers={"WWW-Authenticate": "Bearer"})
    limiter.succeeded(user, client)
    token_id, token = await run_in_threadpool(
        auth.create_token, principal.name, label, LOGIN_TOKEN_LIFETIME
    )
    record = await run_in_threadpool(auth.get_token, token_id)
    return reply(request, {**token_to_wire(record), "token": token}, 201)


# -- own tokens ---------------------------------------------------------------------------
@router.get("/auth/tokens")
def list_tokens(request: Request, principal: Principal = policy(Access.USER)) -> Response:
    """The caller's tokens (never their text), revoked and expired ones included."""
    return reply(request, [token_to_wire(t) for t in _users(request).list_tokens(principal.name)])


@router.post("/auth/tokens", status_code=201, openapi_extra=_NEW_TOKEN)
async def create_token(request: Request, principal: Principal = policy(Access.USER)) -> Response:
    """A new token of the caller: ``{label, expires_in?}`` (seconds). Its text is in
    this response only."""
    auth = _users(request)
    body = await _fields(request, ("label",), ("expires_in",))
    token_id, token = await run_in_threadpool(
        auth.create_token, principal.name, body["label"], body.get("expires_in")
    )
    record = await run_in_threadpool(auth.get_token, token_id)
    return reply(request, {**token_to_wire(record), "token": token}, 201)


@router.delete("/auth/tokens/{token_id}", status_code=204)
def revoke_token(
    request: Request, token_id: int, principal: Principal = policy(Access.USER)
) -> Response:
    """Revoke a token: one's own, or anyone's for a server administrator."""
    _users(request).revoke_token(token_id, by=principal)
    return Response(status_code=204)


# -- users (server administrators) -----------------------------------------------------
@router.get("/admin/users")
def list_users(request: Request, _: Principal = policy(Access.ADMIN)) -> Response:
    return reply(request, [user_to_wire(u) for u in _users(request).list_users()])


@router.post("/admin/users", status_code=201, openapi_extra=_NEW_USER)
async def create_user(request: Request, principal: Principal = policy(Access.ADMIN)) -> Response:
    """A new user ``{name, admin?, password?}``, with a first token shown once."""
    auth = _users(request)
    body = await _fields(request, ("name",), ("admin", "password"))
    admin = body.get("admin", False)
    if not isinstance(admin, bool):
        raise ValidationError("admin must be true or false")
    password = body.get("password")
    user = await run_in_threadpool(auth.create_user, body["name"], admin, password)
    token_id, token = await run_in_threadpool(
        auth.create_token, user.name, f"created by {principal.name}"[:100]
    )
    return reply(request, {"user": user_to_wire(user), "token_id": token_id, "token": token}, 201)


@router.post("/admin/users/{name}/disable")
def disable_user(
    request: Request, name: str, principal: Principal = policy(Access.ADMIN)
) -> Response:
    """Disable a user: their tokens stop working at once."""
    if name == principal.name:
        raise ValidationError(
            "you cannot disable yourself; another administrator (or `runtrack admin "
            "disable-user` on the server host) can"
        )
    return reply(request, user_to_wire(_users(request).disable_user(name)))


# -- project members --------------------------------------------------------------------
@router.get("/projects/{project}/members")
def list_members(
    request: Request, project: str, _: Principal = policy(Access.READ, project_of_path)
) -> Response:
    check_project(project)
    return reply(request, [member_to_wire(m) for m in _users(request).members(project)])


@router.put("/projects/{project}/members/{user}", openapi_extra=_ROLE)
async def set_member(
    request: Request,
    project: str,
    user: str,
    principal: Principal = policy(Access.MANAGE, project_of_path),
) -> Response:
    """Give a user a role in the project: ``{role}``, viewer, editor or admin."""
    auth = _users(request)
    body = await _fields(request, ("role",))
    member = await run_in_threadpool(auth.grant, user, project, body["role"], principal.name)
    return reply(request, member_to_wire(member))


@router.delete("/projects/{project}/members/{user}", status_code=204)
def remove_member(
    request: Request,
    project: str,
    user: str,
    _: Principal = policy(Access.MANAGE, project_of_path),
) -> Response:
    _users(request).revoke_membership(user, project)
    return Response(status_code=204)
