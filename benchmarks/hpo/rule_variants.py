#!/usr/bin/env python3
"""Variants of ``auto``'s rule on one objective: trials to match the 200-point grid, per seed.

What was tried to bring the HistGradientBoosting task under 50 trials. Each variant patches
``runtrack.sweeps._auto`` (or the GP sampler) in this process only, then runs the same
search as ``trials_to_grid.py`` (the engine's sampler before every ask, in memory). The
variants:

==================  =====================================================================
``base``            the rule as shipped (GP for all 200 trials on this space)
``startupN``        GP's random start-up trials: N instead of 10
``sobolN``          the N start-up trials from a scrambled Sobol sequence (QMCSampler)
``warp-yj``         GP fitted to Yeo-Johnson-transformed values (output warping, as HEBO)
``warp-rank``       GP fitted to the normal scores of the values' ranks
``deterministic``   GPSampler(deterministic_objective=True): no noise term
``alt-tpeK``        from trial K, every other trial by TPE (multivariate)
``tpe-afterK``      TPE from trial K
``cma-afterK``      CMA-ES from the best trial (auto's refinement for float spaces) from K
``prior-dsp``       GP's lengthscale prior: log-normal scaled with the dimension (Hvarfner et
                    al. 2024, BoTorch's default) instead of Optuna's, which holds every
                    lengthscale near 1 and so keeps irrelevant parameters "uncertain"
``prior-long``      Optuna's lengthscale prior without its penalty on long lengthscales
``prior-xN``        Optuna's lengthscale prior N times as strong (lengthscales held nearer 1)
``localN``          GP's acquisition optimised from N local searches instead of Optuna's 10
``clipN``           GP fitted to the values (minimised) clipped at their N-th percentile
                    (the bad tail flattened, so the model resolves the good region)
``trN``             from trial 20, every other GP ask searches a box N% of each parameter's
                    (normalised) range wide around the best trial (a trust region)
``subK``            from trial K, every other GP ask keeps the integer parameters at (one
                    step from) the best trial's and searches the floats over their range
``plugin``          LogEI against the best posterior mean at the observed points instead
                    of the best observed value (plug-in EI for noisy objectives: a lucky
                    value no longer makes its rugged neighbourhood look explored)
``alt-ucbK``        from trial 20, every other GP ask maximises Optuna's UCB with beta
                    K/10 instead of LogEI (more asks where the model expects the best)
==================  =====================================================================

Variants combine with ``+`` (``plugin+prior-x3``).

Usage (appends one JSON line per seed)::

    .venv/bin/python benchmarks/hpo/rule_variants.py ml_hgb --variant startup20 \\
        --seeds 0-19 --out benchmarks/results/hpo_hgb_rule_variants.jsonl
    .venv/bin/python benchmarks/hpo/rule_variants.py \
        --summary benchmarks/results/hpo_hgb_rule_variants.jsonl
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import re
import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "src"))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import scipy.stats  # noqa: E402
from optuna.distributions import IntDistribution  # noqa: E402
from trials_to_grid import GRID, _seeds, search  # noqa: E402

from runtrack.sweeps import _auto, _gp  # noqa: E402


def _has_int(ctx: _auto.SamplerContext) -> bool:
    return any(isinstance(d, IntDistribution) for d in _auto._varying(ctx).values())


def _phase(change: Callable[[_auto.SamplerContext, str], str]) -> None:
    base = _auto.auto_phase
    _auto.auto_phase = lambda ctx: change(ctx, base(ctx))


def _warp(kind: str, q: float = 0.5) -> None:
    impl = _gp.EngineGPSampler._sample_relative_impl

    def warped(self: Any, study: Any, complete: list[Any], running: Any, space: Any) -> Any:
        y = np.array([t.value for t in complete], dtype=float)
        if len(study.directions) == 1 and len(y) >= 3 and y.std() > 0:
            if kind == "yj":
                w = scipy.stats.yeojohnson((y - y.mean()) / y.std())[0]
            elif kind == "clip":
                w = np.minimum(y, np.quantile(y, q))
            else:
                w = scipy.stats.norm.ppf((scipy.stats.rankdata(y) - 0.5) / len(y))
            copies = []
            for t, v in zip(complete, w, strict=True):
                c = copy.copy(t)
                c.values = [float(v)]
                copies.append(c)
            complete = copies
        return impl(self, study, complete, running, space)

    _gp.EngineGPSampler._sample_relative_impl = warped  # type: ignore[method-assign]


def _prior(kind: str, factor: float = 1.0) -> None:
    import torch

    def log_prior(gpr: Any) -> Any:
        isl = gpr.inverse_squared_lengthscales
        if kind == "x":
            ls = -factor * (0.1 / isl + 0.1 * isl).sum()
        elif kind == "dsp":
            mu, sigma = math.sqrt(2) + 0.5 * math.log(len(isl)), math.sqrt(3)
            ls = -(-0.5 * torch.log(isl) - mu).square().sum() / (2 * sigma**2)
        else:
            ls = -(0.1 * isl).sum()
        scale, noise = gpr.kernel_scale, gpr.noise_var
        return ls + (torch.log(scale) - scale) + (0.1 * torch.log(noise) - 30 * noise)

    _set_on_gp("_log_prior", log_prior)


def _box(dist: Any, value: Any, width: float) -> Any:
    """``dist`` narrowed to a box of ``width`` (in units of its normalised range) centred at
    ``value`` and clipped to the range; categorical distributions are left whole."""
    from optuna.distributions import FloatDistribution

    if not isinstance(dist, (FloatDistribution, IntDistribution)):
        return dist
    step = float(dist.step or 0.0) if isinstance(dist, IntDistribution) else 0.0
    lo, hi = float(dist.low) - 0.5 * step, float(dist.high) + 0.5 * step
    fwd: Callable[[float], float] = math.log if dist.log else float
    inv: Callable[[float], float] = math.exp if dist.log else float
    a, b = fwd(lo), fwd(hi)
    u = (fwd(float(value)) - a) / (b - a)
    ulo, uhi = max(0.0, u - width / 2), min(1.0, u + width / 2)
    rlo, rhi = inv(a + ulo * (b - a)), inv(a + uhi * (b - a))
    if isinstance(dist, FloatDistribution):
        return FloatDistribution(max(dist.low, rlo), min(dist.high, rhi), log=dist.log)
    st = int(dist.step)
    ilo = dist.low + st * max(0, round((rlo - dist.low) / st))
    ihi = dist.low + st * min((dist.high - dist.low) // st, round((rhi - dist.low) / st))
    if ihi <= ilo:
        ihi = min(dist.high, ilo + st)
        ilo = max(dist.low, ihi - st)
    return IntDistribution(ilo, ihi, log=dist.log, step=st)


def _trust_region(width: float, start: int, float_width: float | None = None) -> None:
    """From trial ``start``, every other GP ask searches a box around the best trial
    (floats get ``float_width`` if given)."""
    impl = _gp.EngineGPSampler._sample_relative_impl

    def local(self: Any, study: Any, complete: list[Any], running: Any, space: Any) -> Any:
        number = getattr(self, "_rv_number", 0)
        if number >= start and number % 2 and len(study.directions) == 1 and complete:
            best = min(complete, key=lambda t: t.value)
            space = {
                k: _box(
                    d,
                    best.params[k],
                    width if float_width is None or isinstance(d, IntDistribution) else float_width,
                )
                for k, d in space.items()
            }
        return impl(self, study, complete, running, space)

    _gp.EngineGPSampler._sample_relative_impl = local  # type: ignore[method-assign]
    make_gp = _auto._gp

    def gp(ctx: _auto.SamplerContext, seed: int) -> _gp.EngineGPSampler:
        s = make_gp(ctx, seed)
        s._rv_number = ctx.number  # type: ignore[attr-defined]
        return s

    _auto._gp = gp


def _acquisition(kind: str, beta: float = 1.0, start: int = 20) -> None:
    """Swap the GP's LogEI: ``plugin`` keeps LogEI with the best posterior mean at the
    observed points as its threshold; ``ucb`` uses Optuna's UCB on every other ask from
    ``start``."""
    from optuna._gp import acqf

    log_ei = acqf.LogEI
    state = {"number": 0}

    def make(gpr: Any, search_space: Any, threshold: float, **kw: Any) -> Any:
        if kind == "plugin":
            import torch

            with torch.no_grad():
                mean, _ = gpr.posterior(gpr._X_train)
            return log_ei(gpr, search_space, float(mean.max()), **kw)
        if state["number"] >= start and state["number"] % 2:
            return acqf.UCB(gpr, search_space, beta)
        return log_ei(gpr, search_space, threshold, **kw)

    acqf.LogEI = make  # type: ignore[assignment,misc]
    make_gp = _auto._gp

    def gp(ctx: _auto.SamplerContext, seed: int) -> _gp.EngineGPSampler:
        state["number"] = ctx.number
        return make_gp(ctx, seed)

    _auto._gp = gp


def _set_on_gp(attr: str, value: Any) -> None:
    """Every GP sampler the rule builds gets ``attr`` set to ``value``."""
    make_gp = _auto._gp

    def gp(ctx: _auto.SamplerContext, seed: int) -> _gp.EngineGPSampler:
        s = make_gp(ctx, seed)
        setattr(s, attr, value)
        return s

    _auto._gp = gp


def apply(variant: str) -> None:
    """Patch the rule for ``variant`` (see the module docs); ``a+b`` applies both."""
    if "+" in variant:
        for part in variant.split("+"):
            apply(part)
        return
    m = re.fullmatch(r"([a-z-]+?)-?(\d*)", variant)
    if m is None:
        raise SystemExit(f"unknown variant {variant!r}")
    kind, k = m.group(1), int(m.group(2) or 0)
    if kind == "base":
        return
    if kind == "startup":
        _auto.N_STARTUP = k
    elif kind == "sobol":
        _auto.N_STARTUP = k
        _phase(lambda ctx, p: "qmc" if p == "gp" and ctx.number < k else p)
    elif kind == "warp-yj":
        _warp("yj")
    elif kind == "warp-rank":
        _warp("rank")
    elif kind == "deterministic":
        _set_on_gp("_deterministic", True)
    elif kind == "alt-tpe":
        _phase(
            lambda ctx, p: (
                "tpe" if p == "gp" and _has_int(ctx) and ctx.number >= k and ctx.number % 2 else p
            )
        )
    elif kind == "tpe-after":
        _phase(lambda ctx, p: "tpe" if p == "gp" and _has_int(ctx) and ctx.number >= k else p)
    elif kind == "clip":
        _warp("clip", k / 100)
    elif kind == "tr":
        _trust_region(k / 100, 20)
    elif kind == "sub":
        _trust_region(0.0, k, float_width=1.0)
    elif kind == "local":
        _set_on_gp("_n_local_search", k)
    elif kind == "prior-x":
        _prior("x", k)
    elif kind in ("prior-dsp", "prior-long"):
        _prior(kind[6:])
    elif kind == "plugin":
        _acquisition("plugin")
    elif kind == "alt-ucb":
        _acquisition("ucb", beta=k / 10)
    elif kind == "cma-after":
        gp_end = _auto._gp_end

        def end(ctx: _auto.SamplerContext, n: int) -> int:
            e = gp_end(ctx, n)
            return min(e, k) if _has_int(ctx) else e

        _auto._gp_end = end
    else:
        raise SystemExit(f"unknown variant {variant!r}")


def summary(path: str) -> None:
    """Per variant: seeds run, how many matched the grid, and the median trials to match,
    beside ``base`` on the same seeds (runs that never matched count as infinite)."""
    by: dict[str, dict[int, float]] = {}
    for line in Path(path).read_text().splitlines():
        r = json.loads(line)
        got = r["trials_to_grid"]
        by.setdefault(r["variant"], {})[r["seed"]] = float("inf") if got is None else got
    base = by.get("base", {})
    print("| variant | seeds | matched | median trials | base on the same seeds |")
    print("|---|---|---|---|---|")
    for name, runs in by.items():
        seeds = sorted(runs)
        same = [base[s] for s in seeds if s in base]
        ref = f"{statistics.median(same):g}" if len(same) == len(seeds) else "-"
        matched = sum(v != float("inf") for v in runs.values())
        print(
            f"| {name} | {seeds[0]}-{seeds[-1]} ({len(seeds)}) | {matched} "
            f"| {statistics.median(runs.values()):g} | {ref} |"
        )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("objective", nargs="?", choices=sorted(GRID))
    ap.add_argument("--summary", metavar="JSONL", help="print the table of a results file")
    ap.add_argument("--variant", default="base")
    ap.add_argument("--seeds", default="0-19")
    ap.add_argument("--cap", type=int, default=150, help="give up after this many trials")
    ap.add_argument("--out", default=None, help="a JSON-lines file (appended)")
    args = ap.parse_args(argv)
    if args.summary:
        summary(args.summary)
        return 0
    if args.objective is None:
        ap.error("an objective is needed (or --summary)")
    apply(args.variant)
    found: list[float] = []
    for seed in _seeds(args.seeds):
        got = search(args.objective, seed, args.cap)
        row = {
            "objective": args.objective,
            "variant": args.variant,
            "seed": seed,
            "trials_to_grid": got["trials_to_grid"],
            "best": got["best"],
            "cap": args.cap,
            "wall_s": got["wall_s"],
        }
        reached = row["trials_to_grid"]
        print(json.dumps(row), flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")
        found.append(reached if reached is not None else float("inf"))
    print(json.dumps({"variant": args.variant, "median": statistics.median(found)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
