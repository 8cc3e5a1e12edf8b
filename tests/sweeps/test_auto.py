"""Method ``auto``'s rule (``AUTO_RULE``) and the samplers ``make_sampler`` builds: which
sampler each ask gets, at the documented switch points, and what the grid and CMA-ES warm
start derive from the space and the trials."""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import optuna
import pytest
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.samplers import (
    BaseSampler,
    GridSampler,
    NSGAIISampler,
    QMCSampler,
    RandomSampler,
    TPESampler,
)
from optuna.trial import FrozenTrial, create_trial

from runtrack.sweeps import _auto
from runtrack.sweeps._auto import (
    AUTO_RULE,
    GP_BUDGET_SHARE,
    GP_MAX_DIMS,
    GP_MAX_TRIALS,
    METHODS,
    MO_GP_MAX_OBJECTIVES,
    MO_GP_MAX_TRIALS,
    MO_TPE_MAX_TRIALS,
    N_STARTUP,
    REFINE_FROM,
    REFINE_SIGMA_MAX,
    REFINE_SIGMA_MIN,
    SMALL_BUDGET_PER_DIM,
    SamplerContext,
    _CmaEs,
    _refine_start,
    _trial_seed,
    auto_phase,
    derive_grid,
    grid_size,
    make_sampler,
)
from runtrack.sweeps._gp import EngineGPSampler

optuna.logging.set_verbosity(optuna.logging.WARNING)

HAS_TORCH = _auto._has_torch()
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="GPSampler needs PyTorch")

UNIT = FloatDistribution(0.0, 1.0)


def _floats(n: int) -> dict[str, BaseDistribution]:
    return {f"x{i}": FloatDistribution(0.0, 1.0) for i in range(n)}


def _ctx(
    dists: Mapping[str, BaseDistribution],
    *,
    number: int = 0,
    budget: int | None = None,
    method: str = "auto",
    n_objectives: int = 1,
    conditional: bool = False,
    pruning: bool = False,
    seed: int = 7,
    grid: Mapping[str, Sequence[Any]] | None = None,
) -> SamplerContext:
    return SamplerContext(
        method=method,
        distributions=dict(dists),
        conditional=conditional,
        n_objectives=n_objectives,
        budget=budget,
        seed=seed,
        number=number,
        grid=grid,
        pruning=pruning,
    )


@pytest.fixture
def with_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rule as it reads with PyTorch installed (auto_phase builds no sampler)."""
    monkeypatch.setattr(_auto, "_has_torch", lambda: True)


@pytest.fixture
def without_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_auto, "_has_torch", lambda: False)


# --- AUTO_RULE: the text states the thresholds the code uses ----------------------------------


def test_auto_rule_states_the_thresholds_the_code_uses() -> None:
    for phrase in (
        f"2 to {GP_MAX_DIMS} parameters",
        f"its first {N_STARTUP} trials at random",
        f"until trial {REFINE_FROM} or {GP_BUDGET_SHARE:.0%} of the budget",
        f"GP until trial {GP_MAX_TRIALS}",
        f"More than {GP_MAX_DIMS} parameters",
        f"under {SMALL_BUDGET_PER_DIM} trials per parameter",
        f"up to {MO_GP_MAX_OBJECTIVES} objectives and {GP_MAX_DIMS} parameters",
        f"first {MO_GP_MAX_TRIALS} trials",
        f"up to {MO_TPE_MAX_TRIALS} trials, then NSGAIISampler",
    ):
        assert phrase in AUTO_RULE, phrase


def test_auto_rule_states_the_documented_figures() -> None:
    """The figures the phase tests below use literally, so neither text nor code drifts."""
    for phrase in (
        "2 to 8 parameters",
        "its first 10 trials at random",
        "until trial 150 or 50% of the budget",
        "GP until trial 200",
        "More than 8 parameters",
        "under 100 trials per parameter",
        "up to 3 objectives and 8 parameters",
        "first 100 trials",
        "up to 1000 trials",
    ):
        assert phrase in AUTO_RULE, phrase


def test_the_docs_quote_auto_rule_verbatim() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "sweeps.md").read_text()
    assert f"\n> {AUTO_RULE}\n" in docs


# --- auto_phase: one objective, 2-8 float parameters ------------------------------------------


@pytest.mark.usefixtures("with_torch")
@pytest.mark.parametrize("n_params", [2, 5, 8])
@pytest.mark.parametrize(
    ("budget", "switch"),
    [
        (None, 150),
        (10_000, 150),
        (1000, 150),
        (301, 150),
        (300, 150),
        (299, 150),
        (200, 100),
        (101, 51),
        (100, 50),
        (40, 20),
        (24, 12),
    ],
)
def test_float_spaces_use_gp_until_trial_150_or_half_the_budget_then_cmaes(
    n_params: int, budget: int | None, switch: int
) -> None:
    dists = _floats(n_params)
    for number in (0, N_STARTUP - 1, N_STARTUP, switch - 1):
        assert auto_phase(_ctx(dists, number=number, budget=budget)) == "gp", number
    for number in (switch, switch + 1, 199, 200, 5000):
        assert auto_phase(_ctx(dists, number=number, budget=budget)) == "cmaes_ws", number


@pytest.mark.usefixtures("with_torch")
@pytest.mark.parametrize("budget", [1, 5, 10, 12, 20, 21, 22])
def test_a_small_budget_never_ends_gp_before_its_startup_trials(budget: int) -> None:
    dists = _floats(3)
    for number in range(N_STARTUP + 1):
        assert auto_phase(_ctx(dists, number=number, budget=budget)) == "gp", number
    assert auto_phase(_ctx(dists, number=max(N_STARTUP + 1, budget), budget=budget)) == ("cmaes_ws")


@pytest.mark.usefixtures("with_torch")
def test_float_parameters_with_a_step_or_log_scale_count_as_floats() -> None:
    dists = {
        "lr": FloatDistribution(1e-5, 1e-1, log=True),
        "dropout": FloatDistribution(0.0, 0.5, step=0.05),
    }
    assert auto_phase(_ctx(dists, number=149)) == "gp"
    assert auto_phase(_ctx(dists, number=150)) == "cmaes_ws"


@pytest.mark.usefixtures("with_torch")
def test_fixed_parameters_do_not_count() -> None:
    dists = {
        **_floats(8),
        "one_choice": CategoricalDistribution(["adam"]),
        "fixed_int": IntDistribution(3, 3),
        "fixed_float": FloatDistribution(0.5, 0.5),
    }
    assert auto_phase(_ctx(dists, number=0)) == "gp"
    assert auto_phase(_ctx(dists, number=149)) == "gp"
    assert auto_phase(_ctx(dists, number=150)) == "cmaes_ws"


# --- auto_phase: integer or categorical parameters ---------------------------------------------


@pytest.mark.usefixtures("with_torch")
@pytest.mark.parametrize("budget", [None, 20, 100, 300, 10_000])
def test_integer_spaces_use_gp_until_trial_200_then_cmaes(budget: int | None) -> None:
    dists = {"x": UNIT, "n": IntDistribution(1, 10)}
    for number in (0, 50, 149, 150, 199):
        assert auto_phase(_ctx(dists, number=number, budget=budget)) == "gp", number
    for number in (200, 201, 5000):
        assert auto_phase(_ctx(dists, number=number, budget=budget)) == "cmaes_ws", number


@pytest.mark.usefixtures("with_torch")
def test_all_integer_spaces_use_gp_until_trial_200_then_cmaes() -> None:
    dists = {"a": IntDistribution(1, 10), "b": IntDistribution(1, 1024, log=True)}
    assert auto_phase(_ctx(dists, number=199, budget=100)) == "gp"
    assert auto_phase(_ctx(dists, number=200, budget=100)) == "cmaes_ws"


@pytest.mark.usefixtures("with_torch")
@pytest.mark.parametrize("budget", [None, 20, 100, 10_000])
def test_categorical_spaces_use_gp_until_trial_200_then_tpe(budget: int | None) -> None:
    dists = {"x": UNIT, "n": IntDistribution(1, 4), "opt": CategoricalDistribution(["a", "b"])}
    for number in (0, 149, 150, 199):
        assert auto_phase(_ctx(dists, number=number, budget=budget)) == "gp", number
    for number in (200, 201, 5000):
        assert auto_phase(_ctx(dists, number=number, budget=budget)) == "tpe", number


# --- auto_phase: more than 8 parameters, a single parameter ------------------------------------


@pytest.mark.usefixtures("with_torch")
@pytest.mark.parametrize("budget", [None, 50, 10_000])
def test_more_than_8_numeric_parameters_use_cmaes_from_the_start(budget: int | None) -> None:
    spaces = [_floats(9), {**_floats(8), "n": IntDistribution(1, 5)}, _floats(30)]
    for dists in spaces:
        for number in (0, 1, 150, 200, 5000):
            assert auto_phase(_ctx(dists, number=number, budget=budget)) == "cmaes_ws"


@pytest.mark.usefixtures("with_torch")
@pytest.mark.parametrize("budget", [None, 50, 10_000])
def test_more_than_8_parameters_with_a_categorical_use_tpe_throughout(
    budget: int | None,
) -> None:
    dists = {**_floats(8), "opt": CategoricalDistribution(["a", "b"])}
    for number in (0, 149, 150, 199, 200, 5000):
        assert auto_phase(_ctx(dists, number=number, budget=budget)) == "tpe", number


@pytest.mark.usefixtures("with_torch")
@pytest.mark.parametrize(
    "dist",
    [
        UNIT,
        FloatDistribution(1e-4, 1.0, log=True),
        IntDistribution(1, 50),
        CategoricalDistribution(["a", "b", "c"]),
    ],
)
@pytest.mark.parametrize("budget", [None, 1000])
def test_a_single_parameter_uses_gp_then_tpe(dist: BaseDistribution, budget: int | None) -> None:
    dists = {"p": dist, "fixed": FloatDistribution(2.0, 2.0)}
    for number in (0, 149, 150, 199):
        assert auto_phase(_ctx(dists, number=number, budget=budget)) == "gp", number
    for number in (200, 5000):
        assert auto_phase(_ctx(dists, number=number, budget=budget)) == "tpe", number


# --- auto_phase: conditional spaces, pruning, several objectives, nothing to vary --------------


@pytest.mark.usefixtures("with_torch")
@pytest.mark.parametrize(
    "dists",
    [
        _floats(1),
        _floats(3),
        {"x": UNIT, "n": IntDistribution(1, 4)},
        {"x": UNIT, "opt": CategoricalDistribution(["a", "b"])},
        _floats(12),
    ],
)
@pytest.mark.parametrize(("conditional", "pruning"), [(True, False), (False, True), (True, True)])
@pytest.mark.parametrize("budget", [None, 40, 10_000])
def test_conditional_spaces_and_pruning_use_tpe_throughout(
    dists: dict[str, BaseDistribution], conditional: bool, pruning: bool, budget: int | None
) -> None:
    for number in (0, 9, 10, 19, 20, 149, 150, 199, 200, 5000):
        ctx = _ctx(dists, number=number, budget=budget, conditional=conditional, pruning=pruning)
        assert auto_phase(ctx) == "tpe", number


@pytest.mark.usefixtures("with_torch")
@pytest.mark.parametrize("n_objectives", [2, 3])
@pytest.mark.parametrize(
    "dists",
    [_floats(1), _floats(2), _floats(8), {"x": UNIT, "opt": CategoricalDistribution(["a", "b"])}],
)
@pytest.mark.parametrize("budget", [None, 50, 10_000])
def test_several_objectives_use_gp_for_100_trials_then_tpe_until_1000_then_nsga2(
    n_objectives: int, dists: dict[str, BaseDistribution], budget: int | None
) -> None:
    def phase(number: int) -> str:
        return auto_phase(_ctx(dists, number=number, budget=budget, n_objectives=n_objectives))

    assert [phase(n) for n in (0, 10, 99)] == ["gp"] * 3
    assert [phase(n) for n in (100, 150, 200, 999)] == ["tpe"] * 4
    assert [phase(n) for n in (1000, 1001, 5000)] == ["nsga2"] * 3


@pytest.mark.usefixtures("with_torch")
@pytest.mark.parametrize(
    ("dists", "n_objectives", "conditional"),
    [
        (_floats(2), 4, False),  # more than 3 objectives
        (_floats(9), 2, False),  # more than 8 parameters
        (_floats(2), 2, True),  # conditional parameters
    ],
)
def test_several_objectives_beyond_gps_limits_use_tpe_then_nsga2(
    dists: dict[str, BaseDistribution], n_objectives: int, conditional: bool
) -> None:
    def phase(number: int) -> str:
        return auto_phase(
            _ctx(dists, number=number, n_objectives=n_objectives, conditional=conditional)
        )

    assert [phase(n) for n in (0, 99, 100, 999)] == ["tpe"] * 4
    assert [phase(n) for n in (1000, 5000)] == ["nsga2"] * 2


@pytest.mark.usefixtures("with_torch")
@pytest.mark.parametrize(
    "dists",
    [
        {},
        {"opt": CategoricalDistribution(["adam"]), "lr": FloatDistribution(0.1, 0.1)},
        {"n": IntDistribution(4, 4)},
    ],
)
@pytest.mark.parametrize("n_objectives", [1, 2])
def test_a_space_with_nothing_to_vary_is_random(
    dists: dict[str, BaseDistribution], n_objectives: int
) -> None:
    for number in (0, 200, 5000):
        ctx = _ctx(dists, number=number, n_objectives=n_objectives, budget=10)
        assert auto_phase(ctx) == "random"


@pytest.mark.usefixtures("without_torch")
def test_without_torch_tpe_takes_gps_place() -> None:
    floats = _floats(3)
    assert [auto_phase(_ctx(floats, number=n)) for n in (0, 149)] == ["tpe", "tpe"]
    assert auto_phase(_ctx(floats, number=150)) == "cmaes_ws"
    assert auto_phase(_ctx(floats, number=49, budget=100)) == "tpe"
    assert auto_phase(_ctx(floats, number=50, budget=100)) == "cmaes_ws"

    ints = {"x": UNIT, "n": IntDistribution(1, 10)}
    assert auto_phase(_ctx(ints, number=199)) == "tpe"
    assert auto_phase(_ctx(ints, number=200)) == "cmaes_ws"

    single = _floats(1)
    assert [auto_phase(_ctx(single, number=n)) for n in (0, 199, 200)] == ["tpe"] * 3

    assert auto_phase(_ctx(_floats(9), number=0)) == "cmaes_ws"

    def mo(number: int) -> str:
        return auto_phase(_ctx(floats, number=number, n_objectives=2))

    assert [mo(n) for n in (0, 99, 100, 999)] == ["tpe"] * 4
    assert mo(1000) == "nsga2"


@pytest.mark.usefixtures("without_torch")
def test_without_torch_auto_builds_tpe_and_method_gp_is_refused() -> None:
    name, sampler = make_sampler(_ctx(_floats(3)))
    assert name == "tpe"
    assert isinstance(sampler, TPESampler)
    with pytest.raises(ValueError, match="PyTorch"):
        make_sampler(_ctx(_floats(3), method="gp"))


# --- make_sampler: names, classes, errors -------------------------------------------------------


@needs_torch
@pytest.mark.parametrize(
    ("method", "name", "cls"),
    [
        ("tpe", "tpe", TPESampler),
        ("gp", "gp", EngineGPSampler),
        ("cmaes", "cmaes", _CmaEs),
        ("random", "random", RandomSampler),
        ("grid", "grid", GridSampler),
        ("qmc", "qmc", QMCSampler),
        ("auto", "gp", EngineGPSampler),
    ],
)
def test_each_method_builds_its_sampler(method: str, name: str, cls: type[BaseSampler]) -> None:
    got_name, sampler = make_sampler(_ctx(_floats(3), method=method, budget=30, number=5))
    assert got_name == name
    assert isinstance(sampler, cls)


@needs_torch
@pytest.mark.parametrize(
    ("ctx", "name", "cls"),
    [
        (_ctx(_floats(3), number=150), "cmaes", _CmaEs),
        (_ctx(_floats(3), number=50, budget=100), "cmaes", _CmaEs),
        (_ctx(_floats(9), number=0), "cmaes", _CmaEs),
        (
            _ctx({"x": UNIT, "opt": CategoricalDistribution(["a", "b"])}, number=200),
            "tpe",
            TPESampler,
        ),
        (_ctx(_floats(3), number=0, conditional=True), "tpe", TPESampler),
        (_ctx(_floats(3), number=0, n_objectives=2), "gp", EngineGPSampler),
        (_ctx(_floats(3), number=100, n_objectives=2), "tpe", TPESampler),
        (_ctx(_floats(3), number=1000, n_objectives=2), "nsga2", NSGAIISampler),
        (_ctx({}, number=0), "random", RandomSampler),
    ],
)
def test_auto_names_the_sampler_of_its_phase(
    ctx: SamplerContext, name: str, cls: type[BaseSampler]
) -> None:
    got_name, sampler = make_sampler(ctx)
    assert got_name == name
    assert isinstance(sampler, cls)


@pytest.mark.parametrize("method", ["bayes", "cmaes_ws", "nsga2", "", "AUTO"])
def test_an_unknown_method_is_refused_naming_the_allowed_ones(method: str) -> None:
    with pytest.raises(ValueError, match="unknown sweep method") as info:
        make_sampler(_ctx(_floats(2), method=method))
    message = str(info.value)
    assert repr(method) in message
    for allowed in METHODS:
        assert allowed in message
    assert set(METHODS) == {"auto", "tpe", "gp", "cmaes", "random", "grid", "qmc"}


def test_cmaes_with_several_objectives_is_refused() -> None:
    with pytest.raises(ValueError, match="'cmaes' supports one objective only"):
        make_sampler(_ctx(_floats(2), method="cmaes", n_objectives=2))


@needs_torch
def test_auto_continues_cmaes_from_the_trials_before_the_switch() -> None:
    _, sampler = make_sampler(_ctx(_floats(3), number=150))
    assert isinstance(sampler, _CmaEs) and sampler._start == 150
    _, sampler = make_sampler(_ctx(_floats(3), number=60, budget=100))
    assert isinstance(sampler, _CmaEs) and sampler._start == 50
    _, sampler = make_sampler(_ctx({"x": UNIT, "n": IntDistribution(1, 9)}, number=200))
    assert isinstance(sampler, _CmaEs) and sampler._start == 200
    _, sampler = make_sampler(_ctx(_floats(9), number=0))
    assert isinstance(sampler, _CmaEs) and sampler._start == 0


def _default_popsize(n_dims: int) -> int:
    return 4 + math.floor(3 * math.log(n_dims))


@pytest.mark.parametrize("n_dims", [9, 10, 20])
def test_cmaes_population_is_smaller_only_when_the_budget_is_under_100_per_parameter(
    n_dims: int,
) -> None:
    dists = _floats(n_dims)
    for budget in (None, 100 * n_dims, 100 * n_dims + 1):
        _, sampler = make_sampler(_ctx(dists, budget=budget))
        assert isinstance(sampler, _CmaEs) and sampler._popsize is None
    _, sampler = make_sampler(_ctx(dists, budget=100 * n_dims - 1))
    assert isinstance(sampler, _CmaEs)
    assert sampler._popsize is not None and sampler._popsize < _default_popsize(n_dims)


@pytest.mark.parametrize("n_dims", [9, 10, 20])
def test_cmaes_population_is_about_half_the_default_when_the_budget_is_small(n_dims: int) -> None:
    _, sampler = make_sampler(_ctx(_floats(n_dims), budget=50))
    assert isinstance(sampler, _CmaEs)
    assert sampler._popsize == _default_popsize(n_dims) // 2 + 1
    assert "about half its usual population" in AUTO_RULE


# --- make_sampler: deterministic in the context --------------------------------------------


def test_trial_seed_depends_on_the_sweep_seed_and_the_trial_number_only() -> None:
    assert _trial_seed(7, 3) == _trial_seed(7, 3)
    seeds = {_trial_seed(7, n) for n in range(500)}
    assert len(seeds) == 500
    assert _trial_seed(7, 3) != _trial_seed(8, 3)
    assert all(0 <= s < 2**32 for s in seeds)
    assert _trial_seed(2**63 - 1, 10**6) == _trial_seed(2**63 - 1, 10**6)


def _first_suggestion(
    sampler: BaseSampler, dists: Mapping[str, BaseDistribution]
) -> dict[str, Any]:
    study = optuna.create_study(sampler=sampler)
    return study.ask(fixed_distributions=dict(dists)).params


@pytest.mark.parametrize(
    "method", ["random", "tpe", "cmaes", pytest.param("gp", marks=needs_torch), "auto"]
)
def test_the_sampler_is_a_function_of_the_context(method: str) -> None:
    dists = {"x": UNIT, "lr": FloatDistribution(1e-5, 1e-1, log=True), "n": IntDistribution(1, 9)}

    def suggest(number: int, seed: int = 7) -> dict[str, Any]:
        _, sampler = make_sampler(_ctx(dists, method=method, number=number, seed=seed))
        return _first_suggestion(sampler, dists)

    assert suggest(3) == suggest(3)
    assert suggest(3) != suggest(4)
    assert suggest(3) != suggest(3, seed=8)


def test_qmc_and_grid_keep_the_sweeps_seed_at_every_trial() -> None:
    """Their sequence (Sobol points, grid order) must be the same in every process."""
    dists = _floats(2)
    grids = [make_sampler(_ctx(dists, method="grid", number=n, budget=9))[1] for n in (0, 5)]
    order = [_first_suggestion(g, dists) for g in grids]
    assert order[0] == order[1]
    qmcs = [make_sampler(_ctx(dists, method="qmc", number=n))[1] for n in (0, 5)]
    assert [q._seed for q in qmcs] == [7, 7]  # type: ignore[attr-defined]


# --- derive_grid / grid_size ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("budget", "levels"),
    [(None, [10, 10]), (100, [10, 10]), (50, [8, 7]), (9, [3, 3]), (10, [4, 3])],
)
def test_a_grid_of_two_floats_has_about_budget_points(
    budget: int | None, levels: list[int]
) -> None:
    dists = _floats(2)
    grid = derive_grid(dists, budget)
    assert [len(v) for v in grid.values()] == levels
    assert grid_size(_ctx(dists, method="grid", budget=budget)) == math.prod(levels)
    # cell-centred, evenly spaced, inside the bounds
    for values in grid.values():
        steps = np.diff(values)
        assert np.allclose(steps, 1.0 / len(values))
        assert 0.0 < values[0] < values[-1] < 1.0


@pytest.mark.parametrize("budget", [1, 2, 30, 100])
def test_a_grid_has_every_choice_of_a_categorical(budget: int) -> None:
    dists = {"opt": CategoricalDistribution(["adam", "sgd", "rmsprop"]), "x": UNIT}
    grid = derive_grid(dists, budget)
    assert grid["opt"] == ["adam", "sgd", "rmsprop"]
    assert grid_size(_ctx(dists, method="grid", budget=budget)) >= budget


@pytest.mark.parametrize(
    "dist",
    [
        IntDistribution(1, 5),
        IntDistribution(0, 10, step=2),
        IntDistribution(1, 1000, log=True),
        IntDistribution(1, 30, log=True),
        IntDistribution(-3, 3),
    ],
)
@pytest.mark.parametrize("budget", [3, 10, 50, 100, 2000])
def test_integer_grid_values_are_distinct_and_in_the_distribution(
    dist: IntDistribution, budget: int
) -> None:
    values = derive_grid({"n": dist, "x": UNIT}, budget)["n"]
    assert len(values) == len(set(values))
    assert values == sorted(values)
    for v in values:
        assert isinstance(v, int)
        assert dist._contains(v)


def test_a_small_integer_range_enters_whole_and_the_rest_goes_to_the_floats() -> None:
    grid = derive_grid({"n": IntDistribution(1, 5), "x": UNIT}, 100)
    assert grid["n"] == [1, 2, 3, 4, 5]
    assert len(grid["x"]) == 20
    assert derive_grid({"n": IntDistribution(0, 10, step=2)}, 100)["n"] == [0, 2, 4, 6, 8, 10]


def test_a_grid_is_log_spaced_for_log_parameters() -> None:
    dist = FloatDistribution(1e-5, 1e-1, log=True)
    values = derive_grid({"lr": dist}, 4)["lr"]
    assert len(values) == 4
    ratios = [b / a for a, b in itertools.pairwise(values)]
    assert ratios == pytest.approx([10.0] * 3)
    assert all(dist._contains(v) for v in values)
    ints = derive_grid({"n": IntDistribution(1, 1024, log=True)}, 8)["n"]
    ratios = [b / a for a, b in itertools.pairwise(ints[2:])]
    assert all(2.0 < r < 3.5 for r in ratios)  # 1025 ** (1/8) = 2.38


@pytest.mark.parametrize(
    "dists",
    [
        {"n": IntDistribution(1, 1000, log=True)},
        {"n": IntDistribution(1, 30, log=True), "x": UNIT},
        {"dropout": FloatDistribution(0.0, 0.5, step=0.05), "x": UNIT},
    ],
)
def test_a_grid_has_at_least_budget_points_when_the_space_has_them(
    dists: dict[str, BaseDistribution],
) -> None:
    assert grid_size(_ctx(dists, method="grid", budget=100)) >= 100


def test_a_fixed_float_enters_the_grid_once() -> None:
    dists = {"x": UNIT, "fixed": FloatDistribution(0.5, 0.5)}
    grid = derive_grid(dists, 16)
    assert grid["fixed"] == [0.5]
    assert len(grid["x"]) == 16


def test_explicit_grid_values_are_used_as_given() -> None:
    dists = {"x": UNIT, "opt": CategoricalDistribution(["a", "b", "c"])}
    grid: dict[str, list[Any]] = {"x": [0.1, 0.9], "opt": ["a", "c"]}
    ctx = _ctx(dists, method="grid", budget=100, grid=grid)
    assert grid_size(ctx) == 4
    name, sampler = make_sampler(ctx)
    assert name == "grid"
    study = optuna.create_study(sampler=sampler)
    seen = set()
    for _ in range(4):
        trial = study.ask(fixed_distributions=dists)
        seen.add((trial.params["x"], trial.params["opt"]))
        study.tell(trial, 0.0)
    assert seen == {(0.1, "a"), (0.1, "c"), (0.9, "a"), (0.9, "c")}


def test_a_grid_missing_a_parameter_is_refused() -> None:
    ctx = _ctx(_floats(2), method="grid", grid={"x0": [0.1, 0.2]})
    with pytest.raises(ValueError, match=r"missing \['x1'\]"):
        make_sampler(ctx)


# --- _refine_start -----------------------------------------------------------------------


def _trial(
    params: Mapping[str, Any], value: float, dists: Mapping[str, BaseDistribution]
) -> FrozenTrial:
    return create_trial(
        params=dict(params), distributions={k: dists[k] for k in params}, value=value
    )


def test_refine_start_of_no_trials_is_none() -> None:
    assert _refine_start([], _floats(2)) is None


def test_refine_start_is_the_lowest_trial_with_a_step_in_bounds() -> None:
    dists = _floats(3)
    rng = np.random.default_rng(0)
    for _ in range(20):
        trials = [
            _trial({k: float(rng.random()) for k in dists}, float(rng.normal()), dists)
            for _ in range(int(rng.integers(1, 40)))
        ]
        start = _refine_start(trials, dists)
        assert start is not None
        x0, sigma = start
        best = min(trials, key=lambda t: t.values[0])
        assert x0 == best.params
        assert REFINE_SIGMA_MIN <= sigma <= REFINE_SIGMA_MAX


def test_refine_start_step_is_the_spread_of_the_nearest_trials() -> None:
    dists = {"x": UNIT}
    trials = [_trial({"x": 0.5}, 0.0, dists)]
    trials += [_trial({"x": 0.5 + d}, 1.0, dists) for d in (0.01, -0.01, 0.01, -0.01, 0.01)]
    trials += [_trial({"x": x}, 5.0, dists) for x in (0.0, 0.1, 0.9, 1.0)]
    start = _refine_start(trials, dists)
    assert start is not None
    assert start[0] == {"x": 0.5}
    assert start[1] == pytest.approx(0.01)


def test_refine_start_measures_log_parameters_on_their_log_scale() -> None:
    dists = {"lr": FloatDistribution(1e-5, 1e-1, log=True)}  # 4 decades
    trials = [_trial({"lr": 1e-3}, 0.0, dists)]
    trials += [_trial({"lr": 1e-3 * 10**d}, 1.0, dists) for d in (0.04, -0.04) * 3]
    start = _refine_start(trials, dists)
    assert start is not None
    assert start[1] == pytest.approx(0.01)  # 0.04 decades of 4


def test_refine_start_step_is_clipped_to_its_bounds() -> None:
    dists = _floats(2)
    lone = _refine_start([_trial({"x0": 0.3, "x1": 0.3}, 1.0, dists)], dists)
    assert lone is not None and lone[1] == REFINE_SIGMA_MAX
    same = [_trial({"x0": 0.3, "x1": 0.3}, float(v), dists) for v in range(6)]
    tight = _refine_start(same, dists)
    assert tight is not None and tight[1] == REFINE_SIGMA_MIN
    corners = [
        _trial({"x0": a, "x1": b}, float(a + b), dists) for a in (0.0, 1.0) for b in (0.0, 1.0)
    ]
    wide = _refine_start(corners, dists)
    assert wide is not None and wide[0] == {"x0": 0.0, "x1": 0.0} and wide[1] == REFINE_SIGMA_MAX


# --- end to end through Optuna -------------------------------------------------------------

SPACE: dict[str, BaseDistribution] = {
    "x": FloatDistribution(-2.0, 3.0),
    "lr": FloatDistribution(1e-4, 1e-1, log=True),
}
OPTIMUM = {"x": 2.0, "lr": 3e-4}  # unit coordinates (0.8, ~0.16)


def _unit(params: Mapping[str, Any]) -> np.ndarray:
    return np.array([_auto._unit(SPACE[k], params[k]) for k in SPACE])


def _loss(params: Mapping[str, Any]) -> float:
    return float(np.sum((_unit(params) - _unit(OPTIMUM)) ** 2))


def _ask_tell(
    study: optuna.Study, ctx: SamplerContext, sign: float = 1.0
) -> tuple[str, dict[str, Any]]:
    name, sampler = make_sampler(ctx)
    study.sampler = sampler
    trial = study.ask(fixed_distributions=SPACE)
    assert trial.number == ctx.number
    study.tell(trial, sign * _loss(trial.params))
    return name, trial.params


def _in_bounds(params: Mapping[str, Any]) -> bool:
    return all(SPACE[k]._contains(v) for k, v in params.items())


@needs_torch
def test_auto_suggests_inside_the_bounds_through_the_gp_phase() -> None:
    study = optuna.create_study()
    for number in range(N_STARTUP + 2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            name, params = _ask_tell(study, _ctx(SPACE, number=number, budget=100))
        assert name == "gp"
        assert _in_bounds(params)


def _gp_like_study(direction: Literal["minimize", "maximize"], n: int) -> optuna.Study:
    """``n`` complete trials as GP leaves them: 10 at random, then a cluster near the optimum."""
    sign = 1.0 if direction == "minimize" else -1.0
    study = optuna.create_study(direction=direction)
    rng = np.random.default_rng(3)
    target = _unit(OPTIMUM)
    for i in range(n):
        u = rng.random(2) if i < N_STARTUP else np.clip(target + rng.normal(0, 0.02, 2), 0, 1)
        params = {
            "x": -2.0 + 5.0 * float(u[0]),
            "lr": float(10 ** (-4 + 3 * float(u[1]))),
        }
        study.add_trial(_trial(params, sign * _loss(params), SPACE))
    return study


def _cmaes_phase(
    direction: Literal["minimize", "maximize"],
) -> tuple[np.ndarray, float, list[np.ndarray]]:
    switch, budget = 24, 48  # 50% of the budget
    sign = 1.0 if direction == "minimize" else -1.0
    study = _gp_like_study(direction, switch)
    assert auto_phase(_ctx(SPACE, number=switch - 1, budget=budget)) in ("gp", "tpe")
    best = study.best_trial
    start = _refine_start(study.trials, SPACE) if direction == "minimize" else None
    sigma = start[1] if start is not None else REFINE_SIGMA_MAX
    asks = []
    for number in range(switch, switch + 8):  # a first generation of 6, and two more
        name, params = _ask_tell(study, _ctx(SPACE, number=number, budget=budget), sign)
        assert name == "cmaes"
        assert _in_bounds(params)
        asks.append(_unit(params))
    return _unit(best.params), sigma, asks


def test_the_cmaes_phase_starts_near_the_best_gp_trial() -> None:
    best, sigma, asks = _cmaes_phase("minimize")
    assert REFINE_SIGMA_MIN <= sigma < 0.05
    assert np.linalg.norm(best - 0.5) > 0.3  # far from CMA-ES's default start
    for u in asks[:6]:
        assert np.linalg.norm(u - best) < 5 * sigma * math.sqrt(2)


def test_the_cmaes_phase_starts_near_the_best_trial_of_a_maximize_study() -> None:
    best, _, asks = _cmaes_phase("maximize")
    for u in asks[:6]:
        assert np.linalg.norm(u - best) < 0.15
