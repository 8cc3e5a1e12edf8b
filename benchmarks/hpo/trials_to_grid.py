#!/usr/bin/env python3
"""Trials runtrack's ``auto`` needs to match the 200-point grid's best, on many seeds.

Each run is stopped as soon as it matches the grid's final median best of the recorded
harness run (``GRID``), so many seeds cost little; the search itself is the adapter's
in-memory emulation of the engine (``runtrack_adapter.py``, ``RUNTRACK_HPO_VIA=optuna``:
the same sampler before every ask, no database), which reproduces the harness's trials.
One thread per process, as in the harness. Usage::

    .venv/bin/python benchmarks/hpo/trials_to_grid.py ml_hgb --seeds 0-19 --cap 150 \\
        --out benchmarks/results/hpo_hgb_auto_20seeds.jsonl

``--full --cap 200`` runs every seed to 200 trials and records its best there too;
``--trace`` records every trial's parameters and value (``history``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2] / "shared" / "bench"))
sys.path.insert(0, str(HERE))

import hpo_anchor  # noqa: E402
import runtrack_adapter  # noqa: E402

#: the grid's final median best in hpo_search_synthetic_final.json / hpo_search_ml10_final.json
GRID = {
    "ml_hgb": 0.08781516841469095,
    "branin": 0.4444699458758343,
    "hartmann6": -2.904080219704734,
    "rosenbrock10": 7074.0,
}


def _seeds(text: str) -> list[int]:
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(s) for s in text.split(",")]


def search(
    objective: str, seed: int, cap: int, *, full: bool = False, trace: bool = False
) -> dict[str, Any]:
    """One seed of auto (the engine's samplers, in memory) on ``objective``: the trial that
    first matched the grid's best (None if none of ``cap`` did), and the best value."""
    obj = hpo_anchor.OBJECTIVES[objective]
    adapter = runtrack_adapter.make(obj["space"], seed=seed, budget=200)
    t0, reached, best = time.time(), None, float("inf")
    history: list[dict[str, Any]] = []
    for i in range(cap):
        params = adapter.suggest(obj["space"])
        value, _ = obj["fn"](params)
        adapter.report(params, value)
        if trace:
            history.append({"params": params, "value": value})
        best = min(best, value)
        if value <= GRID[objective] and reached is None:
            reached = i + 1
            if not full:
                break
    adapter.close()
    row = {
        "objective": objective,
        "seed": seed,
        "trials_to_grid": reached,
        "best": best,
        "trials": i + 1,
        "wall_s": round(time.time() - t0, 1),
    }
    return row | {"history": history} if trace else row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("objective", choices=sorted(GRID))
    ap.add_argument("--seeds", default="0-19")
    ap.add_argument("--cap", type=int, default=150, help="give up after this many trials")
    ap.add_argument(
        "--full",
        action="store_true",
        help="run all --cap trials (not stopping at the grid's value): also the best after them",
    )
    ap.add_argument("--out", default=None, help="a JSON-lines file (appended)")
    ap.add_argument("--trace", action="store_true", help="record every trial's params and value")
    args = ap.parse_args()
    found: list[float] = []
    for seed in _seeds(args.seeds):
        row = search(args.objective, seed, args.cap, full=args.full, trace=args.trace)
        print(json.dumps({k: v for k, v in row.items() if k != "history"}), flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")
        reached = row["trials_to_grid"]
        found.append(reached if reached is not None else float("inf"))
    print(json.dumps({"median_trials_to_grid": statistics.median(found), "n": len(found)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
