"""``runtrack audit RUN``: the table for people, ``--json`` for machines (a public
contract: ``{"score", "checks": [{"name", "passed", "fix"}]}``), recording, CI exit code."""

from __future__ import annotations

import json

from _audit_support import MakeRun
from click.testing import CliRunner

import runtrack
from runtrack.audit import WEIGHTS
from runtrack.cli import cli


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_table_json_and_recording(good_run: MakeRun, bad_run: MakeRun) -> None:
    bad = bad_run()
    good = good_run()

    code, out, _ = invoke("audit", good[:8])
    assert code == 0
    assert "score 100/100" in out and f"recorded on run {good}" in out
    assert out.count("✓") == len(WEIGHTS) and "✗" not in out
    assert "code committed or its diff stored" in out and "25/25" in out

    code, out, _ = invoke("audit", bad, "--json", "--no-record")
    assert code == 0
    doc = json.loads(out)
    assert doc["score"] == 5 and doc["recorded"] is False and doc["run"] == bad
    assert [c["name"] for c in doc["checks"]] == list(WEIGHTS)
    for c in doc["checks"]:
        assert isinstance(c["passed"], bool)
        assert (c["fix"] is None) if c["passed"] else isinstance(c["fix"], str)
    seeds = next(c for c in doc["checks"] if c["name"] == "seeds")
    assert not seeds["passed"] and "seed_everything" in seeds["fix"]
    assert "audit.score" not in runtrack.Api().run(bad).summary

    code, out, _ = invoke("audit", bad)
    assert code == 0
    assert "✗" in out and "score 5/100" in out and "runtrack.seed_everything(SEED)" in out

    code, out, _ = invoke("ls", "audit", "--filter", "audit.score >= 80", "--json")
    assert [r["id"] for r in json.loads(out)] == [good]


def test_fail_under_and_errors(good_run: MakeRun, bad_run: MakeRun) -> None:
    bad = bad_run()
    good = good_run()
    assert invoke("audit", bad, "--fail-under", "80")[0] == 3
    assert invoke("audit", good, "--fail-under", "80", "--json")[0] == 0
    code, _, err = invoke("audit", "nosuchrun0000")
    assert code == 1 and "error:" in err
    code, out, _ = invoke("audit", "nosuchrun0000", "--json")
    assert code == 1 and json.loads(out)["error"]["code"] == "run_not_found"
    assert invoke("audit", good, "--fail-under", "101")[0] == 2  # bad usage


def test_models_gates_show_the_audit_score(good_run: MakeRun) -> None:
    good = good_run(model=b"weights")
    api = runtrack.Api()
    api.register_model("model:v0", "churn", project="audit")
    code, out, _ = invoke(
        "models", "gates", "churn", "--set", '[{"aliases": ["production"], "audit_score": 80}]'
    )
    assert code == 0 and "audit.score >= 80" in out
    code, _, err = invoke("models", "alias", "churn", "production", "1", "--reason", "go")
    assert code == 1 and f"run `runtrack audit {good}`" in err
    invoke("audit", good)
    code, _, _ = invoke("models", "alias", "churn", "production", "1", "--reason", "audited")
    assert code == 0
