#!/usr/bin/env python3
"""Markdown tables for benchmarks/README.md from the JSON results.

    python benchmarks/report_tables.py --targets benchmarks/results/targets.json \\
        --mlflow benchmarks/results/mlflow_anchor_default.json \\
        --wandb benchmarks/results/wandb_anchor_default.json

Prints (1) runtrack's targets: median, range, target, pass/miss, load average; (2) the
side-by-side table runtrack / MLflow direct SQLite / MLflow server / W&B offline with the
ratio of runtrack to the best incumbent figure (">1x" means runtrack is better).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_targets import fmt  # one number format for every table


def targets_table(path: str) -> str:
    with open(path) as f:
        data = json.load(f)
    out = [
        "| figure | median | range (min-max), n | unit | target | verdict | load (1 min) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in data["results"]:
        tgt = (
            ""
            if r["target"] is None
            else ("<= " if r["better"] == "lower" else ">= ") + fmt(r["target"])
        )
        verdict = "" if "pass" not in r else ("**pass**" if r["pass"] else "**MISS**")
        rng = f"{fmt(r['min'])}-{fmt(r['max'])}, {r['n']}" if r["n"] > 1 else "1 run"
        load = r["loadavg"][0] if r.get("loadavg") else None
        out.append(
            f"| {r['name']} | {fmt(r['median'])} | {rng} | {r['unit']} | {tgt} | "
            f"{verdict} | {fmt(load)} |"
        )
    env = data["env"]
    out.append("")
    out.append(
        f"{env['time']}, {env['cpus']} cores, python {env['python']}, runtrack "
        f"{env['runtrack']} ({env.get('git')}), load average at start "
        f"{env['loadavg_start']}, at end {env.get('loadavg_end')}; "
        f"config {json.dumps(data['config'])}"
    )
    return "\n".join(out)


def rows_by(data: dict) -> dict[tuple[str, str], dict]:
    return {(r["backend"], r["metric"]): r for r in data["results"]}


def find(rows: dict, backend: str, pattern: str) -> dict | None:
    rx = re.compile(pattern)
    for (b, m), r in rows.items():
        if b == backend and rx.search(m):
            return r
    return None


MLFLOW_ROWS = [
    # (label, regex on the harness's metric name)
    ("one log_metric call (sync for MLflow; runtrack: journal)", r"^log_metric sync: per call$"),
    ("p99 of one log_metric call", r"^log_metric sync: p99"),
    ("async log_metric, per call (loop only)", r"^log_metric async: per call"),
    ("async logging incl. flush", r"^log_metric async: points/s incl"),
    ("log_metrics, 1,000 keys per call", r"^log_metrics 1000 keys"),
    ("log_batch, 1,000 steps per call", r"^log_batch 1000 steps"),
    ("create run (20 params, 10 metrics, 5 tags)", r"^create run \(20"),
    ("create run: client CPU per run", r"^create run: client CPU"),
    ("start_run + end_run pair", r"^start_run\+end_run pair"),
    ("search: filtered + sorted top 100", r"^search filtered\+sorted top100"),
    ("search: fetch all runs", r"^search unfiltered, fetch all"),
    ("history write via log_batch", r"^history: write"),
    ("get_metric_history", r"^history: get_metric_history"),
    ("bytes on disk per metric point (store growth)", r"^disk: store bytes per metric"),
    ("artifact upload, one big file", r"^artifact upload 1 x"),
    ("artifact upload, many 1 KB files", r"^artifact upload \d+ x 1 KB"),
    ("cold import (python -c)", r"^cold import"),
    ("cold script: import + connect + run + 1 metric + end", r"^cold script: import"),
    ("setup (new store; server: start until CPU quiet)", r"^setup total"),
]

WANDB_ROWS = [
    ("log call, 2 metrics, mean", r"^10k steps: log call, mean"),
    ("log call, 2 metrics, p99", r"^10k steps: log call, p99"),
    ("log call, 2 metrics, max", r"^10k steps: log call, max"),
    ("finish() after the loop", r"^10k steps: finish"),
    ("points/s incl. finish", r"^10k steps: points/s incl"),
    ("client CPU per call", r"^10k steps: client CPU"),
    ("disk bytes per step (2 metrics, whole store)", r"^10k steps: disk bytes"),
    ("import in a fresh process", r"^cold import"),
    ("init of the first run (fresh process)", r"^init run"),
    ("whole script: import ... finish, 10k steps", r"^10k steps: whole script"),
]


def ratio(rt: dict | None, others: list[dict | None]) -> str:
    others = [o for o in others if o and o.get("median")]
    if not rt or not rt.get("median") or not others:
        return "-"
    higher = rt["better"] == "higher"
    best = max(o["median"] for o in others) if higher else min(o["median"] for o in others)
    r = rt["median"] / best if higher else best / rt["median"]
    return f"{r:,.1f}x" if r >= 1 else f"1/{1 / r:,.1f}x"


def cell(r: dict | None) -> str:
    if not r or r.get("median") is None:
        return "-"
    if r["n"] > 1:
        return f"{fmt(r['median'])} ({fmt(r['min'])}-{fmt(r['max'])})"
    return fmt(r["median"])


def side_by_side(mlflow: str | None, wandb: str | None, rt_name: str = "runtrack") -> str:
    out = []
    if mlflow:
        with open(mlflow) as f:
            data = json.load(f)
        rows = rows_by(data)
        out += [
            f"| figure | unit | {rt_name} | MLflow direct SQLite | MLflow server | "
            f"{rt_name} vs best MLflow |",
            "|---|---|---|---|---|---|",
        ]
        for label, pat in MLFLOW_ROWS:
            rt = find(rows, rt_name, pat)
            ms = find(rows, "mlflow-sqlite", pat)
            sv = find(rows, "mlflow-server", pat)
            if not (rt or ms or sv):
                continue
            name = (rt or ms or sv)["metric"]
            unit = (rt or ms or sv)["unit"]
            out.append(
                f"| {label} <br><sub>{name}</sub> | {unit} | {cell(rt)} | {cell(ms)} | "
                f"{cell(sv)} | {ratio(rt, [ms, sv])} |"
            )
        for n in data.get("notes", []):
            out.append(f"\n{n['backend']}: {n['metric']}: `{json.dumps(n['info'])}`")
        env = data["env"]
        out.append(
            f"\n({mlflow}: {env['time']}, {env['cpus']} cores, load average "
            f"{env['loadavg_start']} at start, {env.get('loadavg_end')} at end; "
            f"preset {data['config'].get('preset')})"
        )
    if wandb:
        with open(wandb) as f:
            data = json.load(f)
        rows = rows_by(data)
        out += [
            "",
            "| figure | unit | runtrack | W&B offline | runtrack vs W&B |",
            "|---|---|---|---|---|",
        ]
        for label, pat in WANDB_ROWS:
            rt = find(rows, "runtrack", pat)
            wb = find(rows, "wandb-offline", pat)
            if not (rt or wb):
                continue
            unit = (rt or wb)["unit"]
            out.append(f"| {label} | {unit} | {cell(rt)} | {cell(wb)} | {ratio(rt, [wb])} |")
        env = data["env"]
        out.append(
            f"\n({wandb}: {env['time']}, {env['cpus']} cores, load average "
            f"{env['loadavg_start']} at start, {env.get('loadavg_end')} at end)"
        )
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--targets")
    ap.add_argument("--mlflow")
    ap.add_argument("--wandb")
    ap.add_argument(
        "--runtrack-backend",
        default="runtrack",
        help="the runtrack column of --mlflow (runtrack-server for --backend-arg server=true)",
    )
    a = ap.parse_args()
    if a.targets:
        print(targets_table(a.targets))
        print()
    print(side_by_side(a.mlflow, a.wandb, a.runtrack_backend))


if __name__ == "__main__":
    main()
