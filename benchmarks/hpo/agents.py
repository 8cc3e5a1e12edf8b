#!/usr/bin/env python3
"""Agents in parallel on one sweep: trials per second with 1 and with 2 agent processes,
and whether any trial was suggested twice.

Each agent is a separate process running ``runtrack.sweep(sweep_id, fn)`` — the full
path: ask (the trial's run created store-side), the run resumed in the agent, ``fn``
(a 50 ms objective on the Hartmann-6 space, logging its value), the run finished, tell.
Throughput is completed trials over the wall time from the first agent's start to the
last one's end; the agents load their libraries (torch for GP) and open the store before
a barrier, so process start-up is not counted, as in the anchor harness. Embedded SQLite store by
default; ``--url`` for a team server. ``--command``: what ``runtrack agent SWEEP`` does
instead, a child process per trial (``trial_child.py``: ``runtrack.init()``, the 50 ms
objective, ``run.log``), so each trial also pays a Python start-up and a store connection.
Usage::

    .venv/bin/python benchmarks/hpo/agents.py --trials 100 --reps 3 \\
        --out benchmarks/results/hpo_agents.json
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")  # one thread per process, as in the anchor harness

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[2] / "src"))
sys.path.insert(0, str(HERE.parent))

from overhead import SPEC, hartmann6  # noqa: E402

METHOD = os.environ.get("RUNTRACK_BENCH_METHOD", "auto")
CHILD = HERE.parent / "trial_child.py"


def _agent(
    env: dict[str, str], sweep_id: str, sleep: float, command: bool, barrier: Any, q: Any
) -> None:
    os.environ.update(env)
    import runtrack

    # process start-up is not trial throughput: load what the trials will use (the
    # engine, Optuna's samplers, torch and scipy for GP: ~3 s) before the clock starts,
    # and start together, as the anchor harness's workers do (a barrier after imports)
    import runtrack.sweeps.engine
    from runtrack.sweeps import _auto  # noqa: F401

    try:
        import optuna._gp.gp
        import optuna._gp.optim_mixed  # noqa: F401
        import scipy.stats  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        pass
    # the store too: opening it imports SQLAlchemy and the store (~0.3 s, once per process;
    # counted, it weighed twice as much on two agents' 50 trials each as on one agent's 100)
    runtrack.Api().sweep(sweep_id)
    barrier.wait(timeout=300)

    def fn(run: Any) -> float:
        time.sleep(sleep)
        v = hartmann6([run.config[f"x{i}"] for i in range(6)])
        run.log({"objective": v})
        return v

    t0, c0 = time.time(), time.process_time()
    if command:
        from runtrack.sweeps.agent import run_command_trials

        run_command_trials(runtrack.Api().store, sweep_id, quiet=True)
    else:
        runtrack.sweep(sweep_id, fn)
    q.put((t0, time.time(), time.process_time() - c0))


def one_case(
    workers: int, trials: int, sleep: float, url: str | None, tmp: Path, command: bool = False
) -> dict[str, Any]:
    env = {
        "RUNTRACK_BENCH_SLEEP": str(sleep),
        "RUNTRACK_DIR": str(tmp / "rt"),
        "RUNTRACK_QUIET": "1",
        "RUNTRACK_SYSTEM_METRICS_INTERVAL": "0",
    }
    if url:
        env["RUNTRACK_URL"] = url
    os.environ.update(env)
    import runtrack

    api = runtrack.Api()
    spec = dict(SPEC, method=METHOD, budget={"trials": trials})
    if command:
        spec["command"] = [sys.executable, str(CHILD)]
    sw = api.create_sweep(spec, project="bench")
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    barrier = ctx.Barrier(workers)
    procs = [
        ctx.Process(target=_agent, args=(env, sw.id, sleep, command, barrier, q))
        for _ in range(workers)
    ]
    for p in procs:
        p.start()
    spans = [q.get(timeout=1800) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    wall = max(e for _, e, _ in spans) - min(s for s, _, _ in spans)
    cpu = sum(c for _, _, c in spans)
    trials_done = api.sweep(sw.id).trials()
    params = [tuple(sorted(t.params.items())) for t in trials_done]
    complete = sum(t.state == "complete" for t in trials_done)
    return {
        "workers": workers,
        "trials": len(trials_done),
        "complete": complete,
        "numbers_contiguous": [t.number for t in trials_done] == list(range(len(trials_done))),
        "duplicate_param_sets": len(params) - len(set(params)),
        "wall_s": round(wall, 2),
        "trials_per_s": round(complete / wall, 3),
        "per_trial_ms_per_agent": round(1000 * wall * workers / max(complete, 1), 1),
        # CPU of the agents (all threads) per trial: what two agents compete for on 2 cores
        "cpu_ms_per_trial": round(1000 * cpu / max(complete, 1), 1),
        "loadavg": round(os.getloadavg()[0], 2),
    }


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--sleep", type=float, default=0.05, help="objective seconds")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--url", default=None, help="a team server (else the embedded store)")
    ap.add_argument("--out", default=None)
    ap.add_argument(
        "--command", action="store_true", help="a child process per trial (runtrack agent)"
    )
    args = ap.parse_args()
    runs: list[dict[str, Any]] = []
    for rep in range(args.reps):
        for workers in (1, 2):
            with tempfile.TemporaryDirectory(prefix="hpo-agents-") as tmp:
                r = one_case(workers, args.trials, args.sleep, args.url, Path(tmp), args.command)
            r["rep"] = rep
            runs.append(r)
            print(json.dumps(r), file=sys.stderr)
    one = [r["trials_per_s"] for r in runs if r["workers"] == 1]
    two = [r["trials_per_s"] for r in runs if r["workers"] == 2]
    ratios = [b / a for a, b in zip(one, two, strict=True)]
    summary = {
        "store": args.url or "embedded SQLite",
        "trial": "a child process (runtrack agent)" if args.command else "a function",
        "objective_s": args.sleep,
        "trials": args.trials,
        "trials_per_s_1_agent_median": statistics.median(one),
        "trials_per_s_2_agents_median": statistics.median(two),
        "speedup_median": round(statistics.median(ratios), 3),
        "speedup_each_rep": [round(x, 3) for x in ratios],
        "duplicates_total": sum(r["duplicate_param_sets"] for r in runs),
        "all_exact": all(r["trials"] == args.trials and r["numbers_contiguous"] for r in runs),
        "ideal_trials_per_s_1_agent": round(1 / args.sleep, 2),
    }
    print(json.dumps(summary, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps({"summary": summary, "runs": runs}, indent=1))
    return 0 if not math.isnan(summary["speedup_median"]) else 1


if __name__ == "__main__":
    sys.exit(main())
