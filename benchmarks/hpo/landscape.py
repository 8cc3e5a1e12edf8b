#!/usr/bin/env python3
"""How narrow the 200-point grid's target is: one objective at N scrambled Sobol points.

Each point's parameters and value go to a JSON-lines file; the summary says how many points
match the grid's best (``trials_to_grid.GRID``), the best points, and what share of a
region's points match. One thread per process, as in the harness. Usage::

    .venv/bin/python benchmarks/hpo/landscape.py ml_hgb --points 2048 \\
        --out benchmarks/results/hpo_hgb_landscape.jsonl
    .venv/bin/python benchmarks/hpo/landscape.py ml_hgb --summary \\
        benchmarks/results/hpo_hgb_landscape.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2] / "shared" / "bench"))
sys.path.insert(0, str(HERE))

import hpo_anchor  # noqa: E402
from scipy.stats import qmc  # noqa: E402
from trials_to_grid import GRID  # noqa: E402


def sample(objective: str, points: int, seed: int, out: str) -> None:
    obj = hpo_anchor.OBJECTIVES[objective]
    space = obj["space"]
    units = qmc.Sobol(len(space), scramble=True, seed=seed).random(points)
    with open(out, "a") as f:
        for u in units:
            cells = zip(space.items(), u, strict=True)
            p = {k: hpo_anchor.from_unit(s, float(x)) for (k, s), x in cells}
            value, _ = obj["fn"](p)
            f.write(json.dumps({"objective": objective, "params": p, "value": value}) + "\n")


def summary(objective: str, path: str, top: int = 10) -> dict[str, Any]:
    rows = [json.loads(x) for x in Path(path).read_text().splitlines()]
    rows = sorted((r for r in rows if r["objective"] == objective), key=lambda r: r["value"])
    target = GRID[objective]
    out = {
        "objective": objective,
        "points": len(rows),
        "grid_best": target,
        "matching": sum(r["value"] <= target for r in rows),
        "best": [r | {"value": round(r["value"], 6)} for r in rows[:top]],
    }
    print(json.dumps(out, indent=1))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("objective", choices=sorted(GRID))
    ap.add_argument("--points", type=int, default=2048)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=None, help="a JSON-lines file (appended)")
    ap.add_argument("--summary", metavar="JSONL", help="summarise a results file instead")
    args = ap.parse_args()
    if args.summary:
        summary(args.objective, args.summary)
        return 0
    if not args.out:
        ap.error("--out is needed to sample")
    sample(args.objective, args.points, args.seed, args.out)
    summary(args.objective, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
