"""Property-based fuzzing of every operation of the OpenAPI spec: no input makes the
server answer 5xx."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import msgpack
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from runtrack.server.app import create_app
from runtrack.server.config import ServerConfig

_DIR = Path(tempfile.mkdtemp(prefix="rt-fuzz-"))
APP = create_app(
    ServerConfig(
        db_url=f"sqlite:///{_DIR / 'fuzz.db'}",
        artifacts=str(_DIR / "artifacts"),
        auth=False,
        auto_upgrade=True,
        allowed_hosts=("testserver", "localhost", "127.0.0.1"),
        access_log=False,
    )
)
with TestClient(APP) as _c:  # a run and a project to find, so paths are not all 404
    _c.post(
        "/api/v1/runs",
        json={
            "id": "fuzz0000run00001",
            "project": "fuzz",
            "name": "f",
            "user": "u",
            "host": "h",
            "start_time": time.time(),
        },
    )


@schemathesis.serializer("application/msgpack")
def _msgpack(ctx: object, value: object) -> bytes:
    return value if isinstance(value, bytes) else msgpack.packb(value)  # type: ignore[no-any-return]


schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_the_server_fail(case: schemathesis.Case) -> None:
    response = case.call()
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])
