"""The registry and lineage routes with authentication on: who may read, register,
promote and govern; the audit log names the authenticated user; lineage shows nothing of
projects the caller cannot read; a reference file grants no access to a blob."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from runtrack.artifacts.manifest import manifest_digest
from runtrack.entities import ArtifactFile, ArtifactSpec
from runtrack.protocol import spec_to_json
from runtrack.server.users import SqlAuthenticator


def _ref_version(content: bytes, digest: str | None = None) -> dict[str, Any]:
    d = digest or hashlib.sha256(content).hexdigest()
    files = (ArtifactFile("m.bin", d, len(content), f"s3://b/{d}", None),)
    return spec_to_json(
        ArtifactSpec(name="model", type="model", files=files, digest=manifest_digest(files))
    )


@pytest.fixture
def team(
    http: TestClient,
    auth: SqlAuthenticator,
    new_user: Callable[..., dict[str, str]],
    new_run: Callable[..., str],
) -> dict[str, Any]:
    """vision: ana admin, eve editor, vic viewer; secret: sam's; nobody in nothing."""
    heads = {n: new_user(n, admin=n == "root") for n in ("root", "ana", "eve", "vic", "sam")}
    heads["nobody"] = new_user("nobody")
    run = new_run(heads["ana"], "vision")
    auth.grant("eve", "vision", "editor", "ana")
    auth.grant("vic", "vision", "viewer", "ana")
    resp = http.post(f"/api/v1/runs/{run}/artifacts", json=_ref_version(b"w"), headers=heads["ana"])
    assert resp.status_code == 201, resp.text
    return {**heads, "run": run}


def test_roles_on_the_registry(http: TestClient, team: dict[str, Any]) -> None:
    ana, eve, vic, nobody = team["ana"], team["eve"], team["vic"], team["nobody"]
    body = {"project": "vision", "ref": "model:v0"}
    assert http.post("/api/v1/models/churn/versions", json=body, headers=vic).status_code == 403
    resp = http.post("/api/v1/models/churn/versions", json=body, headers=eve)
    assert resp.status_code == 201 and resp.json()["version"] == 1
    assert http.get("/api/v1/models/churn", headers=vic).status_code == 200
    assert http.get("/api/v1/models/churn", headers=nobody).status_code == 404
    assert http.get("/api/v1/models", headers=nobody).json() == []
    assert [m["name"] for m in http.get("/api/v1/models", headers=vic).json()] == ["churn"]
    alias = {"version": 1, "reason": "first", "actor": "somebody-else"}
    assert http.put("/api/v1/models/churn/aliases/prod", json=alias, headers=vic).status_code == 403
    assert http.put("/api/v1/models/churn/aliases/prod", json=alias, headers=eve).status_code == 200
    [event] = http.get("/api/v1/models/churn/alias-history", headers=vic).json()
    assert (event["actor"], event["reason"], event["to_version"]) == ("eve", "first", 1)
    # gates are governance: a project admin sets them, an editor cannot lift them
    gates = {"gates": [{"metrics": {"auc": ">= 0.9"}}]}
    assert http.put("/api/v1/models/churn/gates", json=gates, headers=eve).status_code == 403
    assert http.put("/api/v1/models/churn/gates", json=gates, headers=ana).status_code == 200
    refused = http.put("/api/v1/models/churn/aliases/staging", json={"version": 1}, headers=eve)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "promotion_refused"
    assert len(http.get("/api/v1/models/churn/alias-history", headers=vic).json()) == 1
    detail = http.get("/api/v1/model-detail", params={"ref": "churn@prod"}, headers=vic)
    assert detail.status_code == 200 and detail.json()["run"]["id"] == team["run"]
    assert (
        http.get("/api/v1/model-detail", params={"ref": "churn@prod"}, headers=nobody).status_code
        == 404
    )
    # deleting needs the editor role too
    path = "/api/v1/projects/vision/artifacts/model:v0"
    assert http.delete(path, headers=vic).status_code == 403
    assert http.delete(path, headers=eve).status_code == 409  # a model version points at it


def test_lineage_hides_projects_the_caller_cannot_read(
    http: TestClient, team: dict[str, Any], new_run: Callable[..., str]
) -> None:
    # sam's secret project uses vision's model: sam may read vision? no. Make it readable
    # to sam as a viewer, so sam's run can use it; vic must not see sam's run.
    secret_run = new_run(team["sam"], "secret")
    resp = http.post(f"/api/v1/runs/{secret_run}/uses", json={"ref": "vision/model:v0"},
                     headers=team["sam"])  # fmt: skip
    assert resp.status_code == 404  # sam cannot read vision
    resp = http.post(f"/api/v1/runs/{secret_run}/uses", json={"ref": "vision/model:v0"},
                     headers=team["root"])  # fmt: skip
    assert resp.status_code == 200
    params = {"root": "model:v0", "project": "vision", "direction": "down"}
    seen_by_root = http.get("/api/v1/lineage", params=params, headers=team["root"]).json()
    assert f"run:{secret_run}" in {n["id"] for n in seen_by_root["nodes"]}
    seen_by_vic = http.get("/api/v1/lineage", params=params, headers=team["vic"]).json()
    assert f"run:{secret_run}" not in {n["id"] for n in seen_by_vic["nodes"]}
    assert seen_by_vic["truncated"] is True
    assert http.get("/api/v1/lineage", params=params, headers=team["nobody"]).status_code == 404
    run_root = {"root": f"run:{secret_run}", "direction": "up"}
    assert http.get("/api/v1/lineage", params=run_root, headers=team["vic"]).status_code == 404


def test_a_reference_file_grants_no_access_to_a_blob(
    http: TestClient, team: dict[str, Any], new_run: Callable[..., str]
) -> None:
    """Knowing the digest of sam's blob and naming it in a reference file of one's own
    project must not make the blob readable."""
    secret = b"sam's private weights"
    digest = hashlib.sha256(secret).hexdigest()
    new_run(team["sam"], "secret")
    up = http.post("/api/v1/blobs/uploads", params={"project": "secret"},
                   json={"digest": digest, "size": len(secret)}, headers=team["sam"])  # fmt: skip
    assert up.status_code in (200, 201), up.text
    session = up.json()
    if not session["exists"]:
        put = http.put(
            f"/api/v1/blobs/uploads/{session['upload_id']}/parts/1",
            content=secret,
            headers={**team["sam"], "content-type": "application/octet-stream"},
        )
        assert put.status_code in (200, 201, 204), put.text
        done = http.post(
            f"/api/v1/blobs/uploads/{session['upload_id']}/complete", headers=team["sam"]
        )
        assert done.status_code in (200, 201), done.text
    version = _ref_version(secret, digest)
    version["name"] = "stolen"
    resp = http.post(f"/api/v1/runs/{team['run']}/artifacts", json=version, headers=team["ana"])
    assert resp.status_code == 201
    blob = http.get(f"/api/v1/projects/vision/blobs/{digest}", headers=team["ana"])
    assert blob.status_code in (403, 404)
