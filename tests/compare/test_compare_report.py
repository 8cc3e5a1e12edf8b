"""The HTML report of three runs, read back with html.parser: self-contained, its plots
present, its numbers those of the JSON output, recorded text escaped."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _compare_data import eval_set, make_run, scores

import runtrack
from runtrack.compare._common import fmt_ci, fmt_num, fmt_p

EVIL = "<script>alert('x')</script>"


class _Report(HTMLParser):
    """Images, every tag's name, the cells of the pairs and runs tables, all text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.images: list[dict[str, str]] = []
        self.rows: dict[str, list[dict[str, Any]]] = {"pairs": [], "runs": []}
        self.text: list[str] = []
        self._table: str | None = None
        self._cell: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        if tag == "img":
            self.images.append(a)
        elif tag == "table":
            self._table = a.get("class")
        elif tag == "tr" and self._table in self.rows and ("data-a" in a or "data-run" in a):
            self.rows[self._table].append({"attrs": a, "cells": []})
        elif tag == "td" and self._table in self.rows and self.rows[self._table]:
            self._cell = {"attrs": a, "text": ""}

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None and self._table is not None:
            self.rows[self._table][-1]["cells"].append(self._cell)
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell["text"] += data


@pytest.fixture
def report(tmp_path: Path) -> tuple[dict[str, Any], str, _Report]:
    ids, y, shared = eval_set(1200)
    runs = []
    for name, noise, shift in ((EVIL, 1, 0.0), ("B & co", 2, 0.9), ("C", 3, 0.0)):
        runs.append(
            make_run(
                name,
                y=y,
                score=scores(y, shared, noise, shift),
                ids=ids,
                history=6,
                config={"note": f"<b>{name}</b>", "lr": 0.1 if name != "C" else 0.2},
                summary={"latency_ms": 10.0 + noise},
            )
        )
    result = runtrack.Api().compare(runs, "auc", secondary=["latency_ms:min"], n_boot=300)
    path = result.write_html(tmp_path / "report.html")
    text = path.read_text(encoding="utf-8")
    parser = _Report()
    parser.feed(text)
    doc = json.loads(json.dumps(result.to_json()))
    return doc, text, parser


def test_the_report_is_self_contained_with_its_plots(
    report: tuple[dict[str, Any], str, _Report],
) -> None:
    _, text, parsed = report
    # ROC with bands, calibration, metric curves: three PNGs embedded
    assert len(parsed.images) == 3
    alts = " ".join(img["alt"] for img in parsed.images)
    assert "ROC" in alts and "calibration" in alts and "metric curves" in alts
    for img in parsed.images:
        assert img["src"].startswith("data:image/png;base64,")
        png = base64.b64decode(img["src"].split(",", 1)[1])
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    # nothing loaded from elsewhere, no script at all
    assert "script" not in parsed.tags and "link" not in parsed.tags
    assert "http://" not in text and "https://" not in text


def test_the_numbers_are_those_of_the_json(report: tuple[dict[str, Any], str, _Report]) -> None:
    doc, _, parsed = report
    rows = parsed.rows["pairs"]
    assert len(rows) == len(doc["pairs"]) == 3
    for row, p in zip(rows, doc["pairs"], strict=True):
        assert row["attrs"]["data-a"] == p["a"] and row["attrs"]["data-b"] == p["b"]
        assert row["attrs"]["data-verdict"] == p["verdict"]
        numeric = {c["attrs"]["data-field"]: c for c in row["cells"] if "data-field" in c["attrs"]}
        assert set(numeric) == {"a_value", "b_value", "delta", "ci", "p_value", "p_value_adjusted"}
        for field, cell in numeric.items():
            assert json.loads(cell["attrs"]["data-value"]) == p[field]  # exact
            shown = {"ci": fmt_ci, "p_value": fmt_p, "p_value_adjusted": fmt_p}.get(field, fmt_num)
            assert cell["text"] == shown(p[field])  # and what people read
    runs = parsed.rows["runs"]
    for row, m in zip(runs, doc["metrics"], strict=True):
        assert row["attrs"]["data-run"] == m["run"]
        cells = {c["attrs"]["data-field"]: c for c in row["cells"] if "data-field" in c["attrs"]}
        assert json.loads(cells["value"]["attrs"]["data-value"]) == m["value"]
        assert json.loads(cells["ci"]["attrs"]["data-value"]) == m["ci"]
    # the sentences and the recommendation, word for word
    body = "".join(parsed.text)
    for sentence in doc["sentences"]:
        assert sentence in body
    verdicts = [p["verdict"] for p in doc["pairs"]]
    assert verdicts == ["b_better", "indistinguishable", "a_better"]


def test_recorded_text_is_escaped(report: tuple[dict[str, Any], str, _Report]) -> None:
    _, text, parsed = report
    assert EVIL not in text and "<b>" not in text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text
    body = "".join(parsed.text)
    assert EVIL in body and "B &amp; co" not in body and "B & co" in body
    assert f"<b>{EVIL}</b>" in body  # the config value, shown as text in the diffs


def test_markdown_escapes_html_and_pipes() -> None:
    ids, y, shared = eval_set(300)
    a = make_run("a|b <i>", y=y, score=scores(y, shared, 1), ids=ids)
    b = make_run("B", y=y, score=scores(y, shared, 2), ids=ids)
    md = runtrack.Api().compare([a, b], n_boot=200).to_markdown()
    assert "a\\|b &lt;i&gt;" in md and "<i>" not in md
    assert md.startswith("# Comparison on auc (prediction set test)")
    table = [line for line in md.splitlines() if line.startswith("| a\\|b")]
    assert table and all(line.count(" | ") >= 4 for line in table)
    assert np.isfinite(float(table[0].split(" | ")[2]))
