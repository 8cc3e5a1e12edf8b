"""Deny by default: every API route declares exactly one policy, and the app serves no
route that is not an API route except the ones listed here."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import fastapi.routing
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from runtrack.server.auth import Access, route_policy

# (path, methods) of the routes outside /api/v1, and the policy each must have (None: not
# an APIRoute, served by FastAPI itself)
NON_API = {
    "/health": Access.PUBLIC,
    "/ready": Access.PUBLIC,
    "/docs": None,
    "/docs/oauth2-redirect": None,
    "/openapi.json": None,
    # the web UI's static files (no data: the pages call the API with the user's token)
    "/": None,
    "/ui": None,
    "/ui/assets/{name}": None,
    "/ui/{path:path}": None,
}
# the only routes anyone may call without a token
PUBLIC = {"/health", "/ready", "/api/v1/auth/login"}


@pytest.fixture
def app(app_factory: Callable[..., FastAPI]) -> Iterator[FastAPI]:
    app = app_factory(auth=True)
    yield app
    app.state.authenticator.close()


class Served:
    """A route as the app serves it: its full path, methods, dependencies."""

    def __init__(self, route: Any) -> None:
        self.original = getattr(route, "original_route", route)
        self.api = isinstance(self.original, APIRoute)
        self.path: str = route.path
        self.methods: set[str] = set(getattr(route, "methods", None) or ())
        self.policies = _policies(route.dependant) if self.api else []

    def __repr__(self) -> str:
        return f"{sorted(self.methods)} {self.path}: {[p.value for p in self.policies]}"


def served(app: FastAPI) -> list[Served]:
    """Every route of the app, flattened: recent FastAPI keeps an included router in
    ``app.routes`` as one lazy branch, and ``iter_route_contexts`` walks the branches."""
    walk = getattr(fastapi.routing, "iter_route_contexts", None)
    routes = list(app.routes) if walk is None else list(walk(app.routes))
    return [Served(r) for r in routes]


def _policies(dependant: Dependant) -> list[Access]:
    found = []
    for dep in dependant.dependencies:
        access = route_policy(dep.call)
        if access is not None:
            found.append(access)
        found.extend(_policies(dep))
    return found


def test_every_api_route_has_exactly_one_policy(app: FastAPI) -> None:
    routes = [r for r in served(app) if r.api]
    offending = [r for r in routes if len(r.policies) != 1]
    print("\n".join(map(repr, offending)))
    assert offending == [], "routes without exactly one policy (see stdout)"
    assert len(routes) >= 25  # runs, projects, users... are all seen (none hidden in a branch)


def test_only_known_routes_live_outside_the_api(app: FastAPI) -> None:
    outside = {r.path: r for r in served(app) if not r.path.startswith("/api/v1/")}
    unexpected = sorted(set(outside) - set(NON_API))
    print("\n".join(repr(outside[p]) for p in unexpected))
    assert unexpected == []
    for path, route in outside.items():
        expected = NON_API[path]
        assert route.policies == ([] if expected is None else [expected]), route
        assert route.api == (expected is not None), route


def test_public_routes_are_only_health_and_sign_in(app: FastAPI) -> None:
    public = {r.path for r in served(app) if Access.PUBLIC in r.policies}
    assert public == PUBLIC


def test_the_user_routes_have_the_policies_they_document(app: FastAPI) -> None:
    expected = {
        ("GET", "/api/v1/auth/me"): Access.USER,
        ("POST", "/api/v1/auth/login"): Access.PUBLIC,
        ("GET", "/api/v1/auth/tokens"): Access.USER,
        ("POST", "/api/v1/auth/tokens"): Access.USER,
        ("DELETE", "/api/v1/auth/tokens/{token_id}"): Access.USER,
        ("GET", "/api/v1/admin/users"): Access.ADMIN,
        ("POST", "/api/v1/admin/users"): Access.ADMIN,
        ("POST", "/api/v1/admin/users/{name}/disable"): Access.ADMIN,
        ("GET", "/api/v1/projects/{project}/members"): Access.READ,
        ("PUT", "/api/v1/projects/{project}/members/{user}"): Access.MANAGE,
        ("DELETE", "/api/v1/projects/{project}/members/{user}"): Access.MANAGE,
    }
    actual = {(method, r.path): r.policies[0] for r in served(app) if r.api for method in r.methods}
    assert {k: actual.get(k) for k in expected} == expected
