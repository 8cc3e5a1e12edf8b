"""How the server serves the UI: index.html at / and every client route, hashed assets
cached for a year, a strict Content-Security-Policy, nothing outside the build."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from runtrack.server.app import create_app
from runtrack.server.config import ServerConfig
from runtrack.server.routers.ui import DIST


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    config = ServerConfig(
        db_url=f"sqlite:///{tmp_path / 'server.db'}",
        artifacts=str(tmp_path / "artifacts"),
        auth=False,
        auto_upgrade=True,
        allowed_hosts=("testserver",),
        access_log=False,
    )
    with TestClient(create_app(config)) as c:
        yield c


needs_build = pytest.mark.skipif(
    not (DIST / "index.html").exists(), reason="the UI is not built (scripts/build_ui.sh)"
)


@needs_build
@pytest.mark.parametrize("path", ["/", "/ui", "/ui/", "/ui/projects/p", "/ui/runs/abc?x=time"])
def test_index_for_every_client_route_with_a_strict_csp(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-cache"
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "object-src 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert '<div id="root">' in r.text
    assert "<script>" not in r.text  # no inline script: only <script src=...>


@needs_build
def test_hashed_assets_are_cached_for_a_year(client: TestClient) -> None:
    js = next((DIST / "assets").glob("index-*.js"))
    r = client.get(f"/ui/assets/{js.name}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert "immutable" in r.headers["cache-control"]
    assert "max-age=31536000" in r.headers["cache-control"]


@pytest.mark.parametrize(
    "path", ["/ui/assets/nope.js", "/ui/assets/..%2F..%2Fapp.py", "/ui/assets/.hidden"]
)
def test_nothing_outside_the_build_is_served(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code in (404, 200)
    assert "create_app" not in r.text  # never a source file
    if r.status_code == 200:  # a client route: the app's index, not a file
        assert '<div id="root">' in r.text


def test_the_api_is_not_shadowed(client: TestClient) -> None:
    assert client.get("/api/v1/projects").json() == []
    assert client.get("/api/v1/nope").status_code == 404
    assert client.get("/health").status_code == 200


def test_the_ui_may_post_to_its_own_origin_but_other_origins_may_not(
    client: TestClient,
) -> None:
    body = {"project": None, "filter": None}
    own = client.post("/api/v1/runs/count", json=body, headers={"origin": "http://testserver"})
    assert own.status_code == 200
    foreign = client.post(
        "/api/v1/runs/count", json=body, headers={"origin": "http://evil.example"}
    )
    assert foreign.status_code == 403


def test_runtrack_ui_serves_the_embedded_store(tmp_path: Path) -> None:
    """``runtrack ui --no-browser --json``: a server on a free loopback port over the
    embedded store; it prints the address and serves the UI and the API there."""
    import json
    import os
    import signal
    import subprocess
    import sys

    import httpx2

    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNTRACK_")}
    env.update(RUNTRACK_DIR=str(tmp_path / "rt"), RUNTRACK_QUIET="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "runtrack.cli", "ui", "--no-browser", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not lines or lines[-1].rstrip() != "}":
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else "no output"
            lines.append(line)
        url = json.loads("".join(lines))["url"]
        assert url.startswith("http://127.0.0.1:")
        assert httpx2.get(url + "api/v1/projects", timeout=10).json() == []
        page = httpx2.get(url, timeout=10)
        assert page.status_code in (200, 503)  # 503: the UI is not built here
        assert "content-security-policy" in page.headers
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)  # (and closes the pipes)
