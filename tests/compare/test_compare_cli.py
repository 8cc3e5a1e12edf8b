"""``runtrack compare`` as people and scripts use it: a table, --json (the public shape),
--markdown, --html, and one clear line for bad input."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from runtrack.cli import cli

CONTRACT = {
    "a",
    "b",
    "metric",
    "a_value",
    "b_value",
    "delta",
    "ci",
    "p_value",
    "p_value_adjusted",
    "test",
    "verdict",
}


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_table_json_markdown_and_html(three_runs: dict[str, str], tmp_path: Path) -> None:
    a, b, c = three_runs["A"], three_runs["B"], three_runs["C"]
    code, out, err = invoke(
        "compare", a, b, "latest", "--n-boot", "300", "--secondary", "latency_ms:min"
    )
    assert code == 0, err
    for text in (
        "Runs",
        "Pairs",
        "What differs",
        "B is better than A on auc",
        "Recommend B",
        "delong",
        "latency_ms (min)",
    ):
        assert text in out, text

    code, out, _ = invoke("compare", a, b, c, "--metric", "auc", "--json", "--n-boot", "300")
    assert code == 0
    doc = json.loads(out)
    assert [(p["a"], p["b"]) for p in doc["pairs"]] == [(a, b), (a, c), (b, c)]
    assert all(set(p) >= CONTRACT for p in doc["pairs"])
    assert [p["verdict"] for p in doc["pairs"]] == ["b_better", "indistinguishable", "a_better"]
    assert {"runs", "diffs", "metrics", "recommendation", "sentences"} <= set(doc)

    code, out, _ = invoke("compare", a, c, "--markdown", "--n-boot", "300")
    assert code == 0 and out.startswith("# Comparison on auc")
    assert "| A | C |" in out

    report = tmp_path / "r.html"
    code, out, err = invoke("compare", a, b, c, "--html", str(report), "--json", "--n-boot", "300")
    assert code == 0 and json.loads(out)["pairs"]  # stdout stays pure JSON
    assert f"wrote {report}" in err
    assert report.read_text().startswith("<!DOCTYPE html>")


def test_bad_input_is_one_line_and_non_zero(three_runs: dict[str, str]) -> None:
    a, b = three_runs["A"], three_runs["B"]
    for args, message in (
        ((a,), "at least 2 runs"),
        ((a, "zzzzzz"), "no run id starts with 'zzzzzz'"),
        ((a, b, "--metric", "rmse"), "does not apply to binary"),
        ((a, b, "--metric", "nope"), "no summary metric 'nope'"),
        ((a, b, "--set", "val"), "prediction set 'val' is missing"),
        ((a, b, "--alpha", "2"), "alpha"),
    ):
        code, out, err = invoke("compare", *args)
        assert code == 1, args
        assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err
        assert out == ""
    # with --json the error is a JSON object on stdout
    code, out, _ = invoke("compare", a, b, "--metric", "rmse", "--json")
    assert code == 1 and json.loads(out)["error"]["code"] == "invalid"
    code, out, _ = invoke("compare", a, b, "--json", "--markdown")
    assert code == 1 and "one of --json and --markdown" in json.loads(out)["error"]["message"]
