"""The artifact routes under attack: path traversal in every route and every spelling,
hostile manifests, another project's blobs and runs with a viewer's token, and content
that would run in a browser. Every attempt is a 4xx, and nothing is written outside the
artifact store."""

from __future__ import annotations

import hashlib
import http.client
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from _support import AppFactory
from runtrack.artifacts.rest import RestArtifactStore
from runtrack.server.users import SqlAuthenticator
from runtrack.testing.live import LiveServer

# one value for each spelling of "somewhere else" an attacker may try
HOSTILE = [
    "..",
    "../..",
    "../../etc/passwd",
    "%2e%2e",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%252e%252e%252fetc%252fpasswd",
    "..%2f..%2fetc",
    "..%252f..%252f",
    "%2fetc%2fpasswd",
    "/etc/passwd",
    "..\\..\\windows\\win.ini",
    "..%5c..%5cwindows",
    "C:%5cwindows",
    "a;b",
    "x%3b..%2f..",
    "x?y=..",
    "x%3f..",
    "x#..",
    "x%23..",
    "x%00y",
    "%c0%ae%c0%ae%c0%af",
    "....//....//",
    "a" * 300,
]
DIGEST = "ab" * 32
UPLOAD = "0" * 32

# every route with a path parameter, the parameter written {} (the others hold valid values)
ROUTES: list[tuple[str, str]] = [
    ("GET", "/api/v1/projects/{}/blobs/" + DIGEST),
    ("HEAD", "/api/v1/projects/{}/blobs/" + DIGEST),
    ("GET", "/api/v1/projects/p/blobs/{}"),
    ("HEAD", "/api/v1/projects/p/blobs/{}"),
    ("GET", "/api/v1/projects/{}/artifacts/model:v0"),
    ("GET", "/api/v1/projects/p/artifacts/{}"),
    ("GET", "/api/v1/projects/p/artifacts/{}/files"),
    ("GET", "/api/v1/blobs/uploads/{}"),
    ("PUT", "/api/v1/blobs/uploads/{}/parts/1"),
    ("PUT", "/api/v1/blobs/uploads/" + UPLOAD + "/parts/{}"),
    ("POST", "/api/v1/blobs/uploads/{}/complete"),
    ("DELETE", "/api/v1/blobs/uploads/{}"),
    ("POST", "/api/v1/runs/{}/artifacts"),
    ("GET", "/api/v1/maintenance/blobs/{}"),
    ("DELETE", "/api/v1/maintenance/blobs/{}"),
]


def snapshot(root: Path, inside: Path) -> dict[str, tuple[int, float]]:
    """Every file under ``root`` outside ``inside`` (the artifact store) and the
    database files: what must not change."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            if inside in p.parents or name.startswith(("server.db", "runtrack.db", "server.log")):
                continue
            st = p.lstat()
            out[str(p)] = (st.st_size, st.st_mtime)
    return out


@pytest.fixture
def c(app_factory: AppFactory, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(app_factory()) as client:
        yield client


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real server: raw paths reach it exactly as written (HTTP clients such as httpx
    remove dot segments before sending; ``http.client`` and attackers do not)."""
    root = tmp_path_factory.mktemp("live")
    (root / "etc").mkdir()
    (root / "etc" / "passwd").write_text("root:x:0:0")
    with LiveServer(root / "server") as server:
        yield server


def raw_request(server: LiveServer, method: str, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        body = b'{"x": 1}' if method in ("POST", "PUT") else None
        headers = {"Content-Type": "application/json"} if body else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize(("method", "template"), ROUTES)
def test_traversal_in_every_artifact_route_and_spelling(
    live: LiveServer, method: str, template: str
) -> None:
    root = live.data_dir.parent
    before = snapshot(root, live.data_dir / "artifacts")
    for value in HOSTILE:
        url = template.format(value)
        status, content = raw_request(live, method, url)
        assert 400 <= status < 500, (method, url, status, content[:300])
        assert b"root:x:0:0" not in content
    assert snapshot(root, live.data_dir / "artifacts") == before
    assert "Traceback" not in live.log()


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_projects_and_digests_when_opening_an_upload(c: TestClient, value: str) -> None:
    resp = c.post(
        "/api/v1/blobs/uploads",
        params={"project": value},
        json={"digest": DIGEST, "size": 1},
    )
    assert 400 <= resp.status_code < 500, resp.text
    resp = c.post(
        "/api/v1/blobs/uploads", params={"project": "p"}, json={"digest": value, "size": 1}
    )
    assert 400 <= resp.status_code < 500, resp.text


@pytest.mark.parametrize(
    "path",
    [
        "../outside.txt",
        "a/../../outside.txt",
        "/etc/passwd",
        "C:\\windows\\win.ini",
        "a\\..\\..\\x",
        "",
        ".",
        "a//b",
        "a/./b",
        "x\x00y",
    ],
)
def test_hostile_paths_in_a_manifest_are_refused(c: TestClient, tmp_path: Path, path: str) -> None:
    run = {
        "id": uuid.uuid4().hex,
        "project": "p",
        "name": "r",
        "user": "u",
        "host": "h",
        "start_time": time.time(),
    }
    assert c.post("/api/v1/runs", json=run).status_code == 201
    data = b"payload"
    digest = RestArtifactStore(c, "p").put_bytes(data).digest
    spec = {
        "name": "model",
        "type": "file",
        "files": [[path, digest, len(data)]],
        "digest": "0" * 64,
        "metadata": {},
        "aliases": [],
    }
    before = snapshot(tmp_path, tmp_path / "artifacts")
    resp = c.post(f"/api/v1/runs/{run['id']}/artifacts", json=spec)
    assert resp.status_code == 400, resp.text
    assert "path" in resp.json()["error"]["message"], resp.text  # refused for its path
    assert c.get("/api/v1/projects/p/artifacts/model:v0").status_code == 404
    assert snapshot(tmp_path, tmp_path / "artifacts") == before


def test_downloads_are_attachments_never_rendered(c: TestClient) -> None:
    page = b"<html><body><script>alert(document.cookie)</script></body></html>"
    digest = RestArtifactStore(c, "p").put_bytes(page).digest
    for method in ("GET", "HEAD"):
        resp = c.request(method, f"/api/v1/projects/p/blobs/{digest}")
        assert resp.status_code == 200
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["content-disposition"].startswith("attachment")
        assert resp.headers["content-type"] == "application/octet-stream"
    assert c.get(f"/api/v1/projects/p/blobs/{digest}").content == page


# -- another project's things, with a token -------------------------------------------------
@pytest.fixture
def team(app_factory: AppFactory, server_config: Any) -> Iterator[dict[str, Any]]:
    """ana: admin of "vision"; vic: viewer of "vision"; sam: admin of "secret", which
    holds a blob and a version of artifact "plans"."""
    auth = SqlAuthenticator(server_config.db_url, auto_upgrade=True)
    heads = {}
    for name in ("ana", "vic", "sam"):
        auth.create_user(name)
        heads[name] = {"Authorization": f"Bearer {auth.create_token(name, 'test')[1]}"}
    with TestClient(app_factory(auth=True, authenticator=auth)) as http:
        runs = {}
        for who, project in (("ana", "vision"), ("sam", "secret")):
            run = {
                "id": uuid.uuid4().hex,
                "project": project,
                "name": "r",
                "user": who,
                "host": "h",
                "start_time": time.time(),
            }
            assert http.post("/api/v1/runs", json=run, headers=heads[who]).status_code == 201
            runs[project] = run["id"]
        auth.grant("vic", "vision", "viewer", "ana")
        http.headers.update(heads["sam"])
        secret = b"the secret plans"
        digest = RestArtifactStore(http, "secret").put_bytes(secret).digest
        spec = {
            "name": "plans",
            "type": "file",
            "files": [["plans.txt", digest, len(secret)]],
            "digest": _manifest_digest("plans.txt", digest, len(secret)),
            "metadata": {},
            "aliases": [],
        }
        r = http.post(f"/api/v1/runs/{runs['secret']}/artifacts", json=spec)
        assert r.status_code == 201, r.text
        del http.headers["authorization"]
        yield {"http": http, **heads, "runs": runs, "digest": digest, "spec": spec}
    auth.close()


def _manifest_digest(path: str, digest: str, size: int) -> str:
    from runtrack.artifacts.manifest import manifest_digest
    from runtrack.entities import ArtifactFile

    return manifest_digest((ArtifactFile(path, digest, size),))


def test_another_projects_blobs_and_versions_do_not_exist_for_you(team: dict[str, Any]) -> None:
    http, digest = team["http"], team["digest"]
    for who in ("ana", "vic"):
        h = team[who]
        # the secret project, named outright
        assert http.get(f"/api/v1/projects/secret/blobs/{digest}", headers=h).status_code == 404
        assert http.get("/api/v1/projects/secret/artifacts/plans:v0", headers=h).status_code == 404
        # the secret blob, through one's own project: knowing the digest is not enough
        r = http.get(f"/api/v1/projects/vision/blobs/{digest}", headers=h)
        assert r.status_code == 404 and b"secret plans" not in r.content
        # nor is referencing it from a version of one's own
        r = http.post(
            f"/api/v1/runs/{team['runs']['vision']}/artifacts", json=team["spec"], headers=h
        )
        assert r.status_code in (400, 403), r.text
        # another project's run: not found
        r = http.post(
            f"/api/v1/runs/{team['runs']['secret']}/artifacts", json=team["spec"], headers=h
        )
        assert r.status_code == 404, r.text


def test_a_viewer_reads_but_cannot_upload(team: dict[str, Any]) -> None:
    http, vic = team["http"], team["vic"]
    data = b"vic's bytes"
    digest = hashlib.sha256(data).hexdigest()
    r = http.post(
        "/api/v1/blobs/uploads",
        params={"project": "vision"},
        json={"digest": digest, "size": len(data)},
        headers=vic,
    )
    assert r.status_code == 403, r.text
    r = http.post(
        "/api/v1/blobs/uploads",
        params={"project": "secret"},
        json={"digest": digest, "size": len(data)},
        headers=vic,
    )
    assert r.status_code == 404, r.text
    assert http.get("/api/v1/maintenance/blobs", headers=vic).status_code == 403


def test_missing_and_revoked_tokens_reach_no_artifact_route(
    app_factory: AppFactory, server_config: Any
) -> None:
    auth = SqlAuthenticator(server_config.db_url, auto_upgrade=True)
    auth.create_user("ana")
    token_id, token = auth.create_token("ana", "test")
    auth.revoke_token(token_id, None)
    try:
        with TestClient(app_factory(auth=True, authenticator=auth)) as http:
            for method, template in ROUTES:
                url = template.format("x")
                for headers in ({}, {"Authorization": f"Bearer {token}"}):
                    r = http.request(method, url, headers=headers)
                    assert r.status_code == 401, (method, url, r.status_code)
    finally:
        auth.close()
