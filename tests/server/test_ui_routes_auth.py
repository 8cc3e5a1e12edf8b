"""The web UI's routes with authentication on: groups and keys need READ on the
project, compare READ on every run's project (no run of a project the caller cannot read
is compared, or said to exist: 404 as for any project one cannot read)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from runtrack.server.users import SqlAuthenticator


def test_groups_keys_and_compare_need_read(
    http: TestClient,
    auth: SqlAuthenticator,
    new_user: Callable[..., dict[str, str]],
    new_run: Callable[..., str],
) -> None:
    ana, vic, sam = new_user("ana"), new_user("vic"), new_user("sam")
    config = {"lr": 0.1}
    a1, a2 = new_run(ana, "vision", config=config), new_run(ana, "vision", config=config)
    s1 = new_run(sam, "secret", config=config)
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
