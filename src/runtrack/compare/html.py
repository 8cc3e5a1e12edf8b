"""The comparison as one self-contained HTML file: no script, no external asset. Plots
are PNGs embedded as ``data:`` URIs (:mod:`.plots`); styles are inline.

Every piece of recorded text (run names, config values, package names, sentences) goes
through :func:`html.escape`, so a run called ``<script>`` shows as that text. Numeric
cells of the runs and pairs tables carry the exact JSON value in ``data-value`` (and the
JSON field in ``data-field``) beside the rounded text people read.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import plots
from .report import PAIR_FIELDS, PAIR_HEAD, diff_rows, label_of, pair_rows, repeat_rows, run_rows
from .report import same_sections as _same_sections

if TYPE_CHECKING:
    from .report import Comparison

__all__ = ["render_html"]

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1200px; color: #1d232a; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.8em;
     border-bottom: 1px solid #d9dee3; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .6em 0; font-variant-numeric: tabular-nums; }
th, td { padding: .25em .7em; border-bottom: 1px solid #eceff2; text-align: left;
         vertical-align: top; }
th { background: #f5f7f9; }
td.num { text-align: right; white-space: nowrap; }
.rec { background: #eef8f0; border-left: 4px solid #2f9e44; padding: .7em 1em; }
.verdict-a_better, .verdict-b_better { color: #1b6e2e; font-weight: 600; }
.muted { color: #69737d; }
figure { display: inline-block; margin: .5em 1em .5em 0; }
img { max-width: 100%; height: auto; border: 1px solid #eceff2; }
code { font-size: 90%; }
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "") -> str:
    out = [f'<table class="{_e(cls)}"><thead><tr>']
    out += [f"<th>{_e(h)}</th>" for h in head]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _num_td(text: str, field: str, value: Any) -> str:
    exact = json.dumps(value, allow_nan=False)
    return f'<td class="num" data-field="{_e(field)}" data-value="{_e(exact)}">{_e(text)}</td>'


def _runs_table(doc: Mapping[str, Any]) -> str:
    head, rows = run_rows(doc)
    out = ['<table class="runs"><thead><tr>']
    out += [f"<th>{_e(h)}</th>" for h in head]
    out.append("</tr></thead><tbody>")
    for m, row in zip(doc["metrics"], rows, strict=True):
        cells = [f"<td>{_e(row[0])}</td>", f"<td><code>{_e(row[1])}</code></td>"]
        cells.append(_num_td(row[2], "value", m["value"]))
        cells.append(_num_td(row[3], "ci", m["ci"]))
        cells.append(_num_td(row[4], "n", m["n"]))
        cells += [f'<td class="num">{_e(c)}</td>' for c in row[5:]]
        out.append(f'<tr data-run="{_e(m["run"])}">' + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _pairs_table(doc: Mapping[str, Any]) -> str:
    out = ['<table class="pairs"><thead><tr>']
    out += [f"<th>{_e(h)}</th>" for h in PAIR_HEAD]
    out.append("</tr></thead><tbody>")
    for p, row in zip(doc["pairs"], pair_rows(doc), strict=True):
        cells = []
        for k, (text, field) in enumerate(zip(row, PAIR_FIELDS, strict=True)):
            if field is not None:
                cells.append(_num_td(text, field, p[field]))
            elif k == len(row) - 1:
                cells.append(f'<td class="verdict-{_e(p["verdict"])}">{_e(text)}</td>')
            else:
                cells.append(f"<td>{_e(text)}</td>")
        attrs = f'data-a="{_e(p["a"])}" data-b="{_e(p["b"])}" data-verdict="{_e(p["verdict"])}"'
        out.append(f"<tr {attrs}>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<figure><img alt="{_e(alt)}" src="data:image/png;base64,{data}"></figure>'


def _plots(c: Comparison) -> list[str]:
    out: list[str] = []
    if c.data:
        roc = plots.roc_png(c.data, c.alpha, c.seed)
        if roc is not None:
            out.append(_img(roc, "ROC curves with bootstrap confidence bands"))
        cal = plots.calibration_png(c.data)
        if cal is not None:
            out.append(_img(cal, "calibration curves"))
    hist = plots.history_png(c.runs, c.metric)
    if hist is not None:
        png, keys = hist
        out.append(_img(png, "metric curves: " + ", ".join(keys)))
    return out


def render_html(c: Comparison) -> str:
    doc = c.to_json()
    labels = label_of(doc)
    where = f" on prediction set {doc['prediction_set']}" if doc["prediction_set"] else ""
    direction = "higher" if doc["higher_is_better"] else "lower"
    title = f"runtrack comparison: {doc['metric']}{where}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="muted">{_e(direction)} is better; \u03b1={_e(f"{c.alpha:g}")}; '
        f"{_e(len(c.runs))} runs; bootstrap with {_e(c.n_boot)} resamples, seed "
        f"{_e(c.seed)}</p>",
        f'<p class="rec">{_e(doc["recommendation"]["sentence"])}</p>',
        "<h2>Runs</h2>",
        _runs_table(doc),
        "<h2>Pairs</h2>",
        _pairs_table(doc),
        "<h2>Verdicts</h2><ul>",
        *(f"<li>{_e(s)}</li>" for s in doc["sentences"]),
        "</ul>",
    ]
    groups, tests = repeat_rows(doc)
    if groups:
        parts += ["<h2>Repeats over seeds</h2>"]
        parts.append(_table(["group", "runs", "n", "mean", "std", "CI"], groups, "repeats"))
        if tests:
            head = ["A", "B", "\u0394", "CI", "p", "p (Holm)", "verdict"]
            parts.append(_table(head, tests, "repeat-tests"))
    figures = _plots(c)
    if figures:
        parts += ["<h2>Plots</h2>", *figures]
    ids = [r["id"] for r in doc["runs"]]
    parts += ["<h2>What differs</h2>"]
    parts.append(
        _table(
            ["section", "item", *(labels[i] for i in ids)],
            [[s, k, *cells] for s, k, cells in diff_rows(doc)],
            "diffs",
        )
    )
    same = _same_sections(doc)
    if same:
        parts.append(f'<p class="muted">Identical: {_e(", ".join(same))}.</p>')
    parts += ["</body></html>", ""]
    return "\n".join(parts)
