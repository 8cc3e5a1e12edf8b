"""The result of ``Api.compare``: :class:`Comparison`, its JSON and its text renderings
(a Rich terminal table and Markdown; HTML lives in :mod:`.html`).

JSON (``to_json()``, ``runtrack compare --json``)::

    {"pairs": [{"a", "b", "metric", "a_value", "b_value", "delta", "ci": [lo, hi],
                "p_value", "p_value_adjusted", "test", "verdict", ...more}],
     "metric", "higher_is_better", "alpha", "prediction_set", "task",
     "runs": [{"id", "name", "label", "project", "status", "group"}],
     "metrics": [{"run", "value", "ci", "se", "n", "source", "eval_set"}],
     "eval_sets": [{"eval_set", "n", "runs"}],
     "repeats": {"groups": [...], "pairs": [...]},
     "secondary": {"criteria": [{"name", "goal"}], "values": {run: {name: {"value", "source"}}}},
     "recommendation": {"run", "label", "best", "candidates", "criteria", "sentence"},
     "diffs": {...}, "sentences": [...], "notes": [...]}

The first keys of each pair are the public contract (docs/API.md); the others may grow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._common import (
    Criterion,
    RunInfo,
    fmt_bytes,
    fmt_ci,
    fmt_num,
    fmt_p,
    fmt_value,
    jsonable,
)

if TYPE_CHECKING:
    from .engine import Pair
    from .measures import RunMetric
    from .pairing import EvalData

__all__ = ["Comparison", "diff_rows"]

VERDICT_TEXT = {
    "a_better": "A better",
    "b_better": "B better",
    "indistinguishable": "indistinguishable",
}


@dataclass
class Comparison:
    """Runs compared on one metric: per-run values with intervals, pairwise verdicts,
    repeats, what differs, and a recommendation. ``to_json()``, ``to_markdown()``,
    ``to_html()``, ``write_html(path)``, ``print_table()``."""

    runs: list[RunInfo]
    metric: str
    higher_is_better: bool
    alpha: float
    prediction_set: str | None
    task: str | None
    metrics: list[RunMetric]
    pairs: list[Pair]
    eval_sets: list[dict[str, Any]]
    repeats: dict[str, Any]
    criteria: list[Criterion]
    secondary: dict[str, dict[str, dict[str, Any]]]
    recommendation: dict[str, Any]
    diffs: dict[str, Any]
    sentences: list[str]
    notes: list[str]
    data: list[EvalData] | None = field(default=None, repr=False)
    n_boot: int = 2000
    seed: int = 0

    def __repr__(self) -> str:
        ids = ", ".join(r.id for r in self.runs)
        return f"<Comparison of {ids} on {self.metric}: recommend {self.recommendation['run']}>"

    @property
    def recommended(self) -> str:
        """The id of the recommended run."""
        return str(self.recommendation["run"])

    def pair(self, a: str, b: str) -> Pair:
        """The pair of runs ``a`` and ``b`` (ids, either order)."""
        for p in self.pairs:
            if {p.a, p.b} == {a, b}:
                return p
        raise KeyError(f"no pair of {a} and {b}")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "pairs": [p.to_json() for p in self.pairs],
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "alpha": self.alpha,
            "prediction_set": self.prediction_set,
            "task": self.task,
            "runs": [r.to_json() for r in self.runs],
            "metrics": [m.to_json() for m in self.metrics],
            "eval_sets": self.eval_sets,
            "repeats": self.repeats,
            "secondary": {
                "criteria": [{"name": c.name, "goal": c.goal} for c in self.criteria],
                "values": self.secondary,
            },
            "recommendation": self.recommendation,
            "diffs": self.diffs,
            "sentences": self.sentences,
            "notes": self.notes,
            "n_boot": self.n_boot,
            "seed": self.seed,
        }
        result: dict[str, Any] = jsonable(out)
        return result

    # -- text -----------------------------------------------------------------------------
    def to_markdown(self) -> str:
        return render_markdown(self.to_json())

    def to_html(self) -> str:
        from .html import render_html

        return render_html(self)

    def write_html(self, path: str | Path) -> Path:
        p = Path(path)
        p.write_text(self.to_html(), encoding="utf-8")
        return p

    def print_table(self, console: Any = None) -> None:
        """The comparison as Rich tables on ``console`` (default: stdout)."""
        render_rich(self.to_json(), console)


# -- shared row builders: every renderer shows the same cells -------------------------------
def label_of(doc: Mapping[str, Any]) -> dict[str, str]:
    return {r["id"]: r["label"] for r in doc["runs"]}


def run_rows(doc: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    labels = label_of(doc)
    crit = doc["secondary"]["criteria"]
    level = f"{100 * (1 - doc['alpha']):g}% CI"
    head = ["run", "id", doc["metric"], level, "n"] + [f"{c['name']} ({c['goal']})" for c in crit]
    rows = []
    rec = doc["recommendation"]["run"]
    for m in doc["metrics"]:
        values = doc["secondary"]["values"].get(m["run"], {})
        extra = [
            (fmt_bytes if c["name"] == "model_size" else fmt_num)(
                values.get(c["name"], {}).get("value")
            )
            for c in crit
        ]
        mark = " *" if m["run"] == rec else ""
        rows.append(
            [
                labels[m["run"]] + mark,
                m["run"],
                fmt_num(m["value"]),
                fmt_ci(m["ci"]),
                fmt_num(m["n"]),
                *extra,
            ]
        )
    return head, rows


PAIR_HEAD = [
    "A",
    "B",
    "A value",
    "B value",
    "\u0394 (B-A)",
    "CI",
    "p",
    "p (Holm)",
    "test",
    "verdict",
]
#: the JSON field behind each numeric pair column (the HTML carries exact values)
PAIR_FIELDS = [
    None,
    None,
    "a_value",
    "b_value",
    "delta",
    "ci",
    "p_value",
    "p_value_adjusted",
    None,
    None,
]


def pair_rows(doc: Mapping[str, Any]) -> list[list[str]]:
    labels = label_of(doc)
    rows = []
    for p in doc["pairs"]:
        verdict = p["verdict"]
        if verdict == "a_better":
            verdict = f"{labels[p['a']]} better"
        elif verdict == "b_better":
            verdict = f"{labels[p['b']]} better"
        rows.append(
            [
                labels[p["a"]],
                labels[p["b"]],
                fmt_num(p["a_value"]),
                fmt_num(p["b_value"]),
                fmt_num(p["delta"]),
                fmt_ci(p["ci"]),
                fmt_p(p["p_value"]),
                fmt_p(p["p_value_adjusted"]),
                p["test"],
                verdict,
            ]
        )
    return rows


def repeat_rows(doc: Mapping[str, Any]) -> tuple[list[list[str]], list[list[str]]]:
    labels = label_of(doc)
    groups = [
        [
            g["label"],
            ", ".join(labels[r] for r in g["runs"]),
            str(g["n"]),
            fmt_num(g["mean"]),
            fmt_num(g["std"]),
            fmt_ci(g["ci"]),
        ]
        for g in doc["repeats"]["groups"]
    ]
    tests = [
        [
            p["a"],
            p["b"],
            fmt_num(p["delta"]),
            fmt_ci(p["ci"]),
            fmt_p(p["p_value"]),
            fmt_p(p["p_value_adjusted"]),
            p["verdict"],
        ]
        for p in doc["repeats"]["pairs"]
    ]
    return groups, tests


def _cell(v: Any, kind: str = "") -> str:
    if kind == "bytes":
        return fmt_bytes(v)
    if kind == "seconds":
        return "-" if v is None else f"{fmt_num(float(v), 3)} s"
    return fmt_value(v)


def diff_rows(doc: Mapping[str, Any]) -> list[tuple[str, str, list[str]]]:
    """(section, item, one cell per run) for everything that differs."""
    d = doc["diffs"]
    ids = [r["id"] for r in doc["runs"]]
    rows: list[tuple[str, str, list[str]]] = []

    def from_map(section: str, diff: Mapping[str, Any], prefix: str = "", kind: str = "") -> None:
        for key, per in diff["differing"].items():
            rows.append((section, prefix + key, [_cell(per.get(i), kind) for i in ids]))

    from_map("config", d["config"])
    code = d["code"]
    if not code["same"]:
        for fname, flag in (
            ("commit", "same_commit"),
            ("branch", "same_branch"),
            ("dirty", "same_dirty"),
        ):
            if not code[flag]:
                rows.append(("code", fname, [_cell(code["runs"][i].get(fname)) for i in ids]))
        if not code["same_diff"]:
            rows.append(("code", "uncommitted diff", [_diff_cell(code["runs"][i]) for i in ids]))
    for ds in d["data"]["datasets"]:
        if not ds["same"]:
            cells = ["-" if ds["digests"][i] is None else ds["digests"][i][:12] for i in ids]
            rows.append(("data", f"dataset {ds['name'] or ds['path']}", cells))
    for art in d["data"]["artifacts"]:
        if not art["same"]:
            cells = [
                "-"
                if art["versions"][i] is None
                else f"{art['versions'][i]['version']} ({art['versions'][i]['digest'][:12]})"
                for i in ids
            ]
            rows.append(("data", f"artifact {art['name']}", cells))
    env = d["environment"]
    for fname in ("python", "platform"):
        if len(set(env[fname].values())) > 1:
            rows.append(("environment", fname, [_cell(env[fname][i]) for i in ids]))
    from_map("environment", env["packages"], "package ")
    from_map("environment", env["editable"], "editable ")
    from_map("environment", env["accelerators"])
    from_map("environment", env["env"], "env ")
    from_map("environment", env["determinism"], "determinism ")
    hw_kinds = {"ram_bytes": "bytes"}
    for key, per in d["hardware"]["differing"].items():
        rows.append(("hardware", key, [_cell(per.get(i), hw_kinds.get(key, "")) for i in ids]))
    from_map("seeds", d["seeds"])
    rows.append(("duration", "duration", [_cell(d["duration"]["runs"][i], "seconds") for i in ids]))
    if not d["model_size"]["same"]:
        rows.append(
            ("model", "model size", [_cell(d["model_size"]["runs"][i], "bytes") for i in ids])
        )
    return rows


def _diff_cell(run: Mapping[str, Any]) -> str:
    if not run.get("recorded"):
        return "-"
    if not run.get("diff_bytes"):
        return "none"
    return f"{run['diff_sha256'][:12]} ({run['diff_bytes']:,} bytes)"


def same_sections(doc: Mapping[str, Any]) -> list[str]:
    d = doc["diffs"]
    names = ["config", "code", "data", "environment", "hardware", "seeds", "model_size"]
    return [n.replace("_", " ") for n in names if d[n]["same"]]


# -- Markdown ------------------------------------------------------------------------------
def _md(text: Any) -> str:
    """Table-cell text: HTML-escaped (Markdown renders raw HTML), pipes and newlines out."""
    import html

    s = html.escape(str(text), quote=False)
    return s.replace("|", "\\|").replace("\n", " ").replace("`", "\\`")


def _md_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(_md(h) for h in head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return out


def render_markdown(doc: Mapping[str, Any]) -> str:
    labels = label_of(doc)
    title = f"# Comparison on {doc['metric']}"
    if doc["prediction_set"]:
        title += f" (prediction set {doc['prediction_set']})"
    lines = [_md(title).replace("\\|", "|"), ""]
    lines += [f"**Recommendation:** {_md(doc['recommendation']['sentence'])}", ""]
    head, rows = run_rows(doc)
    lines += ["## Runs", "", *_md_table(head, rows), ""]
    lines += ["## Pairs", "", *_md_table(PAIR_HEAD, pair_rows(doc)), ""]
    lines += ["## Verdicts", ""] + [f"* {_md(s)}" for s in doc["sentences"]] + [""]
    groups, tests = repeat_rows(doc)
    if groups:
        lines += ["## Repeats (over seeds)", ""]
        lines += [*_md_table(["group", "runs", "n", "mean", "std", "CI"], groups), ""]
        if tests:
            lines += _md_table(["A", "B", "\u0394", "CI", "p", "p (Holm)", "verdict"], tests)
            lines += [""]
    lines += ["## What differs", ""]
    drows = diff_rows(doc)
    ids = [r["id"] for r in doc["runs"]]
    lines += _md_table(
        ["section", "item", *(labels[i] for i in ids)], [[s, k, *cells] for s, k, cells in drows]
    )
    same = same_sections(doc)
    if same:
        lines += ["", f"Identical: {', '.join(same)}."]
    return "\n".join(lines) + "\n"


# -- Rich ----------------------------------------------------------------------------------
def render_rich(doc: Mapping[str, Any], console: Any = None) -> None:
    import sys

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    con = console or Console(width=None if sys.stdout.isatty() else 200, highlight=False)
    labels = label_of(doc)

    def table(head: Sequence[str], rows: Sequence[Sequence[str]], title: str) -> Any:
        t = Table(title=title, title_justify="left", header_style="bold", box=None)
        for h in head:
            t.add_column(Text(h), overflow="fold")
        for row in rows:
            t.add_row(*(Text(c) for c in row))
        return t

    where = f" on prediction set {doc['prediction_set']!r}" if doc["prediction_set"] else ""
    direction = "higher" if doc["higher_is_better"] else "lower"
    con.print(
        Text(
            f"{doc['metric']}{where} ({direction} is better), \u03b1={doc['alpha']:g}", style="bold"
        )
    )
    head, rows = run_rows(doc)
    con.print(table(head, rows, "Runs (* recommended)"))
    con.print()
    con.print(table(PAIR_HEAD, pair_rows(doc), "Pairs"))
    groups, tests = repeat_rows(doc)
    if groups:
        con.print()
        con.print(table(["group", "runs", "n", "mean", "std", "CI"], groups, "Repeats over seeds"))
        if tests:
            con.print(table(["A", "B", "\u0394", "CI", "p", "p (Holm)", "verdict"], tests, ""))
    con.print()
    drows = diff_rows(doc)
    ids = [r["id"] for r in doc["runs"]]
    con.print(
        table(
            ["section", "item", *(labels[i] for i in ids)],
            [[s, k, *cells] for s, k, cells in drows],
            "What differs",
        )
    )
    same = same_sections(doc)
    if same:
        con.print(Text(f"identical: {', '.join(same)}", style="dim"))
    con.print()
    for s in doc["sentences"][:-1]:
        con.print(Text("\u2022 " + s))
    con.print(Text(doc["recommendation"]["sentence"], style="bold green"))
