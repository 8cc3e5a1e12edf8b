"""Which Optuna sampler asks the next trial of a sweep (method ``auto`` and the named methods).

The engine builds a fresh sampler before every ask with :func:`make_sampler` and sets it on
the study; runtrack implements no search algorithm itself. Every sampler here is a
deterministic function of the :class:`SamplerContext` (its random state is seeded from the
sweep's seed and the trial number), so agents on different machines asking trials of the
same sweep agree, and whatever state an algorithm keeps lives in the study (CMA-ES pickles its
optimizer into trial system attributes, QMC and grid keep counters there), never in a process.

``AUTO_RULE`` states the rule ``auto`` follows; the figures behind it are in
``benchmarks/hpo/README.md``.
"""

from __future__ import annotations

import importlib.util
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.samplers import (
    BaseSampler,
    CmaEsSampler,
    GridSampler,
    NSGAIISampler,
    QMCSampler,
    RandomSampler,
    TPESampler,
)
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from ._gp import EngineGPSampler

__all__ = [
    "AUTO_RULE",
    "METHODS",
    "SamplerContext",
    "auto_phase",
    "derive_grid",
    "grid_size",
    "make_sampler",
]

METHODS = ("auto", "tpe", "gp", "cmaes", "random", "grid", "qmc")

# --- the auto rule's thresholds (see AUTO_RULE) ---------------------------------------------
#: GP is used for spaces of at most this many parameters (beyond, it explores too broadly to
#: beat CMA-ES at a few hundred trials: Rosenbrock-10 needs 87 trials to match a 200-point grid
#: with GP, 46 with CMA-ES) ...
GP_MAX_DIMS = 8
#: ... until this trial number (its cost per ask grows with the cube of the trials done:
#: 130-1,700 ms at 1,000 trials) ...
GP_MAX_TRIALS = 200
#: ... or, when every parameter is a float and there is a budget, until this share of it (at
#: most REFINE_FROM trials): CMA-ES refines what GP found in the rest, converging on a smooth
#: optimum far closer than GP does. Integer parameters make CMA-ES's steps land on plateaus,
#: so spaces with them keep GP up to GP_MAX_TRIALS.
GP_BUDGET_SHARE = 0.5
REFINE_FROM = 150
#: a budget under this many trials per parameter leaves CMA-ES few generations: it then runs
#: with about half its default population (4 + 3 ln d), so that it makes twice as many.
SMALL_BUDGET_PER_DIM = 100
#: multi-objective: GP (expected hypervolume improvement) for at most this many objectives and
#: trials, then TPE up to MO_TPE_MAX_TRIALS, then NSGA-II (cheap per trial).
MO_GP_MAX_OBJECTIVES = 3
MO_GP_MAX_TRIALS = 100
MO_TPE_MAX_TRIALS = 1000
#: trials placed at random (by GP and TPE) before a model is fitted.
N_STARTUP = 10

AUTO_RULE = (
    "auto picks one of Optuna's samplers before each trial, from the search space, the number "
    "of trials already asked and the budget. "
    f"One objective, 2 to {GP_MAX_DIMS} parameters, none conditional: GPSampler (a Gaussian "
    f"process; its first {N_STARTUP} trials at random) while the model pays for its cost. "
    f"If every parameter is a float, until trial {REFINE_FROM} or {GP_BUDGET_SHARE:.0%} of the "
    "budget, whichever comes first, then CmaEsSampler started at the best trial so far with "
    "a step the size of the spread of the trials around it (it converges on the optimum GP "
    "found, at a few ms per trial). With integer or categorical parameters, GP until trial "
    f"{GP_MAX_TRIALS} (CMA-ES refines little on integer plateaus), then CmaEsSampler the same "
    "way if every parameter is numeric, else TPESampler (CMA-ES cannot search categories). "
    f"More than {GP_MAX_DIMS} parameters: CmaEsSampler from the start when every parameter is "
    "numeric (with about half its usual population when the budget is under "
    f"{SMALL_BUDGET_PER_DIM} trials per parameter), else TPESampler. "
    "A single parameter: GP, then TPESampler. "
    "Conditional parameters, or a sweep with a pruner: TPESampler (multivariate, grouped by "
    "the parameters present) throughout (TPE learns from pruned trials, GP does not). "
    f"Several objectives: GPSampler (up to {MO_GP_MAX_OBJECTIVES} objectives and "
    f"{GP_MAX_DIMS} parameters) for the first {MO_GP_MAX_TRIALS} trials, then TPESampler up "
    f"to {MO_TPE_MAX_TRIALS} trials, then NSGAIISampler. Without PyTorch (which GPSampler "
    "needs) TPESampler takes GP's place. Every sampler is seeded from the sweep's seed and "
    "the trial number, so agents on different machines agree."
)


@dataclass(frozen=True)
class SamplerContext:
    """What :func:`make_sampler` knows about the ask it builds a sampler for."""

    method: str  # "auto" | "tpe" | "gp" | "cmaes" | "random" | "grid" | "qmc"
    # every parameter that may be suggested (conditional ones included), in spec order
    distributions: Mapping[str, BaseDistribution]
    conditional: bool  # True if some parameter exists only for some values of another
    n_objectives: int  # 1, or >1 for a Pareto search
    budget: int | None  # the sweep's trial budget if it has one
    seed: int  # the sweep's seed
    number: int  # the number (0-based) of the trial about to be asked
    # method "grid": the values of each parameter (None: a grid of about `budget` points)
    grid: Mapping[str, Sequence[Any]] | None = None
    pruning: bool = False  # the sweep prunes trials (a pruner, one objective)


def _has_torch() -> bool:
    return importlib.util.find_spec("torch") is not None


def _trial_seed(seed: int, number: int) -> int:
    """A 32-bit seed that depends only on the sweep's seed and the trial number."""
    state = np.random.SeedSequence([abs(int(seed)), int(number), 0x5EED]).generate_state(1)
    return int(state[0])


def _varying(ctx: SamplerContext) -> dict[str, BaseDistribution]:
    return {k: d for k, d in ctx.distributions.items() if not d.single()}


def _numeric_only(dists: Mapping[str, BaseDistribution]) -> bool:
    return all(isinstance(d, (FloatDistribution, IntDistribution)) for d in dists.values())


def _gp_end(ctx: SamplerContext, n_dims: int) -> int:
    """The trial number at which single-objective auto stops using GP."""
    if n_dims > GP_MAX_DIMS:
        return 0
    dists = _varying(ctx)
    if not all(isinstance(d, FloatDistribution) for d in dists.values()) or n_dims < 2:
        return GP_MAX_TRIALS
    end = REFINE_FROM
    if ctx.budget is not None and ctx.budget > 0:
        end = min(end, max(N_STARTUP + 1, math.ceil(GP_BUDGET_SHARE * ctx.budget)))
    return end


def auto_phase(ctx: SamplerContext) -> str:
    """The sampler name ``auto`` uses for this ask ("gp", "cmaes", "tpe", "nsga2", "random")."""
    dists = _varying(ctx)
    n_dims = len(dists)
    torch_ok = _has_torch()
    if n_dims == 0:
        return "random"
    if ctx.n_objectives > 1:
        if (
            torch_ok
            and not ctx.conditional
            and ctx.n_objectives <= MO_GP_MAX_OBJECTIVES
            and n_dims <= GP_MAX_DIMS
            and ctx.number < MO_GP_MAX_TRIALS
        ):
            return "gp"
        return "tpe" if ctx.number < MO_TPE_MAX_TRIALS else "nsga2"
    if ctx.conditional or ctx.pruning:
        # with a pruner: TPE learns from pruned trials' last values; GPSampler fits only
        # complete trials, so under pruning it kept asking for configurations that were
        # pruned at their first step (benchmarks/hpo/PRUNING.md)
        return "tpe"
    if ctx.number < _gp_end(ctx, n_dims):
        return "gp" if torch_ok else "tpe"
    if _numeric_only(dists) and n_dims >= 2:
        return "cmaes_ws"
    return "tpe"


# --- sampler construction ----------------------------------------------------------------------


def _tpe(ctx: SamplerContext, seed: int) -> TPESampler:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # `group` is experimental
        return TPESampler(
            seed=seed,
            n_startup_trials=N_STARTUP,
            multivariate=True,
            group=ctx.conditional,
            warn_independent_sampling=False,
        )


def _gp(ctx: SamplerContext, seed: int) -> EngineGPSampler:
    if not _has_torch():
        raise ValueError(
            "sweep method 'gp' needs PyTorch (Optuna's GPSampler uses it): "
            "pip install torch, or use method 'auto' or 'tpe'"
        )
    return EngineGPSampler(
        seed=seed,
        n_startup_trials=N_STARTUP,
        independent_sampler=RandomSampler(seed=seed),
        warn_independent_sampling=False,
    )


def _popsize(ctx: SamplerContext, n_dims: int) -> int | None:
    if ctx.budget is None or ctx.budget >= SMALL_BUDGET_PER_DIM * n_dims:
        return None
    return (4 + math.floor(3 * math.log(n_dims))) // 2 + 1


def _unit(dist: BaseDistribution, value: Any) -> float:
    """A numeric parameter's value mapped to [0, 1] (in log space for log distributions)."""
    assert isinstance(dist, (FloatDistribution, IntDistribution))
    lo, hi, x = float(dist.low), float(dist.high), float(value)
    if dist.log:
        lo, hi, x = math.log(lo), math.log(hi), math.log(x)
    return 0.0 if hi <= lo else (x - lo) / (hi - lo)


#: CMA-ES continues from the best earlier trial with a step size of the typical distance (in
#: units of each parameter's range) between it and its nearest earlier trials, within these.
REFINE_NEIGHBOURS = 5
REFINE_SIGMA_MIN = 1e-3
REFINE_SIGMA_MAX = 0.1


def _refine_start(
    trials: Sequence[FrozenTrial],
    dists: Mapping[str, BaseDistribution],
    *,
    maximize: bool = False,
) -> tuple[dict[str, Any], float] | None:
    """Where CMA-ES starts after the model-based phase: the best trial and a step size.

    The step size is the median distance from the best trial to its ``REFINE_NEIGHBOURS``
    nearest earlier trials (per dimension, in units of each range): a model-based search
    samples densely around its best region, so this is the scale still worth searching there.
    """
    if not trials:
        return None
    sign = -1.0 if maximize else 1.0
    best = min(trials, key=lambda t: sign * t.value if t.value is not None else math.inf)
    names = list(dists)
    ref = np.array([_unit(dists[k], best.params[k]) for k in names])
    pts = np.array([[_unit(dists[k], t.params[k]) for k in names] for t in trials])
    dist = np.sort(np.linalg.norm(pts - ref, axis=1))[1 : REFINE_NEIGHBOURS + 1]
    scale = float(np.median(dist)) / math.sqrt(len(names)) if len(dist) else REFINE_SIGMA_MAX
    sigma = min(max(scale, REFINE_SIGMA_MIN), REFINE_SIGMA_MAX)
    return {k: best.params[k] for k in names}, sigma


class _CmaEs(BaseSampler):
    """Optuna's CmaEsSampler, built at the first call that can see the study.

    A delegating wrapper, not an algorithm. It adds two things :func:`make_sampler` cannot do
    without the study:

    * a warm start (``start`` > 0): when no CMA-ES generation is stored in the study yet, it
      reads the trials numbered below ``start`` (GP's) and starts Optuna's CmaEsSampler at the
      best of them (``x0``) with the step :func:`_refine_start` derives from the trials around
      it (``sigma0``). Those trials are fixed, so every ask of the first generation starts
      from the same distribution; later generations restore CMA-ES's state from the study
      (Optuna pickles it into trial system attributes), where ``x0`` and ``sigma0`` no longer
      matter. Optuna's own warm start (``source_trials``, WS-CMA-ES) was tried and is not
      used: its prior keeps the first step at >= 0.1 of every range, far too wide to refine
      what GP found (Branin: no progress in 100 trials after the switch).
    * a fixed search space (``fixed_space``, spaces without conditional parameters): the
      numeric parameters of the spec, instead of CmaEsSampler's intersection of every trial's
      parameters, which a sampler built afresh for each ask recomputes over all trials
      (27 ms of the 37 ms an ask took at 1,000 trials).
    """

    def __init__(
        self,
        seed: int,
        dists: Mapping[str, BaseDistribution],
        *,
        start: int = 0,
        popsize: int | None = None,
        fixed_space: bool = True,
    ) -> None:
        self._seed = seed
        self._start = start
        self._popsize = popsize
        self._dists = {
            k: d
            for k, d in dists.items()
            if isinstance(d, (FloatDistribution, IntDistribution)) and not d.single()
        }
        self._fixed_space = fixed_space
        self._with_margin = any(isinstance(d, IntDistribution) for d in self._dists.values())
        self._inner: CmaEsSampler | None = None

    def _has_generation(self, study: Study) -> bool:
        """Whether the study already holds a CMA-ES state (then no warm start is needed)."""
        key = ("cmawm:" if self._with_margin else "cma:") + "optimizer:0"
        trials = study._get_trials(deepcopy=False, use_cache=True)
        return any(key in t.system_attrs for t in reversed(trials) if t.number >= self._start)

    def _sampler(self, study: Study) -> CmaEsSampler:
        if self._inner is None:
            kwargs: dict[str, Any] = {}
            if self._start > 0 and not self._has_generation(study):
                earlier = [
                    t
                    for t in study._get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                    if t.number < self._start and self._dists.keys() <= t.params.keys()
                ]
                maximize = study.directions == [StudyDirection.MAXIMIZE]
                x0_sigma0 = _refine_start(earlier, self._dists, maximize=maximize)
                if x0_sigma0 is not None:
                    kwargs = {"x0": x0_sigma0[0], "sigma0": x0_sigma0[1]}
            common: dict[str, Any] = {
                "seed": self._seed,
                "with_margin": self._with_margin,
                "popsize": self._popsize,
                "independent_sampler": RandomSampler(seed=self._seed),
                "warn_independent_sampling": False,
            }
            with warnings.catch_warnings():
                # x0 and sigma0 are deprecated since Optuna 4.9 (removal planned for 6.0)
                warnings.simplefilter("ignore")
                try:
                    self._inner = CmaEsSampler(**common, **kwargs)
                except TypeError:  # an Optuna without them: CMA-ES from its default start
                    self._inner = CmaEsSampler(**common)
        return self._inner

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        if self._fixed_space:
            return dict(self._dists)
        return self._sampler(study).infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self._sampler(study).sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self._sampler(study).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._sampler(study).before_trial(study, trial)

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self._sampler(study).after_trial(study, trial, state, values)


def _grid_values(dist: BaseDistribution, levels: int) -> list[Any]:
    """``levels`` cell-centred values of a distribution (every choice of a categorical)."""
    if isinstance(dist, CategoricalDistribution):
        return list(dist.choices)
    if isinstance(dist, IntDistribution):
        lo, hi = float(dist.low), float(dist.high)
        if dist.log:
            a, b = math.log(lo - 0.5 if lo > 0.5 else lo), math.log(hi + 0.5)
        else:
            a, b = lo - 0.5, hi + 0.5
        out: list[Any] = []
        for i in range(levels):
            x = a + (i + 0.5) / levels * (b - a)
            v = round(math.exp(x) if dist.log else x)
            v = int(min(max(v, dist.low), dist.high))
            v = dist.low + round((v - dist.low) / dist.step) * dist.step
            if v not in out:
                out.append(int(min(v, dist.high)))
        return out
    assert isinstance(dist, FloatDistribution)
    lo, hi = dist.low, dist.high
    a, b = (math.log(lo), math.log(hi)) if dist.log else (lo, hi)
    vals = [a + (i + 0.5) / levels * (b - a) for i in range(levels)]
    fvals = [math.exp(v) if dist.log else v for v in vals]
    if dist.step is not None:
        # 12 significant digits: 0.15, not 0.15000000000000002, in every trial's config
        fvals = sorted(
            {float(f"{lo + round((v - lo) / dist.step) * dist.step:.12g}") for v in fvals}
        )
    return [float(min(max(v, lo), hi)) for v in fvals]


def _n_levels(dist: BaseDistribution) -> int:
    """How many distinct grid values a distribution can give (a large number if continuous)."""
    if dist.single():
        return 1
    if isinstance(dist, CategoricalDistribution):
        return len(dist.choices)
    if isinstance(dist, IntDistribution):
        return (dist.high - dist.low) // dist.step + 1
    assert isinstance(dist, FloatDistribution)
    if dist.step is not None:
        return round((dist.high - dist.low) / dist.step) + 1
    return 10**9


def derive_grid(dists: Mapping[str, BaseDistribution], budget: int | None) -> dict[str, list[Any]]:
    """A grid of about ``budget`` (default 100) points: near-equal level counts, each the
    smallest product >= budget; categoricals contribute all their choices."""
    target = budget if budget and budget > 0 else 100
    names = list(dists)
    caps = [_n_levels(dists[k]) for k in names]
    levels = [1] * len(names)
    # categoricals and small discrete sets enter with all their values first
    for j, k in enumerate(names):
        if isinstance(dists[k], CategoricalDistribution):
            levels[j] = caps[j]
    while math.prod(levels) < target:
        free = [j for j in range(len(names)) if levels[j] < caps[j]]
        if not free:
            break
        j = min(free, key=lambda i: (levels[i], i))
        levels[j] += 1
    return {k: _distinct_values(dists[k], n) for k, n in zip(names, levels, strict=True)}


def _distinct_values(dist: BaseDistribution, want: int) -> list[Any]:
    """At least ``want`` distinct grid values (fewer only if the distribution has fewer):
    rounding log-spaced integers or stepped floats can merge levels, which finer levels
    make up."""
    n, values = want, _grid_values(dist, want)
    goal = min(want, _n_levels(dist))
    while len(values) < goal and n < 8 * want + 64:
        n += 1
        values = _grid_values(dist, n)
    return values


def _grid(ctx: SamplerContext) -> GridSampler:
    grid = ctx.grid if ctx.grid is not None else derive_grid(ctx.distributions, ctx.budget)
    missing = [k for k in ctx.distributions if k not in grid]
    if missing:
        raise ValueError(f"sweep method 'grid' needs values for every parameter; missing {missing}")
    # the seed must be the sweep's (not the trial's): it fixes the order of the whole grid
    return _NoStopGridSampler({k: list(v) for k, v in grid.items()}, seed=ctx.seed)


class _NoStopGridSampler(GridSampler):
    """GridSampler without its ``study.stop()`` once the grid is exhausted: the engine drives
    the sweep with ask/tell (where ``stop`` raises) and ends it by its own budget."""

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        return None


def grid_size(ctx: SamplerContext) -> int:
    """The number of points of the grid ``method: grid`` visits."""
    grid = ctx.grid if ctx.grid is not None else derive_grid(ctx.distributions, ctx.budget)
    return math.prod(len(v) for v in grid.values())


def _by_name(name: str, ctx: SamplerContext, seed: int) -> BaseSampler:
    dists = _varying(ctx)
    if name == "gp":
        return _gp(ctx, seed)
    if name == "tpe":
        return _tpe(ctx, seed)
    if name == "cmaes":
        if ctx.n_objectives > 1:
            raise ValueError(
                "sweep method 'cmaes' supports one objective only; use 'auto' or 'tpe'"
            )
        return _CmaEs(seed, dists, fixed_space=not ctx.conditional)
    if name == "cmaes_ws":
        start = _gp_end(ctx, len(dists))
        popsize = _popsize(ctx, len(dists)) if start == 0 else None
        return _CmaEs(seed, dists, start=start, popsize=popsize)
    if name == "random":
        return RandomSampler(seed=seed)
    if name == "qmc":
        # one seed for the whole sweep: the scrambled Sobol sequence must be the same in every
        # process (the position in it is a counter kept in the study)
        return QMCSampler(
            qmc_type="sobol",
            scramble=True,
            seed=ctx.seed,
            independent_sampler=RandomSampler(seed=seed),
            warn_independent_sampling=False,
        )
    if name == "nsga2":
        return NSGAIISampler(seed=seed)
    if name == "grid":
        return _grid(ctx)
    raise ValueError(f"unknown sweep method {ctx.method!r}; expected one of {', '.join(METHODS)}")


def make_sampler(ctx: SamplerContext) -> tuple[str, BaseSampler]:
    """The sampler for this ask and a short name for it (recorded on the trial, e.g. "gp",
    "cmaes", "tpe"). Deterministic in ctx."""
    if ctx.method not in METHODS:
        raise ValueError(
            f"unknown sweep method {ctx.method!r}; expected one of {', '.join(METHODS)}"
        )
    seed = _trial_seed(ctx.seed, ctx.number)
    name = auto_phase(ctx) if ctx.method == "auto" else ctx.method
    with warnings.catch_warnings():
        # experimental / deprecated-argument notices of Optuna, repeated at every ask otherwise
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", FutureWarning)
        sampler = _by_name(name, ctx, seed)
    return ("cmaes" if name == "cmaes_ws" else name), sampler
