"""Fixtures for server tests: an app over a fresh SQLite store, in process; with
authentication on, its user database and helpers that make users and runs through it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from _support import run_spec
from runtrack.server.app import create_app
from runtrack.server.config import ServerConfig
from runtrack.server.users import SqlAuthenticator

AppFactory = Callable[..., FastAPI]


@pytest.fixture
def server_config(tmp_path: Path) -> ServerConfig:
    """Open access (no auth) on a fresh SQLite database and artifact directory."""
    return ServerConfig(
        db_url=f"sqlite:///{tmp_path / 'server.db'}",
        artifacts=str(tmp_path / "artifacts"),
        auth=False,
        auto_upgrade=True,
        allowed_hosts=("testserver", "127.0.0.1", "localhost"),
        access_log=False,
    )


@pytest.fixture
def app_factory(server_config: ServerConfig) -> AppFactory:
    """``app_factory(auth=True, ...)``: an app whose config is the fixture's with changes;
    keyword arguments that are not config fields (store=, artifacts=, authenticator=) go
    to ``create_app``."""

    def make(**changes: Any) -> FastAPI:
        inject = {
            k: changes.pop(k) for k in ("store", "artifacts", "authenticator") if k in changes
        }
        return create_app(replace(server_config, **changes), **inject)

    return make


@pytest.fixture
def client(app_factory: AppFactory) -> Iterator[TestClient]:
    with TestClient(app_factory()) as c:
        yield c


# -- authentication on -----------------------------------------------------------------------


@pytest.fixture
def auth(server_config: ServerConfig) -> Iterator[SqlAuthenticator]:
    """The users, tokens and grants in the server's database."""
    a = SqlAuthenticator(server_config.db_url, auto_upgrade=True)
    yield a
    a.close()


@pytest.fixture
def http(app_factory: AppFactory, auth: SqlAuthenticator) -> Iterator[TestClient]:
    """A client of an app with authentication on, checked against ``auth``."""
    with TestClient(app_factory(auth=True, authenticator=auth)) as c:
        yield c


@pytest.fixture
def new_user(auth: SqlAuthenticator) -> Callable[..., dict[str, str]]:
    """``new_user(name, admin=False)``: creates the user and a token; returns the headers
    that authenticate as them."""

    def make(name: str, *, admin: bool = False) -> dict[str, str]:
        auth.create_user(name, admin=admin)
        return {"Authorization": f"Bearer {auth.create_token(name, 'test')[1]}"}

    return make


@pytest.fixture
def new_run(http: TestClient) -> Callable[..., str]:
    """``new_run(headers, project, **fields)``: creates a run through ``http`` as the user of
    ``headers`` (``fields`` are added to its spec, e.g. ``config=``); returns its id."""

    def make(head: dict[str, str], project: str, **fields: Any) -> str:
        resp = http.post("/api/v1/runs", json=run_spec(project, **fields), headers=head)
        assert resp.status_code == 201, resp.text
        return str(resp.json()["id"])

    return make
