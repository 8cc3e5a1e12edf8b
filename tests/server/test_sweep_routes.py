"""The sweep REST routes (``server/routers/sweeps.py``) under hostile and edge-case input.

Every refusal is a 4xx in the project's error shape (``{"error": {"code", "message"}}``)
that names the problem, never a 500 or a traceback, and a refused request changes nothing
(the sweep, its trials and their runs read back the same). The same assertions run on
SQLite and PostgreSQL: one app per backend for the whole module (built as the
``server_config`` fixture builds it), each test in a project of its own.

Tests marked ``xfail(strict=True)`` assert the documented behaviour a defect breaks; their
reason names the defect.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient

from _support import fresh_pg_database, run_spec
from runtrack.server.app import create_app
from runtrack.server.config import ServerConfig
from runtrack.server.users import SqlAuthenticator

API = "/api/v1"
MISSING = object()  # a body that is not sent at all


def defect(reason: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(reason=f"defect: {reason}", strict=True)


# -- one app per backend -------------------------------------------------------------------
@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def backend_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sweep-routes') / 'server.db'}"
        return
    with fresh_pg_database() as url:
        yield url


@pytest.fixture(scope="module")
def server(backend_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    config = ServerConfig(
        db_url=backend_url,
        artifacts=str(tmp_path_factory.mktemp("artifacts")),
        auth=False,
        auto_upgrade=True,
        allowed_hosts=("testserver", "127.0.0.1", "localhost"),
        access_log=False,
    )
    # a 500 must come back as the response it is, not be raised into the test
    with TestClient(create_app(config), raise_server_exceptions=False) as c:
        yield c


def spec(**changes: Any) -> dict[str, Any]:
    s: dict[str, Any] = {
        "method": "random",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {
            "x": {"distribution": "uniform", "min": -2.0, "max": 2.0},
            "opt": {"values": ["adam", "sgd"]},
        },
        "budget": {"trials": 4},
        "seed": 3,
    }
    s.update(changes)
    return s


def two_objectives(**changes: Any) -> dict[str, Any]:
    s = spec(**changes)
    del s["metric"]
    s["metrics"] = [{"name": "loss", "goal": "minimize"}, {"name": "acc", "goal": "maximize"}]
    return s


class Sweeps:
    """The routes as a client calls them, in a project of the test's own. Bodies are sent
    as ``json.dumps`` writes them: NaN/Infinity literals, huge ints and lone surrogates
    (as ``\\ud800`` escapes) reach the server as a hostile client would send them."""

    def __init__(self, http: TestClient, project: str) -> None:
        self.http = http
        self.project = project

    def post(
        self, path: str, body: Any = MISSING, *, raw: bytes | None = None, ctype: str = ""
    ) -> httpx2.Response:
        headers = {"content-type": ctype or "application/json"}
        if raw is None and body is not MISSING:
            raw = json.dumps(body).encode()
        if raw is None and not ctype:
            headers = {}
        return self.http.post(API + path, content=raw, headers=headers)

    def get(self, path: str, **params: Any) -> httpx2.Response:
        return self.http.get(API + path, params=params)

    # the routes
    def create(self, s: Any = MISSING, project: str | None = None, **extra: Any) -> httpx2.Response:
        body = {"spec": spec() if s is MISSING else s, **extra}
        return self.post(f"/projects/{project or self.project}/sweeps", body)

    def new(self, s: Any = MISSING, **extra: Any) -> str:
        resp = self.create(s, **extra)
        assert resp.status_code == 201, resp.text
        return str(resp.json()["id"])

    def ask(self, sid: str, **body: Any) -> httpx2.Response:
        return self.post(f"/sweeps/{sid}/ask", body)

    def asked(self, sid: str, **body: Any) -> dict[str, Any]:
        resp = self.ask(sid, **body)
        assert resp.status_code == 200 and resp.json() is not None, resp.text
        trial: dict[str, Any] = resp.json()
        return trial

    def tell(self, sid: str, run_id: str, body: Any = MISSING, **fields: Any) -> httpx2.Response:
        return self.post(f"/sweeps/{sid}/trials/{run_id}/tell", fields if body is MISSING else body)

    def report(self, sid: str, run_id: str, body: Any = MISSING, **fields: Any) -> httpx2.Response:
        path = f"/sweeps/{sid}/trials/{run_id}/report"
        return self.post(path, fields if body is MISSING else body)

    def stop(self, sid: str, **body: Any) -> httpx2.Response:
        return self.post(f"/sweeps/{sid}/stop", body)

    def sweep(self, sid: str) -> dict[str, Any]:
        resp = self.get(f"/sweeps/{sid}")
        assert resp.status_code == 200, resp.text
        out: dict[str, Any] = resp.json()
        return out

    def trials(self, sid: str) -> list[dict[str, Any]]:
        resp = self.get(f"/sweeps/{sid}/trials")
        assert resp.status_code == 200, resp.text
        out: list[dict[str, Any]] = resp.json()
        return out

    def run(self, run_id: str) -> dict[str, Any]:
        resp = self.get(f"/runs/{run_id}")
        assert resp.status_code == 200, resp.text
        r = resp.json()
        return {k: r[k] for k in ("status", "summary", "tags", "config", "end_time", "user")}

    def snapshot(self, sid: str) -> tuple[Any, ...]:
        """Everything recorded about a sweep: itself, its trials and their runs."""
        trials = self.trials(sid)
        return self.sweep(sid), trials, [self.run(t["run_id"]) for t in trials if t["run_id"]]

    def sweep_ids(self, project: str | None = None) -> list[str]:
        resp = self.get(f"/projects/{project or self.project}/sweeps")
        assert resp.status_code == 200, resp.text
        return [s["id"] for s in resp.json()]


@pytest.fixture
def api(server: TestClient) -> Sweeps:
    return Sweeps(server, f"p-{uuid.uuid4().hex[:12]}")


def refused(resp: httpx2.Response, status: int, code: str, *words: str) -> str:
    """``resp`` is the project's error answer: status, stable code, a message naming the
    problem (every one of ``words``), and nothing of the server's internals."""
    assert resp.status_code == status, f"{resp.status_code}: {resp.text[:500]}"
    assert resp.headers["content-type"].startswith("application/json"), resp.headers
    body = resp.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert err["code"] == code, err
    message = err["message"]
    assert isinstance(message, str) and message.strip(), err
    assert "Traceback" not in resp.text and 'File "' not in resp.text, resp.text
    for w in words:
        assert w.lower() in message.lower(), (w, message)
    return str(message)


def nothing_created(api: Sweeps, project: str | None = None) -> None:
    """A refused create wrote nothing: not the sweep, nor even its project."""
    name = project or api.project
    refused(api.get(f"/projects/{name}"), 404, "project_not_found", name)
    assert api.sweep_ids(name) == []


# -- bodies that are not what the route reads ----------------------------------------------
NOT_JSON = [b"{not json", b"", b"\xff\xfe\x00", b'{"spec": {}', b"{'spec': {}}", b"spec=1"]
NOT_AN_OBJECT = [b"[]", b'"spec"', b"5", b"null", b"true", b"[{}]"]


@pytest.mark.parametrize("raw", NOT_JSON, ids=repr)
def test_create_refuses_a_body_that_is_not_json(api: Sweeps, raw: bytes) -> None:
    resp = api.post(f"/projects/{api.project}/sweeps", raw=raw)
    refused(resp, 400, "invalid", "not valid application/json")
    nothing_created(api)


@pytest.mark.parametrize("raw", NOT_AN_OBJECT, ids=repr)
def test_create_refuses_json_that_is_not_an_object(api: Sweeps, raw: bytes) -> None:
    resp = api.post(f"/projects/{api.project}/sweeps", raw=raw)
    refused(resp, 400, "invalid", "must be an object")
    nothing_created(api)


@pytest.mark.parametrize(
    "body",
    [{}, {"spec": []}, {"spec": "metric: loss"}, {"spec": 5}, {"spec": None}, {"spec": True}],
    ids=["missing", "list", "string", "number", "null", "bool"],
)
def test_create_needs_a_spec_object(api: Sweeps, body: dict[str, Any]) -> None:
    resp = api.post(f"/projects/{api.project}/sweeps", body)
    refused(resp, 400, "invalid", "{'spec': {...}}")
    nothing_created(api)


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", None])
def test_create_refuses_other_media_types(api: Sweeps, ctype: str | None) -> None:
    raw = json.dumps({"spec": spec()}).encode()
    headers = {} if ctype is None else {"content-type": ctype}
    resp = api.http.post(f"{API}/projects/{api.project}/sweeps", content=raw, headers=headers)
    refused(resp, 415, "unsupported_media_type", "application/json")
    nothing_created(api)


def test_create_refuses_a_body_over_the_limit(api: Sweeps) -> None:
    resp = api.create(spec(description="d" * (2 << 20)))
    refused(resp, 413, "too_large", "limit")
    nothing_created(api)


def test_create_refuses_nesting_deeper_than_the_parser(api: Sweeps) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    resp = api.post(f"/projects/{api.project}/sweeps", raw=b'{"spec": ' + deep + b"}")
    refused(resp, 400, "invalid", "not valid application/json")
    nested: Any = 1
    for _ in range(200):
        nested = {"a": nested}
    resp = api.create(spec(parameters={"x": [1, 2], "fixed": {"value": nested}}))
    refused(resp, 400, "invalid", "parameters.fixed.value", "nested too deeply")
    nothing_created(api)


# (spec changes, words the message must hold)
BAD_SPECS: list[tuple[dict[str, Any], list[str]]] = [
    ({"metric": 5}, ["metric:", "{name"]),
    ({"metric": ["loss"]}, ["metric:", "{name"]),
    ({"metric": {"name": "loss", "goal": "up"}}, ["metric.goal", "minimize or maximize"]),
    ({"metric": {"name": "l" * 300}}, ["metric.name", "250"]),
    ({"metric": {"name": "lo\nss"}}, ["metric.name", "control character"]),
    ({"metric": {"name": "loss", "weight": 2}}, ["unknown key 'weight'"]),
    ({"metrics": [{"name": "acc"}]}, ["give the objective"]),
    ({"parameters": [1, 2]}, ["parameters:", "must map"]),
    ({"parameters": "x"}, ["parameters:", "must map"]),
    ({"parameters": {}}, ["parameters:", "must map"]),
    ({"parameters": {"x": {"value": 1}}}, ["nothing to search"]),
    ({"parameters": {"../../etc/passwd": [1, 2]}}, ["parameters:", "config key"]),
    ({"parameters": {"x" * 300: [1, 2]}}, ["parameters:", "config key"]),
    ({"parameters": {"x": {"distribution": "uniform", "min": "0", "max": 1}}}, ["x.min"]),
    ({"parameters": {"x": {"distribution": "uniform", "min": True, "max": 1}}}, ["x.min"]),
    ({"parameters": {"x": {"distribution": "uniform", "min": 0, "max": [1]}}}, ["x.max"]),
    ({"parameters": {"x": {"distribution": "uniform", "min": 1, "max": 0}}}, ["above max"]),
    ({"parameters": {"x": {"distribution": "uniform", "min": 0, "max": 1e400}}}, ["finite"]),
    ({"parameters": {"x": {"distribution": "int", "min": 0, "max": 2**64}}}, ["too large"]),
    ({"parameters": {"x": {"distribution": "int", "min": 0, "max": 10**400}}}, ["too large"]),
    ({"parameters": {"x": {"distribution": "int", "min": 0, "max": 3.5}}}, ["integer"]),
    ({"parameters": {"x": {"distribution": "uniform", "min": 0, "max": 1, "log": "no"}}}, ["log"]),
    ({"parameters": {"x": {"distribution": "normal", "min": 0, "max": 1}}}, ["distribution"]),
    ({"parameters": {"x": {"values": []}}}, ["x.values", "non-empty"]),
    ({"parameters": {"x": {"values": "ab"}}}, ["x.values", "non-empty list"]),
    ({"parameters": {"x": {"values": [1, True]}}}, ["listed twice"]),
    ({"parameters": {"x": {"values": [[1], [2]]}}}, ["x.values[0]"]),
    ({"parameters": {"x": {"values": [1, 2], "min": 0}}}, ["only applies to a distribution"]),
    ({"parameters": {"x": [1, 2], "y": {"values": [1, 2], "when": {"z": 1}}}}, ["not a param"]),
    ({"budget": {"trials": "5"}}, ["budget.trials", "integer"]),
    ({"budget": {"trials": True}}, ["budget.trials", "integer"]),
    ({"budget": {"trials": 0}}, ["budget.trials", "between 1"]),
    ({"budget": {"trials": 2**64}}, ["budget.trials", "too large"]),
    ({"budget": {"trials": 10**400}}, ["budget.trials", "too large"]),
    ({"budget": {"seconds": -1}}, ["budget.seconds", "above 0"]),
    ({"budget": {"epochs": 3}}, ["unknown key 'epochs'"]),
    ({"budget": [4]}, ["budget"]),
    ({"seed": "3"}, ["seed", "integer"]),
    ({"seed": 1.5}, ["seed", "integer"]),
    ({"seed": False}, ["seed", "integer"]),
    ({"seed": -1}, ["seed", "between 0"]),
    ({"seed": 2**64}, ["seed", "too large"]),
    ({"seed": 10**400}, ["seed", "too large"]),
    ({"method": ["tpe"]}, ["method", "must be one of"]),
    ({"method": "bayes"}, ["method", "must be one of"]),
    ({"pruner": 5}, ["pruner"]),
    ({"pruner": {"kind": "median"}}, ["pruner.type"]),
    ({"pruner": {"type": "sometimes"}}, ["pruner"]),
    ({"retries": 11}, ["retries", "between 0 and 10"]),
    ({"command": 5}, ["command", "list of strings"]),
    ({"command": ["python", "${nope}"]}, ["command", "not a parameter"]),
    ({"warm_start": "yes"}, ["warm_start"]),
    ({"warm_start": {"filter": "1; DROP TABLE runs"}}, ["warm_start.filter", "position"]),
    ({"warm_start": {"filter": 5}}, ["warm_start.filter"]),
    ({"description": "d" * 10_001}, ["description", "10,000"]),
    ({"description": ["d"]}, ["description"]),
    ({"name": "n" * 300}, ["name", "250"]),
    ({"name": "a\x00b"}, ["name", "control characters"]),
    ({"bogus": 1}, ["bogus", "unknown key"]),
]


@pytest.mark.parametrize(("changes", "words"), BAD_SPECS, ids=[repr(c)[:40] for c, _ in BAD_SPECS])
def test_create_refuses_a_bad_spec_and_writes_nothing(
    api: Sweeps, changes: dict[str, Any], words: list[str]
) -> None:
    refused(api.create(spec(**changes)), 400, "invalid", *words)
    nothing_created(api)


@pytest.mark.parametrize("drop", ["metric", "parameters"])
def test_create_refuses_a_spec_without_a_required_key(api: Sweeps, drop: str) -> None:
    s = spec()
    del s[drop]
    refused(api.create(s), 400, "invalid", f"sweep spec: {drop}")
    nothing_created(api)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("where", ["min", "max", "step", "seconds", "seed", "trials"])
def test_create_refuses_non_finite_literals(api: Sweeps, where: str, literal: str) -> None:
    s = spec(
        parameters={"x": {"distribution": "uniform", "min": 0.0, "max": 1.0, "step": 0.25}},
        budget={"trials": 4, "seconds": 60.0},
    )
    text = json.dumps({"spec": s})
    text = {
        "min": text.replace('"min": 0.0', f'"min": {literal}'),
        "max": text.replace('"max": 1.0', f'"max": {literal}'),
        "step": text.replace('"step": 0.25', f'"step": {literal}'),
        "seconds": text.replace('"seconds": 60.0', f'"seconds": {literal}'),
        "seed": text.replace('"seed": 3', f'"seed": {literal}'),
        "trials": text.replace('"trials": 4', f'"trials": {literal}'),
    }[where]
    assert literal in text
    resp = api.post(f"/projects/{api.project}/sweeps", raw=text.encode())
    refused(resp, 400, "invalid", "sweep spec:", "finite")
    nothing_created(api)


@pytest.mark.parametrize("host", [5, ["h"], {"h": 1}, True, "h" * 251])
def test_create_refuses_a_bad_host(api: Sweeps, host: Any) -> None:
    refused(api.create(host=host), 400, "invalid", "'host'", "250")
    nothing_created(api)


def test_unknown_body_fields_and_unknown_spec_keys_are_refused(api: Sweeps) -> None:
    refused(api.create(spec(), bogus={"deep": [1, 2, 3]}), 400, "invalid", "'bogus'", "spec")
    refused(api.create(spec(bogus=1)), 400, "invalid", "unknown key")
    nothing_created(api)


def test_unknown_fields_of_ask_tell_report_and_stop_are_refused(api: Sweeps) -> None:
    sid = api.new()
    run_id = api.asked(sid)["run_id"]
    before = api.snapshot(sid)
    # a misspelt key is not silently dropped: "stat" would have left the trial complete
    refused(api.report(sid, run_id, step=0, value=2.0, steps=9), 400, "invalid", "'steps'")
    refused(api.tell(sid, run_id, values=[0.5], stat="failed"), 400, "invalid", "'stat'")
    refused(api.stop(sid, reasons="x"), 400, "invalid", "'reasons'", "reason")
    refused(api.post(f"/sweeps/{sid}/resume", {"trial": 3}), 400, "invalid", "'trial'", "trials")
    resp = api.post(f"/sweeps/{sid}/ask", {"host": "h", "hots": "h"})
    refused(resp, 400, "invalid", "'hots'", "request_id")
    assert api.snapshot(sid) == before


# -- project names ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "project",
    ["-bad", ".hidden", "_x", "a" * 101, "проект", "a b", "a%09b", "%2e%2e", "a%00b", "a;b"],
)
def test_invalid_project_names_are_refused(api: Sweeps, project: str) -> None:
    refused(api.create(project=project), 400, "invalid", "project name", "is invalid")
    refused(api.get(f"/projects/{project}/sweeps"), 400, "invalid", "project name")


@pytest.mark.parametrize("path", ["..%2F..%2Fhealth", "a%2Fb", "%2F"])
def test_a_project_with_a_slash_matches_no_route(api: Sweeps, path: str) -> None:
    refused(api.create(project=path), 404, "not_found")
    refused(api.get(f"/projects/{path}/sweeps"), 404, "not_found")


def test_a_project_name_with_a_trailing_newline_is_refused(api: Sweeps) -> None:
    name = f"{api.project}%0A"
    resp = api.create(project=name)
    try:
        refused(resp, 400, "invalid", "project name")
        refused(api.get(f"/projects/{name}/sweeps"), 400, "invalid", "project name")
    finally:
        assert resp.status_code != 500


def test_an_unknown_project_lists_no_sweeps_and_a_create_makes_it(api: Sweeps) -> None:
    assert api.sweep_ids() == []  # as GET /projects/{p}/artifacts: empty, not 404
    refused(api.get(f"/projects/{api.project}"), 404, "project_not_found")
    sid = api.new()
    assert api.sweep_ids() == [sid]
    assert api.get(f"/projects/{api.project}").status_code == 200


def test_a_parameter_name_with_a_trailing_newline_is_refused(api: Sweeps) -> None:
    s = spec(parameters={"x\n": {"distribution": "uniform", "min": 0, "max": 1}})
    refused(api.create(s), 400, "invalid", "parameters")
    nothing_created(api)


# -- text no database can store ---------------------------------------------------------------
# where a text field goes: (route, how to send it); each is refused with 400 and writes nothing
def _create_actor(api: Sweeps, sid: str, text: str) -> httpx2.Response:
    return api.create(actor=f"ana{text}")


def _create_host(api: Sweeps, sid: str, text: str) -> httpx2.Response:
    return api.create(host=f"h{text}")


def _create_choice(api: Sweeps, sid: str, text: str) -> httpx2.Response:
    return api.create(spec(parameters={"opt": {"values": [f"a{text}", "b"]}}))


def _create_fixed(api: Sweeps, sid: str, text: str) -> httpx2.Response:
    return api.create(spec(parameters={"x": [1, 2], "tag": f"v{text}"}))


def _create_description(api: Sweeps, sid: str, text: str) -> httpx2.Response:
    return api.create(spec(description=f"about{text}"))


def _create_metric(api: Sweeps, sid: str, text: str) -> httpx2.Response:
    return api.create(spec(metric={"name": f"loss{text}"}))


def _ask_host(api: Sweeps, sid: str, text: str) -> httpx2.Response:
    return api.ask(sid, host=f"h{text}")


def _ask_actor(api: Sweeps, sid: str, text: str) -> httpx2.Response:
    return api.ask(sid, actor=f"ana{text}")


def _tell_error(api: Sweeps, sid: str, text: str) -> httpx2.Response:
    run_id = api.trials(sid)[0]["run_id"]
    return api.tell(sid, run_id, state="failed", error=f"boom{text}")


def _stop_reason(api: Sweeps, sid: str, text: str) -> httpx2.Response:
    return api.stop(sid, reason=f"enough{text}")


TEXT_FIELDS: dict[str, Callable[[Sweeps, str, str], httpx2.Response]] = {
    "create-actor": _create_actor,
    "create-host": _create_host,
    "create-choice": _create_choice,
    "create-fixed-value": _create_fixed,
    "create-description": _create_description,
    "create-metric-name": _create_metric,
    "ask-host": _ask_host,
    "ask-actor": _ask_actor,
    "stop-reason": _stop_reason,
}


def _text_case(field: str, text: str, api: Sweeps) -> None:
    """Send ``text`` in ``field``: a 400 naming nothing of the internals, and nothing
    written -- not the sweep of a create, not a trial of an ask, not the trial's end."""
    sid = api.new(spec(), project=f"{api.project}-seen")
    api.asked(sid)
    before = api.snapshot(sid)
    resp = TEXT_FIELDS[field](api, sid, text)
    refused(resp, 400, "invalid")
    if field.startswith("create"):
        nothing_created(api)
    assert api.snapshot(sid) == before
    if field.startswith("create"):  # and the sweeps whose text was fine still run
        assert api.asked(sid)["number"] == 1


@pytest.mark.parametrize("field", list(TEXT_FIELDS))
def test_text_with_a_lone_surrogate_is_refused(api: Sweeps, field: str) -> None:
    _text_case(field, "\ud800", api)


@pytest.mark.parametrize("field", ["create-choice", "create-fixed-value"])
def test_a_hostile_create_cannot_break_the_projects_sweep_list(api: Sweeps, field: str) -> None:
    good = api.new()
    resp = TEXT_FIELDS[field](api, good, "\ud800")
    listed = api.get(f"/projects/{api.project}/sweeps")
    assert listed.status_code == 200, listed.text  # readers of the project still see it
    assert [s["id"] for s in listed.json()] == [good]
    refused(resp, 400, "invalid")


@pytest.mark.parametrize("field", list(TEXT_FIELDS))
def test_text_with_a_nul_is_refused_on_every_backend(api: Sweeps, field: str) -> None:
    _text_case(field, "\x00", api)


@pytest.mark.parametrize("text", ["\x00", "\ud800"], ids=["nul", "surrogate"])
def test_a_trial_error_is_mended_not_refused(api: Sweeps, text: str) -> None:
    """A trial's error text is a diagnosis (often a traceback with whatever the trial
    printed): what no database keeps becomes U+FFFD, and the trial's outcome is recorded."""
    sid = api.new()
    api.asked(sid)
    told = _tell_error(api, sid, text)
    assert told.status_code == 200, told.text
    assert told.json()["state"] == "failed" and told.json()["error"] == "boom\ufffd"
    assert [t["error"] for t in api.trials(sid)] == ["boom\ufffd"]


# -- sweep ids ---------------------------------------------------------------------------------
def routes(sid: str, run_id: str = "0000abcd0000abcd") -> list[tuple[str, str, Any]]:
    """Every route naming a sweep: (method, path, body)."""
    return [
        ("GET", f"/sweeps/{sid}", None),
        ("GET", f"/sweeps/{sid}/trials", None),
        ("GET", f"/sweeps/{sid}/analysis", None),
        ("POST", f"/sweeps/{sid}/ask", {}),
        ("POST", f"/sweeps/{sid}/trials/{run_id}/report", {"step": 0, "value": 1.0}),
        ("POST", f"/sweeps/{sid}/trials/{run_id}/tell", {"values": [1.0]}),
        ("POST", f"/sweeps/{sid}/stop", {}),
        ("POST", f"/sweeps/{sid}/resume", {}),
    ]


def call(api: Sweeps, method: str, path: str, body: Any) -> httpx2.Response:
    return api.get(path) if method == "GET" else api.post(path, body)


MALFORMED_IDS = [
    "NOT-AN-ID",
    "abc",
    "ABCD1234",
    "a" * 33,
    "a" * 5000,
    "\uff53\uff57\uff45\uff45\uff501234",
    "sweep%00",
    "abcd%0A",
    "%20abcd",
    "%2e%2e",
    "abcd'%20OR%20'1'='1",
    "1m8e*",
]


def test_an_unknown_sweep_is_not_found_on_every_route(api: Sweeps) -> None:
    known = api.new()
    before = api.snapshot(known)
    for method, path, body in routes("0000abcd0000abcd"):
        refused(call(api, method, path, body), 404, "sweep_not_found", "does not exist")
    assert api.snapshot(known) == before


@pytest.mark.parametrize("sid", MALFORMED_IDS)
def test_a_malformed_sweep_id_is_not_found_on_every_route(api: Sweeps, sid: str) -> None:
    known = api.new()
    before = api.snapshot(known)
    for method, path, body in routes(sid):
        resp = call(api, method, path, body)
        assert resp.status_code == 404, (path, resp.text)
        refused(resp, 404, resp.json()["error"]["code"], "does not exist")
    assert api.snapshot(known) == before


@pytest.mark.parametrize("sid", ["NOT-AN-ID", "a" * 5000, "\uff53\uff57\uff45\uff45\uff501234"])
def test_a_malformed_sweep_id_is_said_to_name_no_sweep(api: Sweeps, sid: str) -> None:
    for method, path, body in routes(sid):
        refused(call(api, method, path, body), 404, "sweep_not_found", "sweep")


@pytest.mark.parametrize("path", ["..%2F..%2Fhealth", "a%2Fb%2Fc", "%2F", ".."])
def test_a_sweep_id_with_a_slash_matches_no_route(api: Sweeps, path: str) -> None:
    refused(api.get(f"/sweeps/{path}"), 404, "not_found")
    refused(api.post(f"/sweeps/{path}/ask", {}), 404, "not_found")


def test_a_run_that_is_no_sweep_is_not_found(api: Sweeps) -> None:
    plain = api.http.post(f"{API}/runs", json=run_spec(api.project))
    assert plain.status_code == 201, plain.text
    sid = api.new()
    trial = api.asked(sid)["run_id"]
    before = api.snapshot(sid)
    for run_id in (plain.json()["id"], trial):
        api.get(f"/runs/{run_id}")  # its project is cached, as after any run route
        for method, path, body in routes(run_id, trial):
            refused(call(api, method, path, body), 404, "sweep_not_found", "does not exist")
    assert api.snapshot(sid) == before
    assert api.sweep_ids() == [sid]


# -- run ids in the trial routes -----------------------------------------------------------------
@pytest.mark.parametrize("run_id", [*MALFORMED_IDS, "0000abcd0000abcd"])
def test_a_malformed_or_unknown_run_id_is_not_found(api: Sweeps, run_id: str) -> None:
    sid = api.new()
    api.asked(sid)
    before = api.snapshot(sid)
    for resp in (
        api.tell(sid, run_id, values=[1.0]),
        api.report(sid, run_id, step=0, value=1.0),
    ):
        assert resp.status_code == 404, resp.text
        refused(resp, 404, resp.json()["error"]["code"], "run")
    assert api.snapshot(sid) == before


def test_a_run_of_another_sweep_or_no_trial_is_refused(api: Sweeps) -> None:
    a, b = api.new(), api.new()
    ta, tb = api.asked(a)["run_id"], api.asked(b)["run_id"]
    plain = api.http.post(f"{API}/runs", json=run_spec(api.project)).json()["id"]
    before = api.snapshot(a), api.snapshot(b)
    for run_id in (tb, a, b, plain):
        refused(api.tell(a, run_id, values=[1.0]), 404, "run_not_found", "not a trial")
        refused(api.tell(a, run_id, state="failed"), 404, "run_not_found", "not a trial")
        refused(api.report(a, run_id, step=0, value=1.0), 404, "run_not_found", "not a trial")
    assert (api.snapshot(a), api.snapshot(b)) == before
    assert api.tell(a, ta, values=[0.5]).json()["state"] == "complete"


def test_a_warm_trial_cannot_be_told_or_reported(api: Sweeps) -> None:
    first = api.new(spec(budget={"trials": 1}))
    done = api.asked(first)["run_id"]
    assert api.tell(first, done, values=[0.5]).status_code == 200
    warm = api.new(spec(warm_start=True))
    (t,) = api.trials(warm)
    assert t["warm"] and t["run_id"] == done and t["values"] == [0.5]
    before = api.snapshot(warm), api.snapshot(first)
    refused(api.tell(warm, done, values=[0.1]), 404, "run_not_found", done)
    refused(api.tell(warm, done, values=[0.5]), 404, "run_not_found", done)
    refused(api.report(warm, done, step=0, value=0.1), 404, "run_not_found", done)
    assert (api.snapshot(warm), api.snapshot(first)) == before


# -- bodies of ask, report, tell, stop -----------------------------------------------------------
@pytest.mark.parametrize("verb", ["ask", "report", "tell", "stop", "resume"])
def test_every_post_refuses_bodies_that_are_no_json_object(api: Sweeps, verb: str) -> None:
    sid = api.new()
    run_id = api.asked(sid)["run_id"]
    path = {
        "ask": f"/sweeps/{sid}/ask",
        "report": f"/sweeps/{sid}/trials/{run_id}/report",
        "tell": f"/sweeps/{sid}/trials/{run_id}/tell",
        "stop": f"/sweeps/{sid}/stop",
        "resume": f"/sweeps/{sid}/resume",
    }[verb]
    before = api.snapshot(sid)
    for raw in NOT_JSON:
        refused(api.post(path, raw=raw), 400, "invalid", "not valid application/json")
    for raw in NOT_AN_OBJECT:
        refused(api.post(path, raw=raw), 400, "invalid", "must be an object")
    refused(api.post(path, raw=b"{}", ctype="text/plain"), 415, "unsupported_media_type")
    big = json.dumps({"host": "h" * (2 << 20)}).encode()
    refused(api.post(path, raw=big), 413, "too_large")
    refused(api.post(path, raw=b"\xc1", ctype="application/msgpack"), 400, "invalid", "msgpack")
    deep = b'{"values": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    refused(api.post(path, raw=deep), 400, "invalid", "not valid application/json")
    assert api.snapshot(sid) == before


def test_a_post_without_any_body_is_one_with_no_fields(api: Sweeps) -> None:
    """`curl -X POST .../stop` (no body, no content type) stops; ask asks; report and
    tell say what they need."""
    sid = api.new()
    run_id = api.asked(sid)["run_id"]
    refused(api.post(f"/sweeps/{sid}/trials/{run_id}/report"), 400, "invalid", "'step'")
    refused(api.post(f"/sweeps/{sid}/trials/{run_id}/tell"), 400, "invalid", "objective")
    asked = api.post(f"/sweeps/{sid}/ask")
    assert asked.status_code == 200 and asked.json()["number"] == 1
    stopped = api.post(f"/sweeps/{sid}/stop")
    assert stopped.status_code == 200 and stopped.json()["status"] == "stopped"
    # a body without a content type is still refused: it is not read as JSON by guess
    stop = api.post(f"/sweeps/{sid}/stop", raw=b"{}", ctype="text/plain")
    refused(stop, 415, "unsupported_media_type")


def test_resume_over_http(api: Sweeps) -> None:
    sid = api.new()
    api.stop(sid, reason="night")
    before = api.snapshot(sid)
    for body, needle in [
        ({"trials": 0}, "1 or more"),
        ({"trials": "2"}, "whole number"),
        ({"trials": 2.5}, "whole number"),
        ({"trials": True}, "whole number"),
        ({"seconds": -1}, "above 0"),
        ({"seconds": "1e9"}, "must be a number"),
    ]:
        refused(api.post(f"/sweeps/{sid}/resume", body), 400, "invalid", needle)
    assert api.snapshot(sid) == before
    got = api.post(f"/sweeps/{sid}/resume")  # `curl -X POST .../resume`
    assert got.status_code == 200, got.text
    assert got.json()["status"] == "running" and got.json()["stop_reason"] is None
    more = api.post(f"/sweeps/{sid}/resume", {"trials": 10})
    assert (
        more.status_code == 200 and more.json()["spec"]["budget"]["trials"] == 10
    )  # none used yet


BAD_VALUES: list[tuple[Any, list[str]]] = [
    ("0.5", ["list of numbers"]),
    (0.5, ["list of numbers"]),
    ({"loss": 0.5}, ["list of numbers"]),
    (["0.5"], ["must be numbers"]),
    ([None], ["must be numbers"]),
    ([[0.5]], ["must be numbers"]),
    ([{"v": 0.5}], ["must be numbers"]),
    ([10**400], ["must be numbers"]),
    ([0.5, 0.5], ["1 objective", "2 value"]),
    ([], ["1 objective", "0 value"]),
]


@pytest.mark.parametrize(("values", "words"), BAD_VALUES, ids=[repr(v)[:20] for v, _ in BAD_VALUES])
def test_tell_refuses_values_that_are_not_one_number_per_objective(
    api: Sweeps, values: Any, words: list[str]
) -> None:
    sid = api.new()
    run_id = api.asked(sid)["run_id"]
    before = api.snapshot(sid)
    refused(api.tell(sid, run_id, values=values), 400, "invalid", *words)
    assert api.snapshot(sid) == before
    told = api.tell(sid, run_id, values=[0.25]).json()  # it can still be told properly
    assert (told["state"], told["values"]) == ("complete", [0.25])


@pytest.mark.parametrize("values", [[True], [False], [0.5, True]], ids=repr)
def test_tell_refuses_booleans_as_values(api: Sweeps, values: list[Any]) -> None:
    s = spec() if len(values) == 1 else two_objectives()
    sid = api.new(s)
    run_id = api.asked(sid)["run_id"]
    before = api.snapshot(sid)
    refused(api.tell(sid, run_id, values=values), 400, "invalid", "not a number")
    assert api.snapshot(sid) == before


@pytest.mark.parametrize("values", [[1.0], [1.0, 2.0, 3.0], [], 1.0, [1.0, None]], ids=repr)
def test_a_two_objective_tell_needs_two_numbers(api: Sweeps, values: Any) -> None:
    sid = api.new(two_objectives())
    run_id = api.asked(sid)["run_id"]
    before = api.snapshot(sid)
    message = refused(api.tell(sid, run_id, values=values), 400, "invalid")
    assert "2 objective" in message or "numbers" in message, message
    assert api.snapshot(sid) == before
    assert api.tell(sid, run_id, values=[0.5, 0.9]).json()["values"] == [0.5, 0.9]


@pytest.mark.parametrize(
    "state", ["done", "COMPLETE", "", "running", "waiting", None, 1, True, ["complete"], {}]
)
def test_tell_refuses_an_unknown_state(api: Sweeps, state: Any) -> None:
    sid = api.new()
    run_id = api.asked(sid)["run_id"]
    before = api.snapshot(sid)
    refused(api.tell(sid, run_id, state=state, values=[1.0]), 400, "invalid", "complete, pruned")
    assert api.snapshot(sid) == before


@pytest.mark.parametrize("error", [5, ["a"], {"e": 1}, True, "E" * 100_001], ids=repr)
def test_tell_refuses_an_error_that_is_not_bounded_text(api: Sweeps, error: Any) -> None:
    sid = api.new()
    run_id = api.asked(sid)["run_id"]
    before = api.snapshot(sid)
    refused(api.tell(sid, run_id, state="failed", error=error), 400, "invalid", "'error'")
    assert api.snapshot(sid) == before


def test_a_long_error_is_kept_truncated(api: Sweeps) -> None:
    sid = api.new()
    run_id = api.asked(sid)["run_id"]
    text = "Traceback ü\n" + "x" * 99_000
    told = api.tell(sid, run_id, state="failed", error=text).json()
    assert told["state"] == "failed" and 1_000 <= len(told["error"]) < len(text)
    assert text.startswith(told["error"])
    assert api.run(run_id)["status"] == "failed"


def test_complete_without_values_is_refused(api: Sweeps) -> None:
    sid = api.new(two_objectives())
    run_id = api.asked(sid)["run_id"]
    before = api.snapshot(sid)
    for body in ({}, {"state": "complete"}, {"values": None}):
        refused(api.tell(sid, run_id, body), 400, "invalid", "objective values (loss, acc)")
    refused(api.tell(sid, run_id, {"value": [0.5, 0.9]}), 400, "invalid", "'value'", "values")
    assert api.snapshot(sid) == before


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_a_non_finite_value_fails_the_trial_and_its_run(api: Sweeps, literal: str) -> None:
    sid = api.new()
    run_id = api.asked(sid)["run_id"]
    raw = f'{{"values": [{literal}]}}'.encode()
    told = api.post(f"/sweeps/{sid}/trials/{run_id}/tell", raw=raw)
    assert told.status_code == 200, told.text
    t = told.json()
    assert t["state"] == "failed" and t["values"] is None and "finite" in t["error"]
    assert api.sweep(sid)["best"] is None
    assert api.run(run_id)["status"] == "failed"


# -- tell twice, tell after, report after ---------------------------------------------------------
def test_telling_the_same_again_is_a_no_op_and_another_outcome_a_conflict(api: Sweeps) -> None:
    sid = api.new()
    run_id = api.asked(sid)["run_id"]
    first = api.tell(sid, run_id, values=[0.5])
    assert first.status_code == 200 and first.json()["state"] == "complete"
    after = api.snapshot(sid)
    again = api.tell(sid, run_id, values=[0.5])
    assert again.status_code == 200 and again.json() == first.json()
    assert api.tell(sid, run_id, state="complete", values=[0.5]).json() == first.json()
    refused(api.tell(sid, run_id, values=[0.1]), 409, "conflict", "already complete", "[0.5]")
    refused(api.tell(sid, run_id, state="failed", error="late"), 409, "conflict", "complete")
    refused(api.tell(sid, run_id, state="pruned", values=[0.1]), 409, "conflict", "complete")
    assert api.snapshot(sid) == after
    assert api.sweep(sid)["best"]["values"] == [0.5]


@pytest.mark.parametrize("first", ["pruned", "failed"])
def test_a_pruned_or_failed_trial_cannot_be_told_otherwise(api: Sweeps, first: str) -> None:
    sid = api.new()
    run_id = api.asked(sid)["run_id"]
    assert api.report(sid, run_id, step=0, value=2.0).status_code == 200
    assert api.tell(sid, run_id, state=first, error="x").json()["state"] == first
    after = api.snapshot(sid)
    refused(api.tell(sid, run_id, values=[0.1]), 409, "conflict", f"already {first}")
    other = "failed" if first == "pruned" else "pruned"
    refused(api.tell(sid, run_id, state=other), 409, "conflict", f"already {first}")
    assert api.tell(sid, run_id, state=first).json()["state"] == first  # the same: a no-op
    assert api.snapshot(sid) == after


def test_report_after_tell_changes_nothing(api: Sweeps) -> None:
    sid = api.new(spec(pruner={"type": "median"}))
    done, pruned = api.asked(sid)["run_id"], api.asked(sid)["run_id"]
    failed = api.asked(sid)["run_id"]
    api.tell(sid, done, values=[0.5])
    api.report(sid, pruned, step=0, value=3.0)
    api.tell(sid, pruned, state="pruned")
    api.tell(sid, failed, state="failed", error="boom")
    after = api.snapshot(sid)
    assert api.report(sid, done, step=7, value=99.0).json() == {"prune": False}
    assert api.report(sid, pruned, step=7, value=99.0).json() == {"prune": True}
    assert api.report(sid, failed, step=7, value=99.0).json() == {"prune": False}
    assert api.snapshot(sid) == after


def test_a_trial_may_be_told_after_its_sweep_was_stopped(api: Sweeps) -> None:
    sid = api.new()
    run_id = api.asked(sid)["run_id"]
    assert api.stop(sid, reason="enough").json()["status"] == "stopped"
    assert api.report(sid, run_id, step=0, value=1.0).json() == {"prune": False}
    assert api.tell(sid, run_id, values=[0.75]).json()["values"] == [0.75]
    sw = api.sweep(sid)
    assert (sw["status"], sw["stop_reason"], sw["counts"]) == ("stopped", "enough", {"complete": 1})


def test_retelling_a_non_finite_value_is_a_no_op(api: Sweeps) -> None:
    sid = api.new()
    run_id = api.asked(sid)["run_id"]
    path = f"/sweeps/{sid}/trials/{run_id}/tell"
    first = api.post(path, raw=b'{"values": [NaN]}')
    assert first.status_code == 200 and first.json()["state"] == "failed"
    after = api.snapshot(sid)
    again = api.post(path, raw=b'{"values": [NaN]}')
    assert api.snapshot(sid) == after
    assert again.status_code == 200, again.text
    assert again.json() == first.json()


def test_retelling_a_complete_the_pruner_stopped_is_a_no_op(api: Sweeps) -> None:
    prune_early = {"type": "median", "n_startup_trials": 0, "n_warmup_steps": 0}
    sid = api.new(spec(pruner=prune_early))
    good = api.asked(sid)["run_id"]
    for step in range(3):
        api.report(sid, good, step=step, value=0.1)
    api.tell(sid, good, values=[0.1])
    bad = api.asked(sid)["run_id"]
    assert api.report(sid, bad, step=0, value=100.0).json() == {"prune": True}
    first = api.tell(sid, bad, values=[100.0])
    assert first.status_code == 200 and first.json()["state"] == "pruned"
    after = api.snapshot(sid)
    again = api.tell(sid, bad, values=[100.0])
    assert api.snapshot(sid) == after
    assert again.status_code == 200, again.text
    assert again.json() == first.json()


def test_telling_a_pruned_trial_another_value_is_a_conflict(api: Sweeps) -> None:
    sid = api.new()
    run_id = api.asked(sid)["run_id"]
    assert api.tell(sid, run_id, state="pruned", values=[1.0]).json()["values"] == [1.0]
    after = api.snapshot(sid)
    resp = api.tell(sid, run_id, state="pruned", values=[2.0])
    assert api.snapshot(sid) == after  # the first answer stands either way
    refused(resp, 409, "conflict", "already pruned")


# -- report ---------------------------------------------------------------------------------------
BAD_STEPS = [-1, True, False, "1", 1.5, 2.0, None, [1], {"s": 1}, 2**63, 2**64, 10**400]


@pytest.mark.parametrize("step", BAD_STEPS, ids=lambda s: repr(s)[:16])
def test_report_refuses_a_step_that_is_not_a_natural_number(api: Sweeps, step: Any) -> None:
    sid = api.new(spec(pruner={"type": "median"}))
    run_id = api.asked(sid)["run_id"]
    before = api.snapshot(sid)
    refused(api.report(sid, run_id, step=step, value=1.0), 400, "invalid", "step", "integer")
    assert api.snapshot(sid) == before


def test_report_takes_the_largest_step(api: Sweeps) -> None:
    sid = api.new(spec(pruner={"type": "median"}))
    run_id = api.asked(sid)["run_id"]
    assert api.report(sid, run_id, step=2**63 - 1, value=1.0).json() == {"prune": False}
    assert api.trials(sid)[0]["intermediate"] == [[2**63 - 1, 1.0]]


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (True, ["not a number"]),
        (False, ["not a number"]),
        ("1.0", ["must be numbers"]),
        (None, ["must be numbers"]),
        ([1.0], ["must be numbers"]),
        ({"v": 1}, ["must be numbers"]),
        (10**400, ["must be numbers"]),
    ],
    ids=repr,
)
def test_report_refuses_a_value_that_is_not_a_number(
    api: Sweeps, value: Any, words: list[str]
) -> None:
    sid = api.new(spec(pruner={"type": "median"}))
    run_id = api.asked(sid)["run_id"]
    before = api.snapshot(sid)
    refused(api.report(sid, run_id, step=0, value=value), 400, "invalid", *words)
    assert api.snapshot(sid) == before


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, "{'step': N, 'value': X}"),
        ({"step": 0}, "{'step': N, 'value': X}"),
        ({"value": 1.0}, "{'step': N, 'value': X}"),
        ({"steps": 0, "value": 1}, "unknown field 'steps'"),
    ],
)
def test_report_needs_step_and_value(api: Sweeps, body: dict[str, Any], words: str) -> None:
    sid = api.new()
    run_id = api.asked(sid)["run_id"]
    before = api.snapshot(sid)
    refused(api.report(sid, run_id, body), 400, "invalid", words)
    assert api.snapshot(sid) == before


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_a_non_finite_report_is_kept_and_answers(api: Sweeps, literal: str) -> None:
    sid = api.new(spec(pruner={"type": "median", "n_startup_trials": 0}))
    run_id = api.asked(sid)["run_id"]
    raw = f'{{"step": 0, "value": {literal}}}'.encode()
    resp = api.post(f"/sweeps/{sid}/trials/{run_id}/report", raw=raw)
    assert resp.status_code == 200 and isinstance(resp.json()["prune"], bool), resp.text
    (t,) = api.trials(sid)
    assert t["state"] == "running" and len(t["intermediate"]) == 1
    assert api.get(f"/sweeps/{sid}/analysis").status_code == 200


# -- ask and stop ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"host": 5}, ["'host'"]),
        ({"host": "h" * 251}, ["'host'", "250"]),
        ({"request_id": 12345678}, ["'request_id'"]),
        ({"request_id": "short"}, ["request_id", "8 to 64"]),
        ({"request_id": "r" * 65}, ["'request_id'", "64"]),
        ({"request_id": ["abcdefgh"]}, ["'request_id'"]),
    ],
    ids=repr,
)
def test_ask_refuses_a_bad_host_or_request_id(
    api: Sweeps, body: dict[str, Any], words: list[str]
) -> None:
    sid = api.new()
    api.asked(sid)
    before = api.snapshot(sid)
    refused(api.ask(sid, **body), 400, "invalid", *words)
    assert api.snapshot(sid) == before  # no trial was handed out
    assert api.asked(sid)["number"] == 1


def test_a_retried_ask_answers_the_same_trial(api: Sweeps) -> None:
    sid = api.new()
    first = api.asked(sid, request_id="agent-1-ask-0001")
    assert api.asked(sid, request_id="agent-1-ask-0001") == first
    assert api.asked(sid, request_id="agent-2-ask-0001")["number"] == 1
    assert len(api.trials(sid)) == 2


def test_ask_after_the_budget_is_handed_out_or_spent_is_null(api: Sweeps) -> None:
    sid = api.new(spec(budget={"trials": 2}))
    runs = [api.asked(sid)["run_id"] for _ in range(2)]
    for _ in range(2):
        resp = api.ask(sid)
        assert resp.status_code == 200 and resp.json() is None
    sw = api.sweep(sid)
    assert sw["status"] == "running" and sw["counts"] == {"running": 2}  # its trials run
    for r in runs:
        api.tell(sid, r, values=[1.0])
    sw = api.sweep(sid)
    assert sw["status"] == "finished" and sw["budget_used"] == 2
    assert "2 trials" in sw["stop_reason"]
    assert api.ask(sid).json() is None
    assert len(api.trials(sid)) == 2


def test_ask_on_a_stopped_sweep_is_null_and_stop_twice_keeps_the_first(api: Sweeps) -> None:
    sid = api.new()
    run_id = api.asked(sid, request_id="before-stop-0001")["run_id"]
    first = api.stop(sid, reason="first")
    assert first.status_code == 200 and first.json()["status"] == "stopped"
    ended = first.json()["ended_at"]
    assert api.ask(sid).json() is None
    assert api.ask(sid, request_id="after-stop-00001").json() is None
    # the retry of an ask whose answer was lost still gets its trial
    assert api.asked(sid, request_id="before-stop-0001")["run_id"] == run_id
    second = api.stop(sid, reason="second").json()
    assert (second["stop_reason"], second["ended_at"]) == ("first", ended)
    sw = api.sweep(sid)
    assert (sw["status"], sw["stop_reason"], sw["counts"]) == ("stopped", "first", {"running": 1})
    assert api.run(run_id)["status"] == "running"  # its running trial is not touched
    assert api.run(sid)["status"] == "finished"


def test_stop_on_a_finished_sweep_changes_nothing(api: Sweeps) -> None:
    sid = api.new(spec(budget={"trials": 1}))
    api.tell(sid, api.asked(sid)["run_id"], values=[1.0])
    before = api.snapshot(sid)
    assert before[0]["status"] == "finished"
    assert api.stop(sid, reason="too late").json() == before[0]
    assert api.snapshot(sid) == before


@pytest.mark.parametrize("reason", [5, ["a"], {"r": 1}, True, "r" * 1001], ids=repr)
def test_stop_refuses_a_bad_reason_and_the_sweep_runs_on(api: Sweeps, reason: Any) -> None:
    sid = api.new()
    t = api.asked(sid)
    before = api.snapshot(sid)
    refused(api.stop(sid, reason=reason), 400, "invalid", "'reason'", "1,000")
    assert api.snapshot(sid) == before
    assert api.asked(sid)["number"] == t["number"] + 1


def test_stop_with_an_empty_object_says_why(api: Sweeps) -> None:
    sid = api.new()
    assert api.stop(sid).json()["stop_reason"] == "stopped by request"


@pytest.mark.parametrize(
    "importance",
    ["", "evil", "PED_ANOVA", "ped_anova'--", "x" * 10_000, "\uff46\uff41\uff4e\uff4f\uff56\uff41"],
)
def test_analysis_refuses_an_unknown_importance(api: Sweeps, importance: str) -> None:
    sid = api.new()
    api.tell(sid, api.asked(sid)["run_id"], values=[1.0])
    resp = api.get(f"/sweeps/{sid}/analysis", importance=importance)
    refused(resp, 400, "invalid", "importance", "ped_anova, fanova, none")
    ok = api.get(f"/sweeps/{sid}/analysis", importance="none")
    assert ok.status_code == 200 and ok.json()["importance"] is None


def test_wrong_methods_are_405_in_the_error_shape(api: Sweeps) -> None:
    sid = api.new()
    refused(api.get(f"/sweeps/{sid}/ask"), 405, "method_not_allowed")
    refused(api.post(f"/sweeps/{sid}", {}), 405, "method_not_allowed")
    resp = api.http.delete(f"{API}/sweeps/{sid}")
    refused(resp, 405, "method_not_allowed")
    assert api.sweep(sid)["status"] == "running"


# -- with authentication on ---------------------------------------------------------------------
@pytest.fixture
def guarded(
    http: TestClient, auth: SqlAuthenticator, new_user: Callable[..., dict[str, str]]
) -> dict[str, Any]:
    """A sweep in a project where ana may write, bo may read and eve has no role."""
    heads = {name: new_user(name, admin=name == "root") for name in ("root", "ana", "bo", "eve")}
    project = f"p-{uuid.uuid4().hex[:12]}"
    resp = http.post(
        f"{API}/projects/{project}/sweeps", json={"spec": spec()}, headers=heads["root"]
    )
    assert resp.status_code == 201, resp.text
    auth.grant("ana", project, "editor", by="root")
    auth.grant("bo", project, "viewer", by="root")
    sid = resp.json()["id"]
    trial = http.post(f"{API}/sweeps/{sid}/ask", json={}, headers=heads["root"]).json()
    return {"http": http, "heads": heads, "project": project, "sweep": sid, "trial": trial}


def _auth_snapshot(g: dict[str, Any]) -> tuple[Any, ...]:
    http, root, sid = g["http"], g["heads"]["root"], g["sweep"]
    return (
        http.get(f"{API}/sweeps/{sid}", headers=root).json(),
        http.get(f"{API}/sweeps/{sid}/trials", headers=root).json(),
    )


def test_without_a_role_a_sweep_is_invisible_and_untouchable(guarded: dict[str, Any]) -> None:
    http, eve, sid = guarded["http"], guarded["heads"]["eve"], guarded["sweep"]
    before = _auth_snapshot(guarded)
    for method, path, body in routes(sid, guarded["trial"]["run_id"]):
        resp = http.request(method, API + path, json=body, headers=eve)
        # as a sweep that does not exist: neither its existence nor its project shows
        refused(resp, 404, "sweep_not_found", "does not exist")
        assert guarded["project"] not in resp.text
        resp = http.request(method, API + path, json=body)  # no token at all
        refused(resp, 401, "unauthenticated")
    refused(http.get(f"{API}/projects/{guarded['project']}/sweeps", headers=eve), 404, "not_found")
    assert _auth_snapshot(guarded) == before


def test_a_viewer_reads_but_cannot_drive_a_sweep(guarded: dict[str, Any]) -> None:
    http, bo, sid = guarded["http"], guarded["heads"]["bo"], guarded["sweep"]
    before = _auth_snapshot(guarded)
    for method, path, body in routes(sid, guarded["trial"]["run_id"]):
        resp = http.request(method, API + path, json=body, headers=bo)
        if method == "GET":
            assert resp.status_code == 200, resp.text
        else:
            refused(resp, 403, "forbidden", "bo is viewer", "needs editor")
    create = {"spec": spec()}
    resp = http.post(f"{API}/projects/{guarded['project']}/sweeps", json=create, headers=bo)
    refused(resp, 403, "forbidden", "needs editor")
    assert _auth_snapshot(guarded) == before


def test_an_editor_cannot_claim_to_be_someone_else(guarded: dict[str, Any]) -> None:
    http, ana, sid = guarded["http"], guarded["heads"]["ana"], guarded["sweep"]
    trial = http.post(f"{API}/sweeps/{sid}/ask", json={"actor": "root"}, headers=ana).json()
    run = http.get(f"{API}/runs/{trial['run_id']}", headers=ana).json()
    assert run["user"] == "ana"
    body = {"spec": spec(), "actor": "root"}
    made = http.post(f"{API}/projects/{guarded['project']}/sweeps", json=body, headers=ana)
    assert made.status_code == 201 and made.json()["user"] == "ana"


def test_a_hidden_sweep_answers_as_an_unknown_one(guarded: dict[str, Any]) -> None:
    http, eve = guarded["http"], guarded["heads"]["eve"]
    hidden = http.get(f"{API}/sweeps/{guarded['sweep']}", headers=eve)
    unknown = http.get(f"{API}/sweeps/0000abcd0000abcd", headers=eve)
    assert guarded["project"] not in hidden.text
    assert hidden.json()["error"]["code"] == unknown.json()["error"]["code"]


def test_a_hidden_run_answers_as_an_unknown_one(guarded: dict[str, Any]) -> None:
    http, eve = guarded["http"], guarded["heads"]["eve"]
    hidden = http.get(f"{API}/runs/{guarded['trial']['run_id']}", headers=eve)
    unknown = http.get(f"{API}/runs/0000abcd0000abcd", headers=eve)
    assert hidden.status_code == unknown.status_code == 404
    assert guarded["project"] not in hidden.text
    assert hidden.json()["error"]["code"] == unknown.json()["error"]["code"] == "run_not_found"


def test_module_uses_every_route() -> None:
    """The routes attacked here are the ones the router serves (none added unseen)."""
    from runtrack.server.routers.sweeps import router

    served = {(m, r.path) for r in router.routes for m in r.methods}  # type: ignore[attr-defined]
    expected = {
        ("POST", f"{API}/projects/{{project}}/sweeps"),
        ("GET", f"{API}/projects/{{project}}/sweeps"),
    }
    expected |= {
        (m, API + p.replace("SID", "{sweep_id}").replace("RID", "{run_id}"))
        for m, p, _ in routes("SID", "RID")
    }
    assert served == expected
