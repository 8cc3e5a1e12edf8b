"""The server with authentication on: tokens, roles, and what each role may see and do."""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from array import array
from collections.abc import Callable, Iterator
from typing import Any

import msgpack
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from _support import run_spec
from runtrack.entities import MetricsRecord, RunBatch
from runtrack.protocol import batch_to_wire
from runtrack.server.config import ServerConfig
from runtrack.server.users import SqlAuthenticator
from runtrack.store.sql.schema import api_tokens

AppFactory = Callable[..., FastAPI]


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def auth(server_config: ServerConfig, clock: Clock) -> Iterator[SqlAuthenticator]:
    a = SqlAuthenticator(server_config.db_url, auto_upgrade=True, clock=clock)
    yield a
    a.close()


@pytest.fixture
def app(app_factory: AppFactory, auth: SqlAuthenticator) -> FastAPI:
    return app_factory(auth=True, authenticator=auth)


@pytest.fixture
def http(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def user(auth: SqlAuthenticator, name: str, *, admin: bool = False) -> dict[str, str]:
    """A new user; the headers of a token of theirs."""
    auth.create_user(name, admin=admin)
    return bearer(auth.create_token(name, "test")[1])


def create_run(http: TestClient, headers: dict[str, str], project: str) -> Any:
    return http.post("/api/v1/runs", json=run_spec(project), headers=headers)


def write_batch(http: TestClient, headers: dict[str, str], run_id: str) -> Any:
    batch = RunBatch(
        run_id, "main", (MetricsRecord(1, 0, time.time(), ("loss",), array("d", [0.5])),)
    )
    return http.post(
        f"/api/v1/runs/{run_id}/batches",
        content=msgpack.packb(batch_to_wire(batch), use_bin_type=True),
        headers={**headers, "Content-Type": "application/msgpack"},
    )


@pytest.fixture
def team(http: TestClient, auth: SqlAuthenticator) -> dict[str, Any]:
    """Project "vision" owned by ana (admin) with eve as editor and vic as viewer; project
    "secret" owned by sam; root is a server administrator; nobody is in no project."""
    heads = {
        name: user(auth, name, admin=name == "root")
        for name in ("root", "ana", "eve", "vic", "sam", "nobody")
    }
    vision = create_run(http, heads["ana"], "vision").json()["id"]
    secret = create_run(http, heads["sam"], "secret").json()["id"]
    auth.grant("eve", "vision", "editor", "ana")
    auth.grant("vic", "vision", "viewer", "ana")
    return {**heads, "vision_run": vision, "secret_run": secret}


# -- authentication -----------------------------------------------------------------------
def test_a_request_without_a_token_is_refused_with_a_bearer_challenge(http: TestClient) -> None:
    r = http.get("/api/v1/projects")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert r.json()["error"]["code"] == "unauthenticated"
    assert http.get("/health").status_code == 200  # health checks stay public


@pytest.mark.parametrize(
    "header",
    ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "rt_abc", "Bearer rt_short", "Bearer x y"],
)
def test_a_malformed_or_unknown_credential_is_refused(http: TestClient, header: str) -> None:
    r = http.get("/api/v1/projects", headers={"Authorization": header})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == "Bearer"


def test_a_revoked_token_is_refused_at_once(http: TestClient, auth: SqlAuthenticator) -> None:
    auth.create_user("ana")
    token_id, token = auth.create_token("ana", "laptop")
    assert http.get("/api/v1/auth/me", headers=bearer(token)).status_code == 200
    auth.revoke_token(token_id, by=None)
    assert http.get("/api/v1/auth/me", headers=bearer(token)).status_code == 401


def test_an_expired_token_is_refused(
    http: TestClient, auth: SqlAuthenticator, clock: Clock
) -> None:
    auth.create_user("ana")
    head = bearer(auth.create_token("ana", "ci", expires_in=3600)[1])
    assert http.get("/api/v1/auth/me", headers=head).status_code == 200
    clock.now += 3601
    assert http.get("/api/v1/auth/me", headers=head).status_code == 401


def test_a_disabled_user_is_refused(http: TestClient, auth: SqlAuthenticator) -> None:
    head = user(auth, "ana")
    auth.disable_user("ana")
    assert http.get("/api/v1/auth/me", headers=head).status_code == 401


def test_me_names_the_user_and_their_roles(http: TestClient, team: dict[str, Any]) -> None:
    r = http.get("/api/v1/auth/me", headers=team["eve"])
    assert r.status_code == 200
    doc = r.json()
    assert (
        doc["name"] == "eve" and doc["admin"] is False and doc["projects"] == {"vision": "editor"}
    )
    assert isinstance(doc["token_id"], int)


# -- roles --------------------------------------------------------------------------------
def test_a_viewer_reads_but_does_not_write(http: TestClient, team: dict[str, Any]) -> None:
    vic, run = team["vic"], team["vision_run"]
    assert http.get(f"/api/v1/runs/{run}", headers=vic).status_code == 200
    assert http.get("/api/v1/projects/vision", headers=vic).status_code == 200
    assert http.get(f"/api/v1/runs/{run}/history", headers=vic).status_code == 200
    for r in (
        write_batch(http, vic, run),
        http.post(f"/api/v1/runs/{run}/heartbeat", headers=vic),
        create_run(http, vic, "vision"),
        http.put("/api/v1/projects/vision/members/nobody", json={"role": "viewer"}, headers=vic),
    ):
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "forbidden"
    assert "viewer" in write_batch(http, vic, run).json()["error"]["message"]


def test_a_project_one_is_not_in_does_not_exist_for_them(
    http: TestClient, team: dict[str, Any]
) -> None:
    vic = team["vic"]
    hidden = http.get("/api/v1/projects/secret", headers=vic)
    missing = http.get("/api/v1/projects/no-such-project", headers=vic)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"]["message"].replace("secret", "X") == missing.json()["error"][
        "message"
    ].replace("no-such-project", "X")
    secret_run = team["secret_run"]
    for r in (
        http.get(f"/api/v1/runs/{secret_run}", headers=vic),
        http.get(f"/api/v1/runs/{secret_run}/console", headers=vic),
        write_batch(http, vic, secret_run),
        http.get("/api/v1/projects/secret/members", headers=vic),
        http.put("/api/v1/projects/secret/members/vic", json={"role": "admin"}, headers=vic),
        http.post("/api/v1/runs/search", json={"project": "secret"}, headers=vic),
    ):
        assert r.status_code == 404, r.text
    names = [p["name"] for p in http.get("/api/v1/projects", headers=vic).json()]
    assert names == ["vision"]


def test_an_editor_creates_runs_and_writes_batches(http: TestClient, team: dict[str, Any]) -> None:
    eve = team["eve"]
    r = create_run(http, eve, "vision")
    assert r.status_code == 201, r.text
    run = r.json()["id"]
    w = write_batch(http, eve, run)
    assert w.status_code == 200, w.text
    assert w.json()["applied"] == 1
    assert write_batch(http, eve, team["vision_run"]).status_code == 200
    assert http.post(f"/api/v1/runs/{run}/heartbeat", headers=eve).status_code == 204
    assert http.get(f"/api/v1/runs/{run}/history?key=loss", headers=eve).json()["loss"][
        "value"
    ] == [0.5]
    # ... but does not manage the project
    r = http.put("/api/v1/projects/vision/members/nobody", json={"role": "viewer"}, headers=eve)
    assert r.status_code == 403


def test_creating_a_run_in_a_new_project_makes_the_creator_its_admin(
    http: TestClient, team: dict[str, Any]
) -> None:
    nobody = team["nobody"]
    assert create_run(http, nobody, "fresh").status_code == 201
    assert http.get("/api/v1/auth/me", headers=nobody).json()["projects"] == {"fresh": "admin"}
    members = http.get("/api/v1/projects/fresh/members", headers=nobody).json()
    assert [(m["user"], m["role"], m["granted_by"]) for m in members] == [
        ("nobody", "admin", "nobody")
    ]
    # a server administrator's new project does not list them: they see everything anyway
    assert create_run(http, team["root"], "ops").status_code == 201
    assert http.get("/api/v1/projects/ops/members", headers=team["root"]).json() == []


def test_a_project_admin_manages_members(http: TestClient, team: dict[str, Any]) -> None:
    ana, nobody = team["ana"], team["nobody"]
    assert http.get("/api/v1/projects/vision", headers=nobody).status_code == 404
    r = http.put("/api/v1/projects/vision/members/nobody", json={"role": "viewer"}, headers=ana)
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "viewer" and r.json()["granted_by"] == "ana"
    assert http.get("/api/v1/projects/vision", headers=nobody).status_code == 200
    assert create_run(http, nobody, "vision").status_code == 403
    r = http.put("/api/v1/projects/vision/members/nobody", json={"role": "editor"}, headers=ana)
    assert r.json()["role"] == "editor"
    assert create_run(http, nobody, "vision").status_code == 201
    members = http.get("/api/v1/projects/vision/members", headers=team["vic"]).json()
    assert [(m["user"], m["role"]) for m in members] == [
        ("ana", "admin"),
        ("eve", "editor"),
        ("nobody", "editor"),
        ("vic", "viewer"),
    ]
    assert http.delete("/api/v1/projects/vision/members/nobody", headers=ana).status_code == 204
    assert http.get("/api/v1/projects/vision", headers=nobody).status_code == 404
    r = http.delete("/api/v1/projects/vision/members/nobody", headers=ana)
    assert r.status_code == 404 and "not a member" in r.json()["error"]["message"]
    # a server administrator manages any project
    r = http.put(
        "/api/v1/projects/secret/members/ana", json={"role": "viewer"}, headers=team["root"]
    )
    assert r.status_code == 200


@pytest.mark.parametrize(
    "body,status,needle",
    [
        ({"role": "owner"}, 400, "viewer, editor or admin"),
        ({"role": 3}, 400, "viewer, editor or admin"),
        ({}, 400, "missing: role"),
        ({"role": "viewer", "extra": 1}, 400, "unknown: extra"),
        ([], 400, "object"),
    ],
)
def test_a_malformed_membership_is_refused(
    http: TestClient, team: dict[str, Any], body: Any, status: int, needle: str
) -> None:
    r = http.put("/api/v1/projects/vision/members/nobody", json=body, headers=team["ana"])
    assert r.status_code == status and needle in r.json()["error"]["message"]


def test_granting_a_role_to_an_unknown_user_is_not_found(
    http: TestClient, team: dict[str, Any]
) -> None:
    r = http.put(
        "/api/v1/projects/vision/members/ghost", json={"role": "viewer"}, headers=team["ana"]
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "user_not_found"


def test_search_across_projects_returns_only_readable_runs(
    http: TestClient, team: dict[str, Any]
) -> None:
    for who, n in (("vic", 1), ("sam", 1), ("nobody", 0), ("root", 2)):
        r = http.post("/api/v1/runs/search", json={}, headers=team[who])
        assert r.status_code == 200, r.text
        assert len(r.json()["runs"]) == n, who
        count = http.post("/api/v1/runs/count", json={"filter": None}, headers=team[who])
        assert count.json()["count"] == n, who
    runs = http.post("/api/v1/runs/search", json={}, headers=team["vic"]).json()["runs"]
    assert [r["id"] for r in runs] == [team["vision_run"]]


# -- tokens -------------------------------------------------------------------------------
def test_tokens_are_stored_only_as_hashes(http: TestClient, auth: SqlAuthenticator) -> None:
    auth.create_user("ana")
    r = http.post(
        "/api/v1/auth/tokens", json={"label": "laptop"}, headers=user(auth, "root", admin=True)
    )
    token_id, token = auth.create_token("ana", "ci")
    assert token.startswith("rt_") and len(token) == 46
    with auth.engine.connect() as conn:
        rows = conn.execute(select(api_tokens)).all()
    stored = repr(rows)
    assert token not in stored and r.json()["token"] not in stored
    assert token[3:] not in stored  # not even the random part
    row = next(x for x in rows if x.id == token_id)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert row.prefix == token[:8]


def test_a_user_manages_their_own_tokens(http: TestClient, auth: SqlAuthenticator) -> None:
    head = user(auth, "ana")
    r = http.post("/api/v1/auth/tokens", json={"label": "ci", "expires_in": 86400}, headers=head)
    assert r.status_code == 201, r.text
    created = r.json()
    new = bearer(created["token"])
    assert created["label"] == "ci" and created["expires_at"] is not None
    assert http.get("/api/v1/auth/me", headers=new).json()["token_id"] == created["id"]
    listed = http.get("/api/v1/auth/tokens", headers=head).json()
    assert [t["label"] for t in listed] == ["test", "ci"]
    assert all("token" not in t for t in listed)
    assert listed[1]["prefix"] == created["token"][:8]
    assert http.delete(f"/api/v1/auth/tokens/{created['id']}", headers=head).status_code == 204
    assert http.get("/api/v1/auth/me", headers=new).status_code == 401
    listed = http.get("/api/v1/auth/tokens", headers=head).json()
    assert listed[1]["revoked_at"] is not None


@pytest.mark.parametrize(
    "body,needle",
    [
        ({"label": ""}, "label"),
        ({"label": "x" * 101}, "label"),
        ({"label": "a\nb"}, "label"),
        ({"label": "ci", "expires_in": 0}, "expires_in"),
        ({"label": "ci", "expires_in": "1d"}, "expires_in"),
        ({"label": "ci", "expires_in": True}, "expires_in"),
        ({"label": "ci", "expires_in": 1e12}, "expires_in"),
        ({"expires_in": 60}, "missing: label"),
    ],
)
def test_a_malformed_token_request_is_refused(
    http: TestClient, auth: SqlAuthenticator, body: dict[str, Any], needle: str
) -> None:
    r = http.post("/api/v1/auth/tokens", json=body, headers=user(auth, "ana"))
    assert r.status_code == 400 and needle in r.json()["error"]["message"]


def test_only_the_owner_or_an_administrator_revokes_a_token(
    http: TestClient, auth: SqlAuthenticator
) -> None:
    ana, bob, root = user(auth, "ana"), user(auth, "bob"), user(auth, "root", admin=True)
    token_id, token = auth.create_token("ana", "laptop")
    r = http.delete(f"/api/v1/auth/tokens/{token_id}", headers=bob)
    assert r.status_code == 404 and r.json()["error"]["code"] == "token_not_found"
    missing = http.delete("/api/v1/auth/tokens/99999", headers=bob)
    assert missing.status_code == 404
    assert http.get("/api/v1/auth/me", headers=bearer(token)).status_code == 200
    assert http.delete(f"/api/v1/auth/tokens/{token_id}", headers=root).status_code == 204
    assert http.get("/api/v1/auth/me", headers=bearer(token)).status_code == 401
    assert http.delete(f"/api/v1/auth/tokens/{token_id}", headers=ana).status_code == 204
    assert http.delete("/api/v1/auth/tokens/x", headers=ana).status_code == 400


def test_tokens_never_appear_after_creation_nor_in_the_access_log(
    app_factory: AppFactory, auth: SqlAuthenticator, caplog: pytest.LogCaptureFixture
) -> None:
    app = app_factory(auth=True, authenticator=auth, access_log=True)
    caplog.set_level(logging.DEBUG)
    root = user(auth, "root", admin=True)
    auth.set_password("root", "a long password")
    seen: list[str] = []
    with TestClient(app) as http:
        made = http.post("/api/v1/admin/users", json={"name": "ana"}, headers=root).json()
        seen.append(made["token"])
        ana = bearer(made["token"])
        seen.append(
            http.post("/api/v1/auth/tokens", json={"label": "x"}, headers=ana).json()["token"]
        )
        login = http.post(
            "/api/v1/auth/login", json={"user": "root", "password": "a long password"}
        )
        seen.append(login.json()["token"])
        create_run(http, ana, "p")
        later = [
            http.get("/api/v1/auth/me", headers=ana),
            http.get("/api/v1/auth/tokens", headers=ana),
            http.get("/api/v1/auth/tokens", headers=root),
            http.get("/api/v1/admin/users", headers=root),
            http.get("/api/v1/projects/p/members", headers=ana),
            http.get("/api/v1/auth/me", headers={"Authorization": "Bearer rt_" + "A" * 43}),
        ]
    everything = " ".join(r.text for r in later) + " ".join(r.getMessage() for r in caplog.records)
    access = [r for r in caplog.records if r.name == "runtrack.access"]
    assert len(access) >= 9 and any('"user": "ana"' in r.getMessage() for r in access)
    secrets = [*seen, root["Authorization"][7:], "a long password"]
    for secret in secrets:
        assert secret not in everything
        assert secret[3:20] not in everything


# -- sign-in ------------------------------------------------------------------------------
def test_sign_in_returns_a_new_expiring_token(http: TestClient, auth: SqlAuthenticator) -> None:
    auth.create_user("ana", password="correct horse")
    r = http.post("/api/v1/auth/login", json={"user": "ana", "password": "correct horse"})
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["user"] == "ana" and doc["label"] == "sign-in"
    assert 29 * 86400 < doc["expires_at"] - doc["created_at"] <= 30 * 86400
    assert http.get("/api/v1/auth/me", headers=bearer(doc["token"])).json()["name"] == "ana"


def test_failed_sign_ins_look_the_same_whether_or_not_the_user_exists(
    http: TestClient, auth: SqlAuthenticator
) -> None:
    auth.create_user("ana", password="correct horse")
    auth.create_user("bob")  # no password: cannot sign in
    auth.create_user("dis", password="correct horse")
    auth.disable_user("dis")
    answers = [
        http.post("/api/v1/auth/login", json={"user": u, "password": p})
        for u, p in (
            ("ana", "wrong horse"),
            ("ghost", "correct horse"),
            ("bob", ""),
            ("dis", "correct horse"),
            ("NOT a name", "x"),
        )
    ]
    assert {r.status_code for r in answers} == {401}
    assert len({r.text for r in answers}) == 1
    assert answers[0].headers["WWW-Authenticate"] == "Bearer"


def test_failed_sign_ins_are_rate_limited_per_user_and_client(
    app: FastAPI, auth: SqlAuthenticator
) -> None:
    auth.create_user("ana", password="correct horse")
    auth.create_user("bob", password="battery staple")
    good = {"user": "ana", "password": "correct horse"}
    with TestClient(app, client=("10.0.0.1", 5000)) as http:
        for _ in range(10):
            r = http.post("/api/v1/auth/login", json={"user": "ana", "password": "guess"})
            assert r.status_code == 401
        r = http.post("/api/v1/auth/login", json=good)
        assert r.status_code == 429, r.text
        assert r.json()["error"]["code"] == "too_many_requests"
        assert 0 < int(r.headers["Retry-After"]) <= 60
        # another user from the same address is not affected
        assert (
            http.post(
                "/api/v1/auth/login", json={"user": "bob", "password": "battery staple"}
            ).status_code
            == 201
        )
    with TestClient(app, client=("10.0.0.2", 5000)) as other:
        assert other.post("/api/v1/auth/login", json=good).status_code == 201


def test_the_sign_in_limiter_forgets_after_the_window() -> None:
    from runtrack.server.routers.users import FailedSignIns

    now = [0.0]
    limiter = FailedSignIns(per_user=3, per_client=5, window=60, clock=lambda: now[0], max_keys=4)
    for _ in range(3):
        assert limiter.retry_after("ana", "a") == 0
        limiter.failed("ana", "a")
        now[0] += 1
    assert limiter.retry_after("ana", "a") == pytest.approx(57)
    assert limiter.retry_after("ana", "b") == 0
    limiter.failed("bob", "a")
    limiter.failed("cat", "a")
    assert limiter.retry_after("dan", "a") == pytest.approx(57)  # 5 failures from "a"
    now[0] = 61
    assert limiter.retry_after("ana", "a") == 0
    limiter.succeeded("ana", "a")
    for i in range(10):
        limiter.failed(f"u{i}", f"c{i}")
    assert len(limiter._failures) <= 4


# -- server administration ----------------------------------------------------------------
def test_administrators_manage_users(http: TestClient, auth: SqlAuthenticator) -> None:
    root = user(auth, "root", admin=True)
    user(auth, "ana")
    r = http.post(
        "/api/v1/admin/users", json={"name": "bob", "password": "battery staple"}, headers=root
    )
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["user"]["name"] == "bob" and doc["user"]["has_password"] is True
    bob = bearer(doc["token"])
    assert http.get("/api/v1/auth/me", headers=bob).json()["name"] == "bob"
    r = http.post("/api/v1/admin/users", json={"name": "bob"}, headers=root)
    assert r.status_code == 409 and r.json()["error"]["code"] == "user_exists"
    for body, needle in (
        ({"name": "Bob"}, "user name"),
        ({"name": "carl", "admin": "yes"}, "admin"),
        ({"name": "carl", "password": "short"}, "password"),
        ({"name": "carl", "role": "x"}, "unknown: role"),
    ):
        r = http.post("/api/v1/admin/users", json=body, headers=root)
        assert r.status_code == 400 and needle in r.json()["error"]["message"], r.text
    users = http.get("/api/v1/admin/users", headers=root).json()
    assert [u["name"] for u in users] == ["ana", "bob", "root"]
    assert all("password" not in key for u in users for key in u if key != "has_password")
    r = http.post("/api/v1/admin/users/bob/disable", headers=root)
    assert r.status_code == 200 and r.json()["disabled"] is True
    assert http.get("/api/v1/auth/me", headers=bob).status_code == 401
    assert http.post("/api/v1/admin/users/root/disable", headers=root).status_code == 400
    assert http.post("/api/v1/admin/users/ghost/disable", headers=root).status_code == 404


def test_only_administrators_reach_admin_routes(http: TestClient, auth: SqlAuthenticator) -> None:
    ana = user(auth, "ana")
    for r in (
        http.get("/api/v1/admin/users", headers=ana),
        http.post("/api/v1/admin/users", json={"name": "bob"}, headers=ana),
        http.post("/api/v1/admin/users/ana/disable", headers=ana),
    ):
        assert r.status_code == 403 and "not a server administrator" in r.text
    assert http.get("/api/v1/admin/users").status_code == 401


def test_without_auth_the_user_routes_say_there_are_no_users(client: TestClient) -> None:
    me = client.get("/api/v1/auth/me").json()
    assert me == {"name": "local", "admin": True, "token_id": None, "projects": {}}
    for r in (
        client.get("/api/v1/admin/users"),
        client.post("/api/v1/auth/login", json={"user": "a", "password": "b"}),
        client.get("/api/v1/auth/tokens"),
    ):
        assert r.status_code == 404 and "without authentication" in r.text


def test_the_app_opens_its_own_authenticator_when_auth_is_on(app_factory: AppFactory) -> None:
    app = app_factory(auth=True)
    auth = app.state.authenticator
    assert isinstance(auth, SqlAuthenticator)
    head = user(auth, "root", admin=True)
    with TestClient(app) as http:
        assert http.get("/api/v1/auth/me", headers=head).json()["admin"] is True
    auth.close()


def bulk_create(http: TestClient, headers: dict[str, str], *projects: str) -> Any:
    runs = []
    for project in projects:
        rid = uuid.uuid4().hex
        batch = RunBatch(
            rid, "main", (MetricsRecord(1, 0, time.time(), ("loss",), array("d", [0.5])),)
        )
        spec = {"id": rid, "project": project, "name": "r", "user": "u", "host": "h"}
        runs.append({"spec": {**spec, "start_time": time.time()}, "batch": batch_to_wire(batch)})
    return http.post(
        "/api/v1/runs/bulk",
        content=msgpack.packb({"runs": runs}, use_bin_type=True),
        headers={**headers, "Content-Type": "application/msgpack"},
    )


def test_bulk_creation_obeys_the_same_roles(
    http: TestClient, team: dict[str, Any], auth: SqlAuthenticator
) -> None:
    """Every project of a bulk request is checked: one refused project refuses it all."""
    count = len(http.post("/api/v1/runs/search", json={}, headers=team["root"]).json()["runs"])
    for who, projects, status in (
        ("vic", ("vision",), 403),  # a viewer
        ("eve", ("vision", "secret"), 404),  # an editor, and a project she cannot see
        ("nobody", ("fresh2", "vision"), 404),
    ):
        r = bulk_create(http, team[who], *projects)
        assert r.status_code == status, r.text
    after = http.post("/api/v1/runs/search", json={}, headers=team["root"]).json()["runs"]
    assert len(after) == count
    assert http.get("/api/v1/projects/fresh2", headers=team["root"]).status_code == 404
    # an editor creates in her project; a new project makes its creator admin
    r = bulk_create(http, team["eve"], "vision", "vision", "eve-new")
    assert r.status_code == 200, r.text
    assert r.json()["results"] == [[1, 0, 1]] * 3
    assert auth.role(auth.authenticate(team["eve"]["Authorization"][7:]), "eve-new").name == (
        "ADMIN"
    )


def test_a_malformed_bulk_creation_is_refused(http: TestClient, team: dict[str, Any]) -> None:
    root = {**team["root"], "Content-Type": "application/msgpack"}
    spec = {"id": "abcd1234", "project": "p", "name": "r", "user": "u", "host": "h"}
    for body in (
        [],
        {"runs": "no"},
        {"runs": [], "extra": 1},
        {"runs": [{"spec": spec}]},  # no start_time
        {"runs": [{"spec": {**spec, "start_time": 1.0}, "batch": {"stream": 1}}]},
        {"runs": [{"spec": {**spec, "start_time": 1.0}, "other": 1}]},
        {"runs": [{"spec": {**spec, "start_time": 1.0}}] * 1001},
    ):
        r = http.post("/api/v1/runs/bulk", content=msgpack.packb(body), headers=root)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["code"] == "invalid"
    r = http.post(
        "/api/v1/runs/bulk", content=b"{}", headers={**root, "Content-Type": "text/plain"}
    )
    assert r.status_code == 415
