"""POST /runs/search with ``columns`` (table rows: only the keys a table shows), its
validation, the unchanged default answer, and the JSON encoding of answers (orjson when
that gives the same document)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import msgpack
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from runtrack.entities import FrozenMap, MetricsRecord, RunBatch, RunSpec
from runtrack.protocol import jsonable, run_to_wire
from runtrack.server._io import json_body

COLS = [
    "run.name",
    "run.status",
    "run.duration",
    "metrics.auc",
    "metrics.loss",
    "config.model.depth",
    "params.lr",
    "config.opt.beta",
    "config.missing",
    "tags.stage",
    "audit.score",
]


@pytest.fixture
def client(app_factory: Callable[..., FastAPI]) -> Iterator[TestClient]:
    app = app_factory()
    s = app.state.store
    for i in range(3):
        config: dict[str, Any] = {
            "model": {"depth": i, "width": 64, "kind": "mlp"},
            "lr": 0.1 * (i + 1),
            "opt.beta": 0.9,  # a key that holds a dot (the query language's config.opt.beta)
            "layers": [1, {"a": 2}],
            "notes": "x" * 1000,
        }
        s.create_run(
            RunSpec(
                f"col{i:06d}",
                "cols",
                f"run-{i}",
                "u",
                "h",
                1.7e9 + i,
                config=config,
                tags={"stage": "prod", "team": "rl"},
            )
        )
        values = [0.9 + i / 100, math.nan if i == 1 else 0.5, math.inf, 1.0]
        keys = ("auc", "loss", "other", "audit.score")
        s.write(RunBatch(f"col{i:06d}", "main", (MetricsRecord(1, 0, time.time(), keys, values),)))
    with TestClient(app) as c:
        yield c


def _search(c: TestClient, **body: Any) -> Any:
    resp = c.post("/api/v1/runs/search", json={"project": "cols", "order_by": "run.name", **body})
    assert resp.status_code == 200, resp.text
    return resp.json()["runs"]


def test_the_default_answer_is_unchanged(client: TestClient) -> None:
    runs = _search(client)
    store = client.app.state.store  # type: ignore[attr-defined]
    records = store.search_runs("cols", None, ["run.name"])
    assert runs == json.loads(json.dumps(jsonable([run_to_wire(r) for r in records])))
    assert set(runs[0]) >= {"provenance", "inputs", "outputs", "used", "config", "metrics"}
    assert runs[1]["metrics"]["loss"][0] == "NaN" and runs[0]["metrics"]["other"][0] == "Infinity"
    assert runs[0]["config"]["model"] == {"depth": 0, "width": 64, "kind": "mlp"}
    # null is the default too
    assert _search(client, columns=None) == runs


def test_columns_answer_table_rows(client: TestClient) -> None:
    full = _search(client)
    rows = _search(client, columns=COLS)
    assert [r["id"] for r in rows] == [r["id"] for r in full]
    row, record = rows[1], full[1]
    attrs = ["id", "project", "name", "status", "user", "host", "start_time", "end_time"]
    attrs += ["heartbeat_time", "parent_id", "group", "notes", "error"]
    assert {k: row[k] for k in attrs} == {k: record[k] for k in attrs}
    assert set(row) == {*attrs, "tags", "config", "metrics", "summary"}
    # config flattened, only the named keys (nested, params alias, a key holding a dot)
    assert row["config"] == {"model.depth": 1, "lr": 0.2, "opt.beta": 0.9}
    assert row["metrics"] == {
        "auc": record["metrics"]["auc"],
        "loss": record["metrics"]["loss"],
        "audit.score": record["metrics"]["audit.score"],
    }
    assert row["metrics"]["loss"][0] == "NaN"  # non-finite floats spelled as JSON can
    assert row["summary"] == {"auc": 0.91, "loss": "NaN", "audit.score": 1.0}
    assert row["tags"] == {"stage": "prod"}
    assert len(json.dumps(rows)) < len(json.dumps(full)) / 2


def test_columns_of_sections_lists_and_nothing(client: TestClient) -> None:
    rows = _search(client, columns=["config.model", "config.layers", "metrics.nope", "tags.x"])
    # a section is not a column (as in the query language); a list is a leaf
    assert rows[0]["config"] == {"layers": [1, {"a": 2}]}
    assert rows[0]["metrics"] == {} and rows[0]["summary"] == {} and rows[0]["tags"] == {}
    bare = _search(client, columns=[])
    assert bare[0]["config"] == {} and bare[0]["name"] == "run-0"


def test_columns_in_msgpack_and_the_default_msgpack_answer(client: TestClient) -> None:
    head = {"accept": "application/msgpack"}
    body = {"project": "cols", "order_by": "run.name"}
    full = msgpack.unpackb(client.post("/api/v1/runs/search", json=body, headers=head).content)
    assert "provenance" in full["runs"][0] and math.isnan(full["runs"][1]["metrics"]["loss"][0])
    resp = client.post("/api/v1/runs/search", json={**body, "columns": COLS}, headers=head)
    rows = msgpack.unpackb(resp.content)["runs"]
    assert rows[0]["config"] == {"model.depth": 0, "lr": 0.1, "opt.beta": 0.9}


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ("metrics.auc", "columns must be a list of field names"),
        ({"metrics": ["auc"]}, "columns must be a list of field names"),
        (7, "columns must be a list of field names"),
        (True, "columns must be a list of field names"),
        ([1], "columns[0] is a int; field names are strings"),
        (["run.name", None], "columns[1] is a NoneType"),
        (["run.name", ["metrics.auc"]], "columns[1] is a list"),
        (["auc"], "columns[0] 'auc' is not a field name"),
        (["metrics."], "columns[0] 'metrics.' is not a field name"),
        ([""], "columns[0] '' is not a field name"),
        (["foo.bar"], "columns[0] 'foo.bar': unknown field prefix 'foo'"),
        (["'; DROP TABLE runs; --.x"], "unknown field prefix"),
        (["run.password"], "columns[0] 'run.password': unknown run attribute"),
        (["metrics." + "k" * 251], "is 251 characters long; the limit is 250"),
        (["config.a\x00b"], "columns[0]: config key 'a\\x00b' contains a control character"),
        (["tags.\n"], "contains a control character"),
        (["metrics.auc"] * 1001, "columns names 1001 fields; the limit is 1000"),
    ],
)
def test_bad_columns_are_refused_precisely(client: TestClient, columns: Any, message: str) -> None:
    resp = client.post("/api/v1/runs/search", json={"project": "cols", "columns": columns})
    assert resp.status_code == 400, resp.text
    err = resp.json()["error"]
    assert err["code"] == "invalid"
    assert message in err["message"], err["message"]
    assert client.get("/api/v1/runs/col000000").status_code == 200  # nothing harmed


def test_columns_belong_to_the_search_not_the_count(client: TestClient) -> None:
    resp = client.post("/api/v1/runs/count", json={"project": "cols", "columns": ["run.name"]})
    assert resp.status_code == 400
    assert resp.json()["error"]["message"] == "unknown search fields: columns"


# -- the JSON encoding of answers -------------------------------------------------------------


def _slow(data: Any) -> bytes:
    return bytes(JSONResponse(jsonable(data)).body)


@pytest.mark.parametrize(
    "data",
    [
        {"runs": [{"a": 1.5, "b": [1, 2, None], "c": 'é\u2028"\\\n', "d": True, "e": 1e-7}]},
        {"x": (1, 2.5), "big": 2**63, "neg": -(2**63)},
        {"nan": math.nan, "inf": [math.inf, -math.inf], "s": "NaN"},
        {"nested": {"deep": [{"v": -0.0}]}},
        [],
        "text",
        None,
        {"frozen": FrozenMap({"a": {"b": 1}})},  # a Mapping that is not a dict
        {1: "int keys"},
        {"huge": 2**70},
        {"s": "\xcb\x7f\xf0 looks like a NaN in msgpack"},
    ],
)
def test_json_bodies_are_the_documents_json_would_send(data: Any) -> None:
    assert json.loads(json_body(data)) == json.loads(_slow(data))


def test_json_bodies_refuse_what_json_refuses() -> None:
    for data in ({"b": b"bytes"}, {"t": datetime.now(UTC)}, {"o": object()}):
        with pytest.raises(TypeError):
            _slow(data)
        with pytest.raises(TypeError):
            json_body(data)
