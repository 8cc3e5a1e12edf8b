#!/usr/bin/env python3
"""Search quality of GP asks made while another agent's trial runs, with Optuna's 128 QMC
samples for q-LogEI against the engine's fewer (``runtrack.sweeps._gp.qei_samples``).

Two agents, simulated in one process: every ask after the first is made while the trial
asked before it is still running (its parameters known, its value not), as when two agents
alternate; then that trial is told. A fresh ``EngineGPSampler`` per ask, as the engine
builds them (10 random start-up trials). Prints the median best after each checkpoint
over the seeds, and the median time of an ask. Usage::

    .venv/bin/python benchmarks/hpo/qei_samples.py --objective hartmann6 --seeds 10 \\
        --trials 60 --out benchmarks/results/hpo_qei_samples.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "src"))
sys.path.insert(0, str(HERE))

import optuna  # noqa: E402
from overhead import hartmann6  # noqa: E402

from runtrack.sweeps import _gp  # noqa: E402


def branin(x: list[float]) -> float:
    import math

    a, b = 15 * x[0] - 5, 15 * x[1]
    return (
        (b - 5.1 / (4 * math.pi**2) * a**2 + 5 / math.pi * a - 6) ** 2
        + 10 * (1 - 1 / (8 * math.pi)) * math.cos(a)
        + 10
    )


OBJECTIVES = {"hartmann6": (hartmann6, 6), "branin": (branin, 2)}


def one(objective: str, seed: int, trials: int, samples: str) -> dict[str, Any]:
    fn, dims = OBJECTIVES[objective]
    dists = {f"x{i}": optuna.distributions.FloatDistribution(0, 1) for i in range(dims)}
    study = optuna.create_study()
    asks: list[float] = []
    running = None
    values: list[float] = []
    for n in range(trials):
        sampler = _gp.EngineGPSampler(
            seed=seed * 10_000 + n,
            n_startup_trials=10,
            independent_sampler=optuna.samplers.RandomSampler(seed=seed * 10_000 + n),
        )
        if samples == "optuna":  # the engine sets the count before each ask; keep Optuna's
            _keep_optunas_count(sampler)
        study.sampler = sampler
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trial = study.ask(dists)
        if running is not None:
            asks.append(time.perf_counter() - t0)
            v = fn([running.params[f"x{i}"] for i in range(dims)])
            study.tell(running, v)
            values.append(v)
        running = trial
    return {"seed": seed, "values": values, "ask_ms": 1000 * statistics.median(asks[10:])}


def _keep_optunas_count(sampler: _gp.EngineGPSampler) -> None:
    real = sampler._sample_relative_impl

    def impl(*a: Any) -> Any:
        sampler._n_qmc_samples_qei = 128
        return real(*a)

    sampler._sample_relative_impl = impl  # type: ignore[method-assign]


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--objective", default="hartmann6", choices=sorted(OBJECTIVES))
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--seed0", type=int, default=0, help="the first seed")
    ap.add_argument("--trials", type=int, default=60)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    checkpoints = [c for c in (20, 30, 40, 50, 60, 80, 100) if c < args.trials] + [args.trials - 1]
    out: dict[str, Any] = {
        "objective": args.objective,
        "trials": args.trials,
        "seeds": [args.seed0, args.seed0 + args.seeds - 1],
        "results": {},
    }
    for samples in ("engine", "optuna"):
        runs = [
            one(args.objective, s, args.trials, samples)
            for s in range(args.seed0, args.seed0 + args.seeds)
        ]
        best = {str(c): statistics.median(min(r["values"][:c]) for r in runs) for c in checkpoints}
        out["results"][samples] = {
            "median_best_after": best,
            "median_ask_ms": statistics.median(r["ask_ms"] for r in runs),
            "runs": runs,
        }
        print(
            json.dumps(
                {
                    "samples": samples,
                    "median_best_after": best,
                    "median_ask_ms": out["results"][samples]["median_ask_ms"],
                }
            )
        )
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
