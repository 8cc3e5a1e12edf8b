"""The web UI's routes with authentication on: groups and keys need READ on the
project, compare READ on every run's project (no run of a project the caller cannot read
is compared, or said to exist: 404 as for any project one cannot read)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from runtrack.server.config import ServerConfig
from runtrack.server.users import SqlAuthenticator


@pytest.fixture
def auth(server_config: ServerConfig) -> Iterator[SqlAuthenticator]:
    a = SqlAuthenticator(server_config.db_url, auto_upgrade=True)
    yield a
    a.close()


@pytest.fixture
def http(app_factory: Callable[..., FastAPI], auth: SqlAuthenticator) -> Iterator[TestClient]:
    with TestClient(app_factory(auth=True, authenticator=auth)) as c:
        yield c


def _user(auth: SqlAuthenticator, name: str) -> dict[str, str]:
    auth.create_user(name)
    return {"Authorization": f"Bearer {auth.create_token(name, 'test')[1]}"}


def _run(http: TestClient, head: dict[str, str], project: str) -> str:
    spec = {
        "id": uuid.uuid4().hex,
        "project": project,
        "name": "r",
        "user": "u",
        "host": "h",
        "start_time": time.time(),
        "config": {"lr": 0.1},
    }
    resp = http.post("/api/v1/runs", json=spec, headers=head)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def test_groups_keys_and_compare_need_read(http: TestClient, auth: SqlAuthenticator) -> None:
    ana, vic, sam = _user(auth, "ana"), _user(auth, "vic"), _user(auth, "sam")
    a1, a2 = _run(http, ana, "vision"), _run(http, ana, "vision")
    s1 = _run(http, sam, "secret")
    auth.grant("vic", "vision", "viewer", "ana")
    groups = "/api/v1/projects/vision/runs/groups?by=config.lr"
    assert http.get(groups).status_code == 401
    assert http.get(groups, headers=vic).json()["groups"] == [
        {
            "value": 0.1,
            "count": 2,
            "n": 0,
            "mean": None,
            "std": None,
            "ci_low": None,
            "ci_high": None,
        }
    ]
    assert http.get(groups, headers=sam).status_code == 404
    assert http.get("/api/v1/projects/vision/keys", headers=vic).json()["config"] == ["lr"]
    assert http.get("/api/v1/projects/vision/keys", headers=sam).status_code == 404
    body = {"runs": [a1, a2]}
    assert http.post("/api/v1/compare", json=body).status_code == 401
    assert http.post("/api/v1/compare", json=body, headers=vic).status_code == 200
    assert http.post("/api/v1/compare", json=body, headers=sam).status_code == 404
    mixed = {"runs": [a1, s1]}
    assert http.post("/api/v1/compare", json=mixed, headers=vic).status_code == 404
    assert http.post("/api/v1/compare", json=mixed, headers=ana).status_code == 404
