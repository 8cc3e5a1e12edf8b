#!/usr/bin/env python3
"""Is runtrack's best after N trials worse than the best plain Optuna sampler's, or is
the gap between their medians seed noise?

Reads a result file of the anchor harness (``search.py``: ``{"search": {"runs": [...]}}``,
one run per method and seed with every trial's value) and prints, per objective, each
method's best value after ``--at`` trials per seed, the median, and a one-sided
Mann-Whitney U test of "runtrack's best values are larger (worse, minimised) than this
method's". A large p-value means the seeds show no difference; a small one (< 0.05) a
real one. Usage::

    .venv/bin/python benchmarks/hpo/significance.py \\
        benchmarks/results/hpo_search_ml10_final.json --at 200
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from scipy.stats import mannwhitneyu

OURS = "runtrack"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("results", type=Path, help="a search.py result file (JSON)")
    ap.add_argument("--at", type=int, default=200, help="trials (default 200)")
    args = ap.parse_args()
    runs = json.loads(args.results.read_text())["search"]["runs"]
    best: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in runs:
        values = [v for v in r["values"][: args.at] if v is not None]
        if values:
            best[r["objective"]][r["method"]].append(min(values))
    out = {}
    for objective, methods in best.items():
        ours = methods.get(OURS)
        print(f"{objective} (best after {args.at} trials, minimised)")
        rows = {}
        for method, vals in sorted(methods.items(), key=lambda kv: statistics.median(kv[1])):
            row = {"seeds": len(vals), "median": statistics.median(vals)}
            if ours and method != OURS:
                row["p_runtrack_worse"] = float(
                    mannwhitneyu(ours, vals, alternative="greater").pvalue
                )
            rows[method] = row
            p = row.get("p_runtrack_worse")
            print(
                f"  {method:10s} seeds {len(vals):3d}  median {row['median']:.6g}"
                + ("" if p is None else f"  p(runtrack worse) = {p:.3f}")
            )
        out[objective] = rows
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
