"""Run the shared HPO anchor's search part with runtrack's sweep engine beside Optuna's samplers.

    .venv/bin/python benchmarks/hpo/search.py                 # the recorded run (~1 h on 2 cores)
    .venv/bin/python benchmarks/hpo/search.py --overhead      # per-trial cost up to 1,000 trials
    .venv/bin/python benchmarks/hpo/search.py --render        # re-print the recorded tables
    .venv/bin/python benchmarks/hpo/search.py -- --seeds 3    # extra arguments for the anchor

A thin wrapper: it only fills in the arguments of ``../shared/bench/hpo_anchor.py`` recorded in
``benchmarks/hpo/README.md`` (run it from the repository root). ``RUNTRACK_HPO_VIA`` selects
how the plug-in reaches the engine (``optuna`` emulation, default, or ``runtrack``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ANCHOR = ROOT.parent / "shared" / "bench" / "hpo_anchor.py"
PLUGIN = "runtrack=benchmarks/hpo/runtrack_adapter.py:make"
RESULTS = Path("benchmarks/results")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--overhead", action="store_true", help="the overhead part instead")
    ap.add_argument("--render", action="store_true", help="re-render the recorded results")
    ap.add_argument("--anchor", default=str(ANCHOR), help="path of hpo_anchor.py")
    ap.add_argument("rest", nargs="*", help="more arguments for the anchor (after --)")
    args = ap.parse_args(argv)
    py = sys.executable
    if args.render:
        cmd = [py, args.anchor, "--render", str(RESULTS / "hpo_search.json")]
    elif args.overhead:
        cmd = [py, args.anchor, "--parts", "overhead", "--overhead-trials", "100,500,1000",
               "--overhead-configs", "tpe@memory", "--optimizer", PLUGIN,
               "--out", str(RESULTS / "hpo_search_overhead.json"),
               "--md", str(RESULTS / "hpo_search_overhead.md")]  # fmt: skip
    else:
        cmd = [py, args.anchor, "--preset", "full", "--parts", "search",
               "--methods", "grid,random,tpe,gp,cmaes", "--optimizer", PLUGIN,
               "--seeds", "10", "--ml-seeds", "5", "--gp-seeds", "5",
               "--out", str(RESULTS / "hpo_search.json"),
               "--md", str(RESULTS / "hpo_search.md")]  # fmt: skip
    cmd += args.rest
    print("+", " ".join(cmd), file=sys.stderr)
    return subprocess.call(cmd, cwd=ROOT, env=dict(os.environ))


if __name__ == "__main__":
    sys.exit(main())
