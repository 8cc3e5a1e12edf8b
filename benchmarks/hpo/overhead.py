#!/usr/bin/env python3
"""Per-trial overhead of a sweep as trials pile up: suggest + record the trial as a run.

One trial = ``ask`` (the engine suggests with the default method and creates the trial's
run) + ``tell`` (the value is recorded on the run, the run ends, the trial is told), on
the Hartmann-6 space of ``../shared/bench/hpo_anchor.py`` (the objective itself is not
timed). Measured in the same run:

* runtrack, embedded store (SQLite under a temp dir) — target <= 20 ms at trial 1,000;
* runtrack through a real ``runtrack server`` process (SQLite, and PostgreSQL if
  ``--pg`` is given) — target <= 50 ms at trial 1,000;
* Optuna: TPE in memory, and TPE on Optuna's RDB storage (SQLite), ask + tell.

Per-trial times are medians over a window ending at each checkpoint (the last 10% of
trials before it, at least 20). Usage (from the project root)::

    .venv/bin/python benchmarks/hpo/overhead.py --trials 1000 \
        --out benchmarks/results/hpo_overhead.json
    .venv/bin/python benchmarks/hpo/overhead.py --trials 300 --only runtrack_embedded  # smoke
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[2] / "src"))

_A = [
    [10, 3, 17, 3.5, 1.7, 8],
    [0.05, 10, 17, 0.1, 8, 14],
    [3, 3.5, 1.7, 10, 17, 8],
    [17, 8, 0.05, 10, 0.1, 14],
]
_P = [
    [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
    [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
    [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
    [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
]
_ALPHA = [1.0, 1.2, 3.0, 3.2]


def hartmann6(x: list[float]) -> float:
    return -sum(
        _ALPHA[i] * math.exp(-sum(_A[i][j] * (x[j] - _P[i][j]) ** 2 for j in range(6)))
        for i in range(4)
    )


SPEC = {
    "metric": {"name": "objective", "goal": "minimize"},
    "parameters": {f"x{i}": {"distribution": "uniform", "min": 0.0, "max": 1.0} for i in range(6)},
    "seed": 0,
}


def _loadavg() -> float:
    return round(os.getloadavg()[0], 2)


def windows(per_trial: list[float], checkpoints: list[int]) -> dict[str, float]:
    out = {}
    for n in checkpoints:
        if n <= len(per_trial):
            w = per_trial[max(0, n - max(20, n // 10)) : n]
            out[str(n)] = round(1000 * statistics.median(w), 2)
    return out


def time_loop(ask_tell: Callable[[], None], n: int, label: str) -> list[float]:
    times = []
    t_start = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        ask_tell()
        times.append(time.perf_counter() - t0)
        if (i + 1) % 200 == 0:
            took = time.perf_counter() - t_start
            print(f"  {label}: {i + 1}/{n} ({took:.0f} s)", file=sys.stderr)
    return times


def runtrack_embedded(n: int, workdir: Path) -> list[float]:
    from runtrack.store.sql.store import SqlStore

    store = SqlStore(f"sqlite:///{workdir / 'embedded.db'}", auto_upgrade=True)
    return _runtrack(store, n, "runtrack embedded")


def _runtrack(store: Any, n: int, label: str) -> list[float]:
    sw = store.create_sweep("bench", dict(SPEC, budget={"trials": n}), actor="bench")

    def one() -> None:
        t = store.sweep_ask(sw.id, user="bench", host="bench")
        v = hartmann6([t.params[f"x{i}"] for i in range(6)])
        store.sweep_tell(sw.id, t.run_id, values=[v])

    times = time_loop(one, n, label)
    samplers = [t.sampler for t in store.sweep_trials(sw.id)]
    print(f"  {label}: samplers used {sorted(set(samplers), key=samplers.index)}", file=sys.stderr)
    store.close()
    return times


def fresh_database(url: str) -> None:
    """Drop and create the database ``url`` names, so every run starts from an empty one
    (the command in benchmarks/README.md works on a server that lacks it)."""
    import psycopg

    base, name = url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)
    with psycopg.connect(base + "/postgres", autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}"')


def runtrack_server(n: int, workdir: Path, db: str | None) -> list[float]:
    from runtrack.store.rest import RestStore
    from runtrack.testing.live import LiveServer

    if db:
        fresh_database(db)
    srv = LiveServer(workdir / ("srv-pg" if db else "srv"), db=db).start()
    try:
        return _runtrack(RestStore(srv.url), n, "runtrack server" + (" (pg)" if db else ""))
    finally:
        srv.kill()


def optuna_loop(n: int, storage: Any, label: str) -> list[float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=storage, sampler=optuna.samplers.TPESampler(seed=0))
    dists = {f"x{i}": optuna.distributions.FloatDistribution(0.0, 1.0) for i in range(6)}

    def one() -> None:
        t = study.ask(dists)
        study.tell(t, hartmann6([t.params[f"x{i}"] for i in range(6)]))

    return time_loop(one, n, label)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--checkpoints", default="100,250,500,1000,2000")
    ap.add_argument("--pg", default=None, help="postgresql://... for a server on PostgreSQL")
    ap.add_argument("--sqlite-optuna-max", type=int, default=1000)
    ap.add_argument("--only", default="", help="comma list of configs to run")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    cps = [int(x) for x in args.checkpoints.split(",")]
    n = args.trials
    configs: dict[str, Callable[[Path], list[float]]] = {
        "runtrack_embedded": lambda w: runtrack_embedded(n, w),
        "runtrack_server_sqlite": lambda w: runtrack_server(n, w, None),
        "optuna_tpe_memory": lambda w: optuna_loop(n, None, "optuna tpe memory"),
        "optuna_tpe_sqlite": lambda w: optuna_loop(
            min(n, args.sqlite_optuna_max),
            __import__("optuna").storages.RDBStorage(f"sqlite:///{w / 'optuna.db'}"),
            "optuna tpe sqlite",
        ),
    }
    if args.pg:
        configs["runtrack_server_pg"] = lambda w: runtrack_server(n, w, args.pg)
    only = [c for c in args.only.split(",") if c]
    results: dict[str, Any] = {
        "trials": n,
        "space": "hartmann6 (6 floats), method auto",
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "cpu_count": os.cpu_count(),
        "configs": {},
    }
    with tempfile.TemporaryDirectory(prefix="hpo-overhead-") as tmp:
        for name, fn in configs.items():
            if only and name not in only:
                continue
            work = Path(tmp) / name
            work.mkdir()
            la = _loadavg()
            print(f"[{time.strftime('%H:%M:%S')}] {name}", file=sys.stderr)
            t0 = time.perf_counter()
            per = fn(work)
            results["configs"][name] = {
                "per_trial_ms_at": windows(per, cps),
                "total_s": round(time.perf_counter() - t0, 1),
                "loadavg_before": la,
                "loadavg_after": _loadavg(),
                "per_trial_ms": [round(1000 * x, 3) for x in per],
            }
            print(f"  {name}: {results['configs'][name]['per_trial_ms_at']}", file=sys.stderr)
    rows = ["| config | " + " | ".join(f"@{c}" for c in cps if c <= n) + " |"]
    rows.append("|---" * (1 + sum(c <= n for c in cps)) + "|")
    for name, r in results["configs"].items():
        at = r["per_trial_ms_at"]
        cells = " | ".join(f"{at.get(str(c), '-')} ms" for c in cps if c <= n)
        rows.append(f"| {name} | {cells} |")
    print("\n".join(rows))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
