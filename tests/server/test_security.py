"""Hostile requests get a precise 4xx, never a 5xx, and change nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import msgpack
import pytest
from fastapi.testclient import TestClient

from _support import AppFactory

RUN = "abcd1234efgh5678"


def _spec(**kw: Any) -> dict[str, Any]:
    spec = {
        "id": RUN,
        "project": "p",
        "name": "r",
        "user": "u",
        "host": "h",
        "start_time": time.time(),
        "config": {"lr": 0.1},
    }
    spec.update(kw)
    return spec


@pytest.fixture
def c(app_factory: AppFactory) -> Iterator[TestClient]:
    with TestClient(app_factory(), raise_server_exceptions=False) as client:
        assert client.post("/api/v1/runs", json=_spec()).status_code == 201
        yield client


def _err(resp: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    doc = resp.json()["error"]
    assert doc["message"]
    if code is not None:
        assert doc["code"] == code
    return doc  # type: ignore[no-any-return]


def test_oversized_bodies_are_refused_before_they_are_read(c: TestClient) -> None:
    big = b'{"filter": "' + b"x" * (2 << 20) + b'"}'
    _err(
        c.post("/api/v1/runs/search", content=big, headers={"content-type": "application/json"}),
        413,
        "too_large",
    )

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
        yield b'{"filter": "'
        for _ in range(40):
            yield b"y" * 65536
        yield b'"}'

    _err(
        c.post(
            "/api/v1/runs/search", content=chunks(), headers={"content-type": "application/json"}
        ),
        413,
    )
    _err(
        c.post(
            "/api/v1/runs/search",
            content=b"{}",
            headers={"content-type": "application/json", "content-length": "abc"},
        ),
        400,
    )


@pytest.mark.parametrize(
    "body,ctype",
    [
        (b"{not json", "application/json"),
        (b"\xc1\xc1\xc1", "application/msgpack"),
        (b"[]", "application/json"),
        (b'{"filter": 5}', "application/json"),
        (b'{"order_by": [1, 2]}', "application/json"),
        (b'{"limit": -1}', "application/json"),
        (b'{"surprise": 1}', "application/json"),
        (b"filter=metrics.x", "application/x-www-form-urlencoded"),
        (b"filter=metrics.x", "text/plain"),
        (b"{}", ""),
    ],
)
def test_malformed_search_bodies(c: TestClient, body: bytes, ctype: str) -> None:
    resp = c.post("/api/v1/runs/search", content=body, headers={"content-type": ctype})
    assert 400 <= resp.status_code < 500, resp.text
    assert resp.json()["error"]["code"]


@pytest.mark.parametrize(
    "flt",
    [
        "'; DROP TABLE runs; --",
        "config.lr = 1; DELETE FROM runs",
        "metrics.auc > 0 OR 1=1 --",
        "config.`x'); DROP TABLE runs; --` = 1",
        "tags.a = 'x' UNION SELECT * FROM users",
        "run.id = (SELECT id FROM runs)",
        "__import__('os').system('id')",
        "metrics.auc > 0.9 and " * 500 + "metrics.auc > 0",
        "(" * 200 + "metrics.auc > 0" + ")" * 200,
        "config.a\x00 = 1",
    ],
)
def test_filters_that_look_like_sql_or_code_are_refused_and_harmless(
    c: TestClient, flt: str
) -> None:
    resp = c.post("/api/v1/runs/search", json={"filter": flt})
    if resp.status_code == 200:  # a filter that parses is only ever a filter
        assert isinstance(resp.json()["runs"], list)
    else:
        doc = _err(resp, 400)
        assert doc["code"] in ("invalid_query", "invalid")
    assert c.get(f"/api/v1/runs/{RUN}").status_code == 200  # the table is intact


@pytest.mark.parametrize(
    "batch",
    [
        {"stream": "s", "keysets": [], "records": [[0, 1, 0, 1.0, 5, b"\x00" * 8]]},
        {"stream": "s", "keysets": [["a"]], "records": [[0, 1, 0, 1.0, 0, b"\x00" * 7]]},
        {"stream": "s", "keysets": [["a"]], "records": [[0, 1, -5, 1.0, 0, b"\x00" * 8]]},
        {"stream": "s", "keysets": [["a\x01"]], "records": [[0, 1, 0, 1.0, 0, b"\x00" * 8]]},
        {"stream": "s", "keysets": [["a"]], "records": [[7, 1]]},
        {
            "stream": "s",
            "keysets": [["a"]],
            "records": [[1, 1, {"kind": "status", "status": "evil", "time": 1}]],
        },
        {"stream": "s", "keysets": [["a"]], "records": [[1, 1, {"kind": "nope"}]]},
        {"stream": "../../x", "keysets": [], "records": []},
        {"stream": "s", "keysets": "a", "records": []},
        {"stream": "s", "keysets": [["a"]], "records": "x"},
        {
            "stream": "s",
            "keysets": [["a"]],
            "records": [[0, 2, 0, 1.0, 0, b"\x00" * 8], [0, 1, 0, 1.0, 0, b"\x00" * 8]],
        },
    ],
)
def test_malformed_batches_write_nothing(c: TestClient, batch: dict[str, Any]) -> None:
    resp = c.post(
        f"/api/v1/runs/{RUN}/batches",
        content=msgpack.packb(batch),
        headers={"content-type": "application/msgpack"},
    )
    assert 400 <= resp.status_code < 500, resp.text
    assert c.get(f"/api/v1/runs/{RUN}/history").json() == {}


def test_too_many_records_in_a_batch(app_factory: AppFactory) -> None:
    from dataclasses import replace

    from runtrack.server.limits import Limits

    with TestClient(app_factory(limits=replace(Limits(), batch_records=10))) as client:
        client.post("/api/v1/runs", json=_spec())
        records = [[0, i + 1, i, 1.0, 0, b"\x00" * 8] for i in range(11)]
        resp = client.post(
            f"/api/v1/runs/{RUN}/batches",
            content=msgpack.packb({"stream": "s", "keysets": [["a"]], "records": records}),
            headers={"content-type": "application/msgpack"},
        )
        _err(resp, 400)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/runs/../../etc/passwd",
        "/api/v1/runs/%2e%2e%2f%2e%2e%2fetc",
        "/api/v1/runs/ABCDEF",
        "/api/v1/runs/" + "a" * 5000,
        "/api/v1/runs/a;b",
        "/api/v1/runs/x%00y/history",
        "/api/v1/projects/..%2f..",
        "/api/v1/projects/a%5cb",
    ],
)
def test_hostile_ids_in_paths(c: TestClient, path: str) -> None:
    resp = c.get(path)
    assert 400 <= resp.status_code < 500, (path, resp.status_code, resp.text)


def test_hostile_run_specs(c: TestClient) -> None:
    for bad in (
        _spec(id="x" * 100),
        _spec(id="../evil"),
        _spec(project="a/b"),
        _spec(config={"a.b": 1, "a": {"b": 2}}),
        _spec(tags={"k": "v" * 10_000}),
        _spec(name="\x00"),
        _spec(start_time="yesterday"),
        {"id": RUN},
    ):
        resp = c.post("/api/v1/runs", json=bad)
        assert resp.status_code == 400, (bad, resp.text)


def test_host_origin_and_cors(app_factory: AppFactory) -> None:
    app = app_factory(allowed_origins=("https://ui.example.org",))
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/health", headers={"host": "evil.example"}).status_code == 400
        _err(
            client.post("/api/v1/runs", json=_spec(), headers={"origin": "https://evil.example"}),
            403,
            "forbidden_origin",
        )
        pre = client.options(
            "/api/v1/runs/search",
            headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
        )
        assert "access-control-allow-origin" not in pre.headers
        ok = client.options(
            "/api/v1/runs/search",
            headers={"origin": "https://ui.example.org", "access-control-request-method": "POST"},
        )
        assert ok.headers.get("access-control-allow-origin") == "https://ui.example.org"
        assert (
            client.post(
                "/api/v1/runs", json=_spec(), headers={"origin": "https://ui.example.org"}
            ).status_code
            == 201
        )


def test_wildcard_origins_and_open_networks_are_refused() -> None:
    from runtrack.errors import ValidationError
    from runtrack.server.main import build_config

    with pytest.raises(ValidationError, match="origin"):
        build_config(
            host="127.0.0.1",
            db_url="sqlite://",
            artifacts="/tmp/a",
            auth=None,
            insecure_no_auth=False,
            allow_origins=("*",),
        )
    with pytest.raises(ValidationError, match="without authentication"):
        build_config(
            host="0.0.0.0",
            db_url="sqlite://",
            artifacts="/tmp/a",
            auth=False,
            insecure_no_auth=False,
        )
    open_cfg = build_config(
        host="0.0.0.0", db_url="sqlite://", artifacts="/tmp/a", auth=None, insecure_no_auth=True
    )
    assert open_cfg.auth is False
    team = build_config(
        host="10.1.2.3", db_url="sqlite://", artifacts="/tmp/a", auth=None, insecure_no_auth=False
    )
    assert team.auth is True
    local = build_config(
        host="127.0.0.1", db_url="sqlite://", artifacts="/tmp/a", auth=None, insecure_no_auth=False
    )
    assert local.auth is False and "*" not in local.allowed_hosts


def test_unexpected_errors_do_not_leak_internals(app_factory: AppFactory) -> None:
    class Broken:
        def __getattr__(self, name: str) -> Any:
            def fail(*a: Any, **k: Any) -> Any:
                raise RuntimeError("secret internal detail /etc/shadow")

            return fail

    with TestClient(app_factory(store=Broken()), raise_server_exceptions=False) as client:
        resp = client.get(f"/api/v1/runs/{RUN}")
        assert resp.status_code == 500
        assert "secret" not in resp.text and "Traceback" not in resp.text
        assert resp.json()["error"]["code"] == "internal"
