"""The sweep spec parser (runtrack.sweeps.spec), without a store: every documented form
normalises as docs/sweeps.md says, every bad spec is refused with a ValidationError naming
the key at fault, choose / is_active / suggestion_order walk conditional parameters, and
normalize is idempotent and leaves its input alone."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from runtrack.errors import ValidationError
from runtrack.sweeps.spec import (
    MAX_CHOICES,
    MAX_OBJECTIVES,
    MAX_PARAMETERS,
    MAX_TRIALS,
    check_command,
    choose,
    is_active,
    load_yaml,
    normalize,
    suggestion_order,
)

NAN = float("nan")
INF = float("inf")
HUGE = 10**400  # an int no float can hold


def base_params() -> dict[str, Any]:
    return {
        "lr": {"distribution": "log_uniform", "min": 1e-5, "max": 1e-1},
        "depth": {"distribution": "int", "min": 2, "max": 12},
        "dropout": {"distribution": "uniform", "min": 0.0, "max": 0.5},
        "optimizer": {"values": ["adam", "sgd"]},
        "momentum": {
            "distribution": "uniform",
            "min": 0.0,
            "max": 0.99,
            "when": {"optimizer": "sgd"},
        },
        "epochs": {"value": 20},
    }


def spec(**changes: Any) -> dict[str, Any]:
    """The spec of API.md's "Sweeps" section, with top-level keys replaced."""
    s: dict[str, Any] = {
        "method": "auto",
        "metric": {"name": "val_loss", "goal": "minimize"},
        "parameters": base_params(),
        "pruner": {"type": "median"},
        "budget": {"trials": 100},
        "seed": 0,
    }
    s.update(changes)
    return s


def with_param(definition: object, name: str = "x") -> dict[str, Any]:
    """A small valid spec plus one parameter ``name`` defined as given."""
    params: dict[str, Any] = {
        "optimizer": {"values": ["adam", "sgd"]},
        "depth": {"distribution": "int", "min": 2, "max": 12},
        "epochs": {"value": 20},
        name: definition,
    }
    return {"metric": {"name": "loss"}, "parameters": params, "seed": 1}


def refused(s: object, field: str, *fragments: str) -> str:
    """normalize(s) raises exactly ValidationError, naming ``field`` and saying each of
    ``fragments``; returns the message."""
    with pytest.raises(ValidationError) as info:
        normalize(s)
    assert info.type is ValidationError
    msg = str(info.value)
    assert f"sweep spec: {field}:" in msg, msg
    for fragment in fragments:
        assert fragment in msg, msg
    return msg


# --------------------------------------------------------------------------------------------
# Valid forms
# --------------------------------------------------------------------------------------------


def test_the_documented_spec_normalizes_with_every_default_filled_in() -> None:
    out = normalize(spec())
    assert out == {
        "method": "auto",
        "metrics": [{"name": "val_loss", "goal": "minimize"}],
        "parameters": {
            "lr": {"distribution": "log_uniform", "min": 1e-5, "max": 1e-1},
            "depth": {"distribution": "int", "min": 2, "max": 12, "log": False, "step": 1},
            "dropout": {"distribution": "uniform", "min": 0.0, "max": 0.5},
            "optimizer": {"values": ["adam", "sgd"]},
            "momentum": {
                "distribution": "uniform",
                "min": 0.0,
                "max": 0.99,
                "when": {"optimizer": ["sgd"]},
            },
            "epochs": {"value": 20},
        },
        "pruner": {
            "type": "median",
            "n_startup_trials": 5,
            "n_warmup_steps": 0,
            "interval_steps": 1,
            "n_min_trials": 1,
            "patience": None,
            "min_delta": 0.0,
        },
        "budget": {"trials": 100},
        "seed": 0,
        "command": None,
        "retries": 0,
        "warm_start": None,
        "name": None,
        "description": None,
    }
    assert list(out["parameters"]) == ["lr", "depth", "dropout", "optimizer", "momentum", "epochs"]


def test_a_minimal_spec_gets_the_documented_defaults() -> None:
    out = normalize({"metric": {"name": "loss"}, "parameters": {"x": [1, 2]}})
    assert out["method"] == "auto"
    assert out["metrics"] == [{"name": "loss", "goal": "minimize"}]
    assert out["pruner"] == {"type": "none"}
    assert out["budget"] == {}
    assert out["command"] is None and out["warm_start"] is None
    assert out["retries"] == 0 and out["name"] is None and out["description"] is None
    # no seed given: one is chosen and recorded so that the sweep can be replayed
    assert isinstance(out["seed"], int) and 0 <= out["seed"] < 2**31


def test_uniform_bounds_become_floats_and_keep_a_step() -> None:
    p = normalize(with_param({"distribution": "uniform", "min": 0, "max": 1, "step": 0.25}))
    x = p["parameters"]["x"]
    assert x == {"distribution": "uniform", "min": 0.0, "max": 1.0, "step": 0.25}
    assert type(x["min"]) is float and type(x["max"]) is float


def test_the_documented_uniform_step_fits_its_range_despite_float_rounding() -> None:
    x = normalize(with_param({"distribution": "uniform", "min": 0.0, "max": 0.5, "step": 0.05}))
    assert x["parameters"]["x"]["step"] == 0.05
    y = normalize(with_param({"distribution": "uniform", "min": 0.0, "max": 1.0, "step": 0.1}))
    assert y["parameters"]["x"]["step"] == 0.1


def test_a_null_uniform_step_means_no_step() -> None:
    x = normalize(with_param({"distribution": "uniform", "min": 0, "max": 1, "step": None}))
    assert "step" not in x["parameters"]["x"]


def test_log_uniform_and_uniform_with_log_true_are_the_same() -> None:
    a = normalize(with_param({"distribution": "log_uniform", "min": 1e-4, "max": 1.0}))
    b = normalize(with_param({"distribution": "uniform", "min": 1e-4, "max": 1.0, "log": True}))
    c = normalize(with_param({"distribution": "log_uniform", "min": 1e-4, "max": 1.0, "log": True}))
    expected = {"distribution": "log_uniform", "min": 1e-4, "max": 1.0}
    assert a["parameters"]["x"] == b["parameters"]["x"] == c["parameters"]["x"] == expected


def test_int_with_step_and_int_on_a_log_scale() -> None:
    stepped = normalize(with_param({"distribution": "int", "min": 2, "max": 12, "step": 2}))
    assert stepped["parameters"]["x"] == {
        "distribution": "int",
        "min": 2,
        "max": 12,
        "log": False,
        "step": 2,
    }
    logged = normalize(with_param({"distribution": "int", "min": 1, "max": 1024, "log": True}))
    assert logged["parameters"]["x"] == {
        "distribution": "int",
        "min": 1,
        "max": 1024,
        "log": True,
        "step": 1,
    }
    alias = normalize(with_param({"distribution": "log_int", "min": 1, "max": 1024}))
    assert alias["parameters"]["x"] == logged["parameters"]["x"]


def test_int_bounds_given_as_integral_floats_are_stored_as_ints() -> None:
    x = normalize(with_param({"distribution": "int", "min": 2.0, "max": 8.0, "step": 2.0}))
    p = x["parameters"]["x"]
    assert (p["min"], p["max"], p["step"]) == (2, 8, 2)
    assert all(type(p[k]) is int for k in ("min", "max", "step"))


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        (
            {"min": 0, "max": 10},
            {"distribution": "int", "min": 0, "max": 10, "log": False, "step": 1},
        ),
        ({"min": 0, "max": 1.5}, {"distribution": "uniform", "min": 0.0, "max": 1.5}),
        (
            {"min": 0.0, "max": 1.0, "step": 0.25},
            {"distribution": "uniform", "min": 0.0, "max": 1.0, "step": 0.25},
        ),
        (
            {"min": 1e-4, "max": 1e-1, "log": True},
            {"distribution": "log_uniform", "min": 1e-4, "max": 1e-1},
        ),
        (
            {"min": 1, "max": 1024, "log": True},
            {"distribution": "int", "min": 1, "max": 1024, "log": True, "step": 1},
        ),
    ],
)
def test_min_and_max_without_a_distribution_choose_one_as_wandb_does(
    definition: dict[str, Any], expected: dict[str, Any]
) -> None:
    # int bounds make an int, a float bound a uniform; the stored spec names the choice,
    # so the sweep reads back as it runs
    assert normalize(with_param(definition))["parameters"]["x"] == expected


@pytest.mark.parametrize(
    ("change", "field", "hint"),
    [
        ({"method": "bayes"}, "method", "for W&B's bayes use auto"),
        (
            {"early_terminate": {"type": "hyperband"}},
            "early_terminate",
            "for W&B's early_terminate use pruner",
        ),
        ({"program": "train.py"}, "program", "use command"),
        ({"run_cap": 20}, "run_cap", "budget: {trials: N}"),
        ({"project": "p"}, "project", "--project of runtrack sweep create"),
        ({"command": ["${env}", "python", "t.py"]}, "command", "for W&B's env use nothing"),
        ({"command": ["python", "${program}", "${args}"]}, "command", "python train.py ${args}"),
    ],
)
def test_a_wandb_spec_is_refused_with_what_each_name_is_here(
    change: dict[str, Any], field: str, hint: str
) -> None:
    refused({**with_param({"min": 0.0, "max": 1.0}), **change}, field, hint)


@pytest.mark.parametrize(
    ("definition", "field", "hint"),
    [
        (
            {"distribution": "log_uniform_values", "min": 1e-4, "max": 1.0},
            "x.distribution",
            "use log_uniform",
        ),
        (
            {"distribution": "int_uniform", "min": 1, "max": 4},
            "x.distribution",
            "for W&B's int_uniform use int",
        ),
        (
            {"distribution": "q_uniform", "min": 0, "max": 1},
            "x.distribution",
            "uniform with a step",
        ),
        ({"distribution": "categorical"}, "x.distribution", "use values: [...]"),
        ({"distribution": "normal", "min": 0, "max": 1}, "x.distribution", "has no equivalent"),
        ({"distribution": "uniform", "min": 0, "max": 1, "q": 0.1}, "x", "for W&B's q use step"),
        ({"parameters": {"depth": {"values": [1, 2]}}}, "x", "dotted names"),
        # W&B's log_uniform takes exponents: here min and max are the values
        ({"distribution": "log_uniform", "min": -9.2, "max": -2.3}, "x.min", "takes exponents"),
    ],
)
def test_wandb_distributions_are_refused_with_their_name_here(
    definition: dict[str, Any], field: str, hint: str
) -> None:
    refused(with_param(definition), f"parameters.{field}", hint)


def test_categorical_via_values_and_the_list_shorthand() -> None:
    values: list[Any] = ["adam", 3, 2.5, True, None]
    a = normalize(with_param({"values": values}))
    b = normalize(with_param(list(values)))
    assert a["parameters"]["x"] == b["parameters"]["x"] == {"values": values}


def test_fixed_via_value_and_the_scalar_shorthand() -> None:
    for v in (20, 0.5, "resnet", True, None):
        assert normalize(with_param({"value": v}))["parameters"]["x"] == {"value": v}
        assert normalize(with_param(v))["parameters"]["x"] == {"value": v}


def test_a_fixed_value_may_be_any_json_value() -> None:
    v = {"layers": [64, 32, {"act": "relu"}], "bias": None}
    assert normalize(with_param({"value": v}))["parameters"]["x"] == {"value": v}


def test_conditional_on_one_value_or_a_list_of_values() -> None:
    one = normalize(with_param({"values": [1, 2], "when": {"optimizer": "sgd"}}))
    assert one["parameters"]["x"]["when"] == {"optimizer": ["sgd"]}
    several = normalize(with_param({"values": [1, 2], "when": {"optimizer": ["sgd", "adam"]}}))
    assert several["parameters"]["x"]["when"] == {"optimizer": ["sgd", "adam"]}
    on_int = normalize(with_param({"value": 1, "when": {"depth": [2, 4]}}))
    assert on_int["parameters"]["x"] == {"value": 1, "when": {"depth": [2, 4]}}


def test_dotted_parameter_names_are_nested_keys() -> None:
    out = normalize(
        {
            "metric": {"name": "loss"},
            "parameters": {
                "model.depth": {"distribution": "int", "min": 1, "max": 4},
                "model.kind": ["a", "b"],
                "model.width": {"values": [8, 16], "when": {"model.kind": "b"}},
                "data-set_v2": {"value": "x"},
            },
        }
    )
    assert list(out["parameters"]) == ["model.depth", "model.kind", "model.width", "data-set_v2"]


@pytest.mark.parametrize("method", ["auto", "tpe", "gp", "cmaes", "random", "grid", "qmc"])
def test_every_documented_method_is_accepted(method: str) -> None:
    params = {k: v for k, v in base_params().items() if k != "momentum"}  # grid: no conditions
    assert normalize(spec(method=method, parameters=params))["method"] == method


@pytest.mark.parametrize(
    ("goal", "expected"),
    [("minimize", "minimize"), ("min", "minimize"), ("maximize", "maximize"), ("max", "maximize")],
)
def test_goal_aliases(goal: str, expected: str) -> None:
    out = normalize(spec(metric={"name": "acc", "goal": goal}))
    assert out["metrics"] == [{"name": "acc", "goal": expected}]


def test_metric_as_a_bare_name_minimizes() -> None:
    assert normalize(spec(metric="val_loss"))["metrics"] == [
        {"name": "val_loss", "goal": "minimize"}
    ]


def test_several_objectives_keep_their_order_and_goals() -> None:
    s = spec(
        pruner=None,
        metrics=[
            {"name": "loss", "goal": "min"},
            {"name": "latency"},
            {"name": "acc", "goal": "max"},
        ],
    )
    del s["metric"]
    assert normalize(s)["metrics"] == [
        {"name": "loss", "goal": "minimize"},
        {"name": "latency", "goal": "minimize"},
        {"name": "acc", "goal": "maximize"},
    ]


def test_up_to_max_objectives_are_accepted() -> None:
    s = spec(pruner=None, metrics=[f"m{i}" for i in range(MAX_OBJECTIVES)])
    del s["metric"]
    assert len(normalize(s)["metrics"]) == MAX_OBJECTIVES


@pytest.mark.parametrize(
    ("pruner", "expected"),
    [
        (None, {"type": "none"}),
        ({"type": "none"}, {"type": "none"}),
        (
            {"type": "percentile", "percentile": 10, "n_startup_trials": 3},
            {
                "type": "percentile",
                "percentile": 10.0,
                "n_startup_trials": 3,
                "n_warmup_steps": 0,
                "interval_steps": 1,
                "n_min_trials": 1,
                "patience": None,
                "min_delta": 0.0,
            },
        ),
        (
            {"type": "median", "patience": 3, "min_delta": 0.01},
            {
                "type": "median",
                "n_startup_trials": 5,
                "n_warmup_steps": 0,
                "interval_steps": 1,
                "n_min_trials": 1,
                "patience": 3,
                "min_delta": 0.01,
            },
        ),
        (
            {"type": "hyperband"},
            {
                "type": "hyperband",
                "min_resource": 1,
                "max_resource": "auto",
                "reduction_factor": 3,
                "bootstrap_count": 0,
            },
        ),
        (
            {"type": "sha", "reduction_factor": 3},
            {
                "type": "sha",
                "min_resource": "auto",
                "reduction_factor": 3,
                "min_early_stopping_rate": 0,
                "bootstrap_count": 0,
            },
        ),
        (
            {"type": "successive_halving"},
            {
                "type": "sha",
                "min_resource": "auto",
                "reduction_factor": 4,
                "min_early_stopping_rate": 0,
                "bootstrap_count": 0,
            },
        ),
        (
            {"type": "threshold", "upper": 10},
            {
                "type": "threshold",
                "lower": None,
                "upper": 10.0,
                "n_warmup_steps": 0,
                "interval_steps": 1,
                "patience": None,
                "min_delta": 0.0,
            },
        ),
    ],
    ids=["absent", "none", "percentile", "median+patience", "hyperband", "sha", "sha-alias", "thr"],
)
def test_pruner_types_are_filled_in(pruner: Any, expected: dict[str, Any]) -> None:
    assert normalize(spec(pruner=pruner))["pruner"] == expected


@pytest.mark.parametrize(
    ("budget", "expected"),
    [
        (None, {}),
        ({}, {}),
        ({"trials": 1}, {"trials": 1}),
        ({"trials": MAX_TRIALS}, {"trials": MAX_TRIALS}),
        ({"trials": 50.0}, {"trials": 50}),
        ({"seconds": 3600}, {"seconds": 3600.0}),
        ({"seconds": 0.5}, {"seconds": 0.5}),
        ({"patience": 10}, {"patience": 10}),
        (
            {"trials": 100, "seconds": 60, "patience": 5},
            {"trials": 100, "seconds": 60.0, "patience": 5},
        ),
        ({"trials": None, "seconds": 60}, {"seconds": 60.0}),
    ],
)
def test_budget_forms(budget: Any, expected: dict[str, Any]) -> None:
    out = normalize(spec(budget=budget))["budget"]
    assert out == expected
    assert all(type(out[k]) is int for k in ("trials", "patience") if k in out)
    assert type(out.get("seconds", 0.0)) is float


@pytest.mark.parametrize("seed", [0, 1, 2**31, 2**62, 7.0])
def test_a_given_seed_is_recorded_as_an_int(seed: float) -> None:
    out = normalize(spec(seed=seed))["seed"]
    assert out == seed and type(out) is int


@pytest.mark.parametrize("seed", [2**63 - 1, 2**53 + 1, 12_345_678_901_234_567])
def test_a_large_seed_is_kept_exactly(seed: int) -> None:
    assert normalize(spec(seed=seed))["seed"] == seed


def test_large_int_bounds_are_kept_exactly() -> None:
    lo, hi = 2**53 + 1, 2**53 + 3
    x = normalize(with_param({"distribution": "int", "min": lo, "max": hi}))["parameters"]["x"]
    assert (x["min"], x["max"]) == (lo, hi)


def test_retries_name_and_description_are_kept() -> None:
    out = normalize(spec(retries=3, name="lr search", description="first pass"))
    assert (out["retries"], out["name"], out["description"]) == (3, "lr search", "first pass")


def test_a_command_list_is_kept_and_a_string_is_split_like_a_shell() -> None:
    cmd = ["python", "train.py", "--lr", "${lr}", "${args}"]
    assert normalize(spec(command=cmd))["command"] == cmd
    out = normalize(spec(command="python 'my train.py' --lr=${lr} ${args_no_hyphens}"))
    assert out["command"] == ["python", "my train.py", "--lr=${lr}", "${args_no_hyphens}"]
    keywords = "${interpreter} t.py ${run_id} ${trial} ${sweep_id} ${momentum} ${epochs}"
    assert len(normalize(spec(command=keywords))["command"]) == 7


@pytest.mark.parametrize(
    ("warm", "expected"),
    [
        (None, None),
        (False, None),
        (True, {"filter": None, "limit": 1000}),
        ({}, {"filter": None, "limit": 1000}),
        (
            {"filter": "config.model = 'b'", "limit": 500},
            {"filter": "config.model = 'b'", "limit": 500},
        ),
        ({"limit": 100_000}, {"filter": None, "limit": 100_000}),
    ],
)
def test_warm_start_forms(warm: Any, expected: Any) -> None:
    assert normalize(spec(warm_start=warm))["warm_start"] == expected


def test_up_to_the_limits_of_parameters_and_choices() -> None:
    many = {f"p{i}": [0, 1] for i in range(MAX_PARAMETERS)}
    out = normalize({"metric": "loss", "parameters": many})
    assert len(out["parameters"]) == MAX_PARAMETERS
    wide = normalize(with_param(list(range(MAX_CHOICES))))
    assert len(wide["parameters"]["x"]["values"]) == MAX_CHOICES


def test_grid_accepts_a_space_without_conditions() -> None:
    params = {k: v for k, v in base_params().items() if k != "momentum"}
    out = normalize(spec(method="grid", parameters=params))
    assert out["method"] == "grid" and "momentum" not in out["parameters"]


# --------------------------------------------------------------------------------------------
# Idempotence, no mutation, YAML
# --------------------------------------------------------------------------------------------

IDEMPOTENCE_CASES: list[dict[str, Any]] = [
    spec(),
    spec(pruner={"type": "sha"}, command="python t.py ${lr}", warm_start=True, retries=2),
    spec(pruner={"type": "threshold", "lower": 0.1, "patience": 2}, budget={"seconds": 30}),
    spec(pruner={"type": "hyperband", "max_resource": 81}, name="n", description="d"),
    {
        "metrics": [{"name": "a", "goal": "max"}, "b"],
        "parameters": {
            "k": {"distribution": "log_int", "min": 1, "max": 64},
            "u": {"distribution": "uniform", "min": 1, "max": 10, "log": True},
            "s": {"distribution": "uniform", "min": 0, "max": 1, "step": 0.125},
            "c": [True, False],
            "cond": {"values": ["x"], "when": {"c": True}},
            "f": {"value": [1, {"a": None}]},
        },
        "warm_start": {"filter": "config.depth > 2", "limit": 10},
    },
]


@pytest.mark.parametrize("raw", IDEMPOTENCE_CASES)
def test_normalize_is_idempotent(raw: dict[str, Any]) -> None:
    once = normalize(raw)
    twice = normalize(once)
    assert twice == once
    assert list(twice["parameters"]) == list(once["parameters"])
    assert normalize(copy.deepcopy(twice)) == once


@pytest.mark.parametrize("raw", [*IDEMPOTENCE_CASES, with_param([1, 2]), with_param(5)])
def test_normalize_does_not_mutate_its_input(raw: dict[str, Any]) -> None:
    before = copy.deepcopy(raw)
    normalize(raw)
    assert raw == before


def test_a_conditional_parameter_is_moved_after_the_one_it_depends_on() -> None:
    out = normalize(
        {
            "metric": "loss",
            "parameters": {
                "momentum": {"distribution": "uniform", "min": 0, "max": 1, "when": {"opt": "sgd"}},
                "nesterov": {"values": [True, False], "when": {"momentum_kind": "nag"}},
                "momentum_kind": {"values": ["plain", "nag"], "when": {"opt": "sgd"}},
                "opt": ["adam", "sgd"],
                "lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1},
            },
        }
    )
    order = list(out["parameters"])
    assert order.index("opt") < order.index("momentum")
    assert order.index("opt") < order.index("momentum_kind") < order.index("nesterov")
    assert order == ["opt", "momentum", "momentum_kind", "nesterov", "lr"]


YAML_SPEC = """\
method: tpe
metric: {name: val_loss, goal: min}
parameters:
  lr: {distribution: log_uniform, min: 1e-5, max: 1e-1}
  depth: {distribution: int, min: 2, max: 12, step: 2}
  optimizer: [adam, sgd]
  momentum: {distribution: uniform, min: 0.0, max: 0.99, when: {optimizer: sgd}}
  epochs: 20
pruner: {type: median}
budget: {trials: 100, seconds: 3600}
seed: 0
command: [python, train.py, --lr, "${lr}"]
"""


def test_load_yaml_reads_the_same_spec_as_the_dict() -> None:
    out = load_yaml(YAML_SPEC)
    as_dict = spec(
        method="tpe",
        metric={"name": "val_loss", "goal": "minimize"},
        budget={"trials": 100, "seconds": 3600},
        command=["python", "train.py", "--lr", "${lr}"],
    )
    as_dict["parameters"]["depth"]["step"] = 2
    del as_dict["parameters"]["dropout"]
    assert out == normalize(as_dict)
    assert out["parameters"]["lr"]["min"] == 1e-5  # 1e-5 is a float, not the string "1e-5"


@pytest.mark.parametrize(
    "text",
    ["a: [\n", "metric: {name: loss\n", "parameters:\n  x: [1, 2\n", "\tmetric: x\n"],
)
def test_load_yaml_refuses_text_that_is_not_yaml(text: str) -> None:
    with pytest.raises(ValidationError) as info:
        load_yaml(text, where="spec.yaml")
    assert info.type is ValidationError
    assert "spec.yaml is not valid YAML" in str(info.value)


def test_load_yaml_refuses_python_tags() -> None:
    with pytest.raises(ValidationError, match="not valid YAML"):
        load_yaml("metric: !!python/object/apply:os.system [echo hi]\nparameters: {x: [1, 2]}\n")


@pytest.mark.parametrize("text", ["", "# nothing\n", "- metric\n- parameters\n", "42\n", "spec\n"])
def test_load_yaml_refuses_a_document_that_is_not_a_mapping(text: str) -> None:
    with pytest.raises(ValidationError) as info:
        load_yaml(text)
    assert info.type is ValidationError
    assert "mapping" in str(info.value)


def test_load_yaml_reports_the_key_at_fault() -> None:
    text = "metric: loss\nparameters:\n  lr: {distribution: log_uniform, min: 0, max: 1}\n"
    with pytest.raises(ValidationError) as info:
        load_yaml(text)
    assert "sweep spec: parameters.lr.min: 0 must be above 0 on a log scale" in str(info.value)


def test_load_yaml_refuses_a_duplicated_key() -> None:
    text = "metric: loss\nparameters:\n  x: [1, 2]\n  x: [3, 4]\n"
    with pytest.raises(ValidationError, match="x"):
        load_yaml(text)


# --------------------------------------------------------------------------------------------
# Refused: the spec as a whole and its top-level keys
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [None, [], ["metric"], "metric: loss", 42, b"{}", ("a", 1)])
def test_a_spec_that_is_not_a_mapping_is_refused(raw: object) -> None:
    with pytest.raises(ValidationError) as info:
        normalize(raw)
    assert info.type is ValidationError
    assert "a sweep spec is a dict" in str(info.value)


def test_an_unknown_top_level_key_is_refused_by_name() -> None:
    refused(spec(metod="tpe"), "metod", "unknown key", "allowed: method")
    refused(spec(trials=10), "trials", "unknown key")
    refused({**spec(), 7: 1}, "7", "unknown key")


BAD_TOP_LEVEL: list[Any] = [
    pytest.param({"method": "bayes"}, "method", "must be one of", id="method-unknown"),
    pytest.param({"method": "TPE"}, "method", "must be one of", id="method-case"),
    pytest.param({"method": None}, "method", "must be one of", id="method-null"),
    pytest.param({"method": ["tpe"]}, "method", "must be one of", id="method-list"),
    pytest.param({"metric": None}, "metric", "must be {name", id="metric-null"),
    pytest.param({"metric": 5}, "metric", "must be {name", id="metric-int"),
    pytest.param({"metric": {"goal": "min"}}, "metric", "needs a name", id="metric-no-name"),
    pytest.param(
        {"metric": {"name": "l", "direction": "min"}},
        "metric",
        "unknown key 'direction'",
        id="metric-extra-key",
    ),
    pytest.param({"metric": {"name": ""}}, "metric.name", "empty", id="metric-name-empty"),
    pytest.param({"metric": {"name": 5}}, "metric.name", "strings", id="metric-name-int"),
    pytest.param({"metric": {"name": None}}, "metric.name", "strings", id="metric-name-null"),
    pytest.param(
        {"metric": {"name": "a\nb"}}, "metric.name", "control character", id="metric-name-ctrl"
    ),
    pytest.param({"metric": {"name": "l", "goal": "up"}}, "metric.goal", "minimize", id="goal"),
    pytest.param({"metric": {"name": "l", "goal": None}}, "metric.goal", "minimize", id="goal-0"),
    pytest.param(
        {"metric": {"name": "l", "goal": "Minimize"}}, "metric.goal", "minimize", id="goal-case"
    ),
    pytest.param(
        {"metric": {"name": "l", "goal": ["min"]}},
        "metric.goal",
        "minimize",
        id="goal-list",
    ),
    pytest.param(
        {"metric": {"name": "l", "goal": {"x": 1}}},
        "metric.goal",
        "minimize",
        id="goal-dict",
    ),
    pytest.param({"pruner": "medianx"}, "pruner", "'medianx' is unknown", id="pruner-str"),
    pytest.param({"pruner": {"type": "bogus"}}, "pruner", "pruner.type", id="pruner-unknown"),
    pytest.param({"pruner": {"kind": "median"}}, "pruner", "pruner.type", id="pruner-no-type"),
    pytest.param(
        {"pruner": {"type": "median", "foo": 1}}, "pruner", "pruner.foo", id="pruner-extra"
    ),
    pytest.param(
        {"pruner": {"type": "median", "n_startup_trials": -1}},
        "pruner",
        "pruner.n_startup_trials",
        id="pruner-negative",
    ),
    pytest.param(
        {"pruner": {"type": "percentile", "percentile": 150}},
        "pruner",
        "pruner.percentile",
        id="pruner-percentile",
    ),
    pytest.param({"pruner": {"type": "threshold"}}, "pruner", "needs", id="threshold-bare"),
    pytest.param(
        {"pruner": {"type": "sha", "patience": 3}}, "pruner", "pruner.patience", id="sha-patience"
    ),
    pytest.param(
        {"pruner": {"type": "hyperband", "min_resource": 5, "max_resource": 2}},
        "pruner",
        "pruner.max_resource",
        id="hyperband-range",
    ),
    pytest.param(
        {"pruner": 0},
        "pruner",
        "mapping",
        id="pruner-zero",
    ),
    pytest.param(
        {"pruner": ""},
        "pruner",
        "pruner.type '' is unknown",
        id="pruner-empty-str",
    ),
    pytest.param(
        {"pruner": []},
        "pruner",
        "mapping",
        id="pruner-empty-list",
    ),
    pytest.param({"budget": 100}, "budget", "trials", id="budget-int"),
    pytest.param({"budget": [100]}, "budget", "trials", id="budget-list"),
    pytest.param({"budget": {"trial": 5}}, "budget", "unknown key 'trial'", id="budget-key"),
    pytest.param({"budget": {"trials": 0}}, "budget.trials", "between 1", id="trials-0"),
    pytest.param({"budget": {"trials": -5}}, "budget.trials", "between 1", id="trials-neg"),
    pytest.param({"budget": {"trials": 2.5}}, "budget.trials", "integer", id="trials-frac"),
    pytest.param({"budget": {"trials": "10"}}, "budget.trials", "integer", id="trials-str"),
    pytest.param({"budget": {"trials": True}}, "budget.trials", "integer", id="trials-bool"),
    pytest.param({"budget": {"trials": NAN}}, "budget.trials", "must be", id="trials-nan"),
    pytest.param({"budget": {"trials": INF}}, "budget.trials", "must be", id="trials-inf"),
    pytest.param(
        {"budget": {"trials": MAX_TRIALS + 1}}, "budget.trials", "between 1", id="trials-max"
    ),
    pytest.param({"budget": {"seconds": 0}}, "budget.seconds", "above 0", id="seconds-0"),
    pytest.param({"budget": {"seconds": -1.5}}, "budget.seconds", "above 0", id="seconds-neg"),
    pytest.param({"budget": {"seconds": "60"}}, "budget.seconds", "number", id="seconds-str"),
    pytest.param({"budget": {"seconds": False}}, "budget.seconds", "number", id="seconds-bool"),
    pytest.param({"budget": {"seconds": INF}}, "budget.seconds", "finite", id="seconds-inf"),
    pytest.param({"budget": {"seconds": NAN}}, "budget.seconds", "finite", id="seconds-nan"),
    pytest.param({"budget": {"patience": 0}}, "budget.patience", "1 or more", id="patience-0"),
    pytest.param({"budget": {"patience": 1.5}}, "budget.patience", "integer", id="patience-f"),
    pytest.param({"seed": -1}, "seed", "between 0", id="seed-neg"),
    pytest.param({"seed": 2**63}, "seed", "too large", id="seed-big"),
    pytest.param({"seed": 1.5}, "seed", "integer", id="seed-frac"),
    pytest.param({"seed": "0"}, "seed", "integer", id="seed-str"),
    pytest.param({"seed": True}, "seed", "integer", id="seed-bool"),
    pytest.param({"seed": NAN}, "seed", "must be", id="seed-nan"),
    pytest.param({"retries": 11}, "retries", "between 0 and 10", id="retries-11"),
    pytest.param({"retries": -1}, "retries", "between 0 and 10", id="retries-neg"),
    pytest.param({"retries": 1.5}, "retries", "integer", id="retries-frac"),
    pytest.param({"retries": None}, "retries", "integer", id="retries-null"),
    pytest.param({"name": ""}, "name", "non-empty", id="name-empty"),
    pytest.param({"name": 5}, "name", "non-empty string", id="name-int"),
    pytest.param({"name": "a\x00b"}, "name", "control", id="name-ctrl"),
    pytest.param({"description": 5}, "description", "string", id="desc-int"),
    pytest.param({"description": "x" * 10_001}, "description", "10,000", id="desc-long"),
    pytest.param({"warm_start": "yes"}, "warm_start", "true or", id="warm-str"),
    pytest.param({"warm_start": 1}, "warm_start", "true or", id="warm-int"),
    pytest.param({"warm_start": [1]}, "warm_start", "true or", id="warm-list"),
    pytest.param({"warm_start": {"query": "x"}}, "warm_start", "unknown key", id="warm-key"),
    pytest.param({"warm_start": {"filter": 5}}, "warm_start.filter", "string", id="warm-filter"),
    pytest.param({"warm_start": {"limit": 0}}, "warm_start.limit", "between 1", id="warm-0"),
    pytest.param(
        {"warm_start": {"limit": 100_001}}, "warm_start.limit", "between 1", id="warm-max"
    ),
    pytest.param({"warm_start": {"limit": 2.5}}, "warm_start.limit", "integer", id="warm-frac"),
    pytest.param({"warm_start": {"limit": True}}, "warm_start.limit", "integer", id="warm-bool"),
    pytest.param({"warm_start": {"limit": None}}, "warm_start.limit", "integer", id="warm-null"),
    pytest.param({"command": []}, "command", "empty", id="cmd-empty-list"),
    pytest.param({"command": ""}, "command", "empty", id="cmd-empty-str"),
    pytest.param({"command": "   "}, "command", "empty", id="cmd-blank"),
    pytest.param({"command": [""]}, "command", "empty", id="cmd-empty-arg"),
    pytest.param({"command": ["python", 1]}, "command", "list of strings", id="cmd-int-arg"),
    pytest.param({"command": 5}, "command", "list of strings", id="cmd-int"),
    pytest.param({"command": {"run": "x"}}, "command", "list of strings", id="cmd-dict"),
    pytest.param({"command": "python 'train.py"}, "command", "cannot be split", id="cmd-quote"),
    pytest.param({"command": ["py", "a\x00b"]}, "command", "NUL", id="cmd-nul"),
    pytest.param({"command": ["py", "${nope}"]}, "command", "${nope} is not a param", id="cmd-p"),
    pytest.param({"command": "py --x=${LR}"}, "command", "${LR} is not a param", id="cmd-case"),
    pytest.param({"command": ["py", "${}"]}, "command", "is not a parameter", id="cmd-blank-p"),
]


@pytest.mark.parametrize(("changes", "field", "what"), BAD_TOP_LEVEL)
def test_bad_top_level_values_are_refused(changes: dict[str, Any], field: str, what: str) -> None:
    refused(spec(**changes), field, what)


@pytest.mark.parametrize(
    ("changes", "field", "what"),
    [
        pytest.param(
            {"parameters": {"x": {"distribution": "uniform", "min": 0, "max": HUGE}}},
            "parameters.x.max",
            "too large",
            id="max",
        ),
        pytest.param(
            {
                "parameters": {
                    "x": {"distribution": "uniform", "min": 0, "max": 1, "step": HUGE},
                }
            },
            "parameters.x.step",
            "too large",
            id="step",
        ),
        pytest.param({"seed": HUGE}, "seed", "too large", id="seed"),
        pytest.param({"budget": {"trials": HUGE}}, "budget.trials", "too large", id="trials"),
        pytest.param({"budget": {"seconds": HUGE}}, "budget.seconds", "too large", id="seconds"),
        pytest.param({"retries": HUGE}, "retries", "too large", id="retries"),
        pytest.param({"warm_start": {"limit": HUGE}}, "warm_start.limit", "too large", id="limit"),
    ],
)
def test_huge_integers_are_refused_not_crashed_on(
    changes: dict[str, Any], field: str, what: str
) -> None:
    refused(spec(**changes), field, what)


def test_metric_and_metrics_are_exclusive_and_one_is_required() -> None:
    both = spec(metrics=[{"name": "a"}])
    refused(both, "metric", "metrics")
    neither = spec()
    del neither["metric"]
    refused(neither, "metric", "give the objective")


@pytest.mark.parametrize(
    ("metrics", "field", "what"),
    [
        ([], "metrics", "non-empty list"),
        ("loss", "metrics", "non-empty list"),
        ({"name": "loss"}, "metrics", "non-empty list"),
        ([5], "metrics[0]", "must be {name"),
        (["a", {"name": "b", "goal": "best"}], "metrics[1].goal", "minimize or maximize"),
        (["a", {"goal": "max"}], "metrics[1]", "needs a name"),
        (["a", "a"], "metrics", "different metric"),
        (["a", {"name": "a", "goal": "max"}], "metrics", "different metric"),
        ([f"m{i}" for i in range(MAX_OBJECTIVES + 1)], "metrics", f"at most {MAX_OBJECTIVES}"),
    ],
)
def test_bad_metrics_lists_are_refused(metrics: Any, field: str, what: str) -> None:
    s = spec(metrics=metrics, pruner=None)
    del s["metric"]
    refused(s, field, what)


def test_several_objectives_cannot_have_a_pruner() -> None:
    s = spec(metrics=["loss", "latency"], pruner={"type": "median"})
    del s["metric"]
    refused(s, "pruner", "several objectives")


def test_grid_refuses_conditional_parameters() -> None:
    refused(spec(method="grid"), "parameters.momentum.when", "grid search")


# --------------------------------------------------------------------------------------------
# Refused: parameters
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [None, {}, [], ["lr", "depth"], "lr", 5],
    ids=["null", "empty", "empty-list", "list", "str", "int"],
)
def test_parameters_must_be_a_non_empty_mapping(params: object) -> None:
    refused(spec(parameters=params), "parameters", "must map parameter names")


def test_parameters_are_required() -> None:
    s = spec()
    del s["parameters"]
    refused(s, "parameters", "must map parameter names")


@pytest.mark.parametrize(
    "name",
    [1, 1.5, None, True, ("a",), "", "1x", "a b", "a..b", ".a", "a.", "-a", "a/b", "a$", "x" * 201],
)
def test_a_parameter_name_that_is_not_a_config_key_is_refused(name: Any) -> None:
    s = spec(parameters={**base_params(), name: [1, 2]})
    refused(s, "parameters", "must be a config key")


def test_a_name_that_is_both_a_value_and_a_parent_is_refused() -> None:
    s = spec(parameters={"model": [1, 2], "model.depth": [3, 4]})
    refused(s, "parameters", "'model' is both a value and the parent of 'model.depth'")


def test_a_space_of_fixed_values_only_is_refused() -> None:
    refused(spec(parameters={"a": 1, "b": {"value": 2}}), "parameters", "nothing to search")


def test_too_many_parameters_are_refused() -> None:
    many = {f"p{i}": [0, 1] for i in range(MAX_PARAMETERS + 1)}
    refused(spec(parameters=many), "parameters", f"at most {MAX_PARAMETERS}")


def test_a_spec_of_shared_parts_that_walks_as_millions_of_values_is_refused() -> None:
    big: Any = ["x"] * 9
    for _ in range(7):
        big = [big] * 9  # 9**8 strings, 8 small lists in memory
    s = spec()
    s["parameters"]["fixed"] = {"value": big}
    with pytest.raises(ValidationError, match="sweep spec: more than 100,000 values"):
        normalize(s)
    # one that contains itself is refused by the nesting check, naming the field
    cyclic: dict[str, Any] = {"a": 1}
    cyclic["self"] = cyclic
    s = spec()
    s["parameters"]["fixed"] = {"value": cyclic}
    refused(s, "parameters.fixed.value", "nested too deeply")
    fan: list[Any] = []
    fan.extend([fan] * 9)  # contains itself nine times: 9**100 values when walked
    s["parameters"]["fixed"] = {"value": fan}
    with pytest.raises(ValidationError, match="sweep spec: more than 100,000 values"):
        normalize(s)


def _nested(depth: int) -> Any:
    v: Any = 1
    for _ in range(depth):
        v = [v]
    return v


BAD_PARAMETERS: list[Any] = [
    # wrong types for bounds
    pytest.param({"distribution": "uniform", "min": "0", "max": 1}, "x.min", "number", id="s-min"),
    pytest.param({"distribution": "uniform", "min": 0, "max": "1"}, "x.max", "number", id="s-max"),
    pytest.param({"distribution": "uniform", "min": None, "max": 1}, "x.min", "number", id="n-min"),
    pytest.param({"distribution": "uniform", "min": 0, "max": None}, "x.max", "number", id="n-max"),
    pytest.param({"distribution": "uniform", "min": True, "max": 2}, "x.min", "number", id="b-min"),
    pytest.param({"distribution": "int", "min": 0, "max": True}, "x.max", "integer", id="b-max"),
    pytest.param({"distribution": "uniform", "min": [0], "max": 1}, "x.min", "number", id="l-min"),
    pytest.param({"distribution": "uniform", "min": NAN, "max": 1}, "x.min", "finite", id="nan"),
    pytest.param({"distribution": "uniform", "min": 0, "max": INF}, "x.max", "finite", id="inf"),
    pytest.param({"distribution": "uniform", "min": -INF, "max": 0}, "x.min", "finite", id="-inf"),
    pytest.param({"distribution": "uniform", "max": 1}, "x", "needs min", id="no-min"),
    pytest.param({"distribution": "int", "min": 1}, "x", "needs max", id="no-max"),
    # ranges
    pytest.param({"distribution": "uniform", "min": 1, "max": 0}, "x", "above max", id="min>max"),
    pytest.param({"distribution": "int", "min": 5, "max": 2}, "x", "above max", id="int-min>max"),
    pytest.param(
        {"distribution": "uniform", "min": -1e308, "max": 1e308},
        "x",
        "range",
        id="range-overflow",
    ),
    pytest.param(
        {"distribution": "log_uniform", "min": 0, "max": 1}, "x.min", "above 0", id="log-0"
    ),
    pytest.param(
        {"distribution": "log_uniform", "min": -1, "max": 1}, "x.min", "above 0", id="log-neg"
    ),
    pytest.param(
        {"distribution": "uniform", "min": 0.0, "max": 1, "log": True},
        "x.min",
        "log scale",
        id="uniform-log-0",
    ),
    pytest.param(
        {"distribution": "int", "min": 0, "max": 8, "log": True}, "x.min", "log", id="int-log-0"
    ),
    pytest.param(
        {"distribution": "log_int", "min": -2, "max": 8}, "x.min", "log", id="log-int-neg"
    ),
    # int bounds and steps
    pytest.param({"distribution": "int", "min": 2.5, "max": 8}, "x.min", "integer", id="i-fmin"),
    pytest.param({"distribution": "int", "min": 2, "max": 8.5}, "x.max", "integer", id="i-fmax"),
    pytest.param(
        {"distribution": "int", "min": 2, "max": 8, "step": 0}, "x.step", "1 or more", id="i-s0"
    ),
    pytest.param(
        {"distribution": "int", "min": 2, "max": 8, "step": -2}, "x.step", "1 or more", id="i-sn"
    ),
    pytest.param(
        {"distribution": "int", "min": 2, "max": 8, "step": 1.5}, "x.step", "integer", id="i-sf"
    ),
    pytest.param(
        {"distribution": "int", "min": 2, "max": 8, "step": "2"}, "x.step", "integer", id="i-ss"
    ),
    pytest.param(
        {"distribution": "int", "min": 1, "max": 8, "log": True, "step": 2},
        "x.step",
        "no step",
        id="i-log-step",
    ),
    pytest.param(
        {"distribution": "int", "min": 2, "max": 12, "step": 3},
        "x.step",
        "does not divide the range",
        id="i-step-nofit",
    ),
    pytest.param(
        {"distribution": "int", "min": 2, "max": 3, "step": 5},
        "x.step",
        "does not divide the range",
        id="i-step-too-big",
    ),
    # float steps
    pytest.param(
        {"distribution": "uniform", "min": 0, "max": 1, "step": 0}, "x.step", "above 0", id="s0"
    ),
    pytest.param(
        {"distribution": "uniform", "min": 0, "max": 1, "step": -0.1}, "x.step", "above 0", id="sn"
    ),
    pytest.param(
        {"distribution": "uniform", "min": 0, "max": 1, "step": "0.1"}, "x.step", "number", id="ss"
    ),
    pytest.param(
        {"distribution": "uniform", "min": 0, "max": 1, "step": NAN}, "x.step", "finite", id="snan"
    ),
    pytest.param(
        {"distribution": "uniform", "min": 0, "max": 1, "step": 2},
        "x.step",
        "larger than the range",
        id="s-big",
    ),
    pytest.param(
        {"distribution": "log_uniform", "min": 1e-3, "max": 1, "step": 0.1},
        "x.step",
        "no step",
        id="log-step",
    ),
    pytest.param(
        {"distribution": "uniform", "min": 0, "max": 1, "step": 0.3},
        "x.step",
        "does not divide the range",
        id="s-nofit",
    ),
    # distribution and log
    pytest.param(
        {"distribution": "normal", "min": 0, "max": 1}, "x.distribution", "one of", id="d"
    ),
    pytest.param({"distribution": None, "min": 0, "max": 1}, "x.distribution", "one of", id="d0"),
    pytest.param(
        {"distribution": ["int"], "min": 0, "max": 1}, "x.distribution", "one of", id="dl"
    ),
    pytest.param(
        {"distribution": "uniform", "min": 1, "max": 2, "log": "yes"}, "x.log", "true or", id="log"
    ),
    pytest.param(
        {"distribution": "int", "min": 1, "max": 2, "log": 1}, "x.log", "true or false", id="log1"
    ),
    pytest.param(
        {"distribution": "log_uniform", "min": 1, "max": 2, "log": False},
        "x.log",
        "log scale",
        id="log-false",
    ),
    # kinds and keys
    pytest.param({"step": 1}, "x", "exactly one of", id="no-kind"),
    pytest.param({"min": 0}, "x", "an int distribution needs max", id="inferred-without-max"),
    pytest.param({"max": 1.5}, "x", "a uniform distribution needs min", id="inferred-no-min"),
    pytest.param({"values": [1, 2], "value": 1}, "x", "exactly one of", id="two-kinds"),
    pytest.param(
        {"values": [1], "distribution": "int", "min": 0, "max": 1}, "x", "exactly one", id="k3"
    ),
    pytest.param({"values": [1, 2], "min": 0}, "x", "'min' only applies", id="values-min"),
    pytest.param({"value": 1, "step": 1}, "x", "'step' only applies", id="value-step"),
    pytest.param({"choices": [1, 2]}, "x", "unknown key 'choices'", id="unknown-key"),
    pytest.param({}, "x", "exactly one of", id="empty-mapping"),
    # categorical values
    pytest.param({"values": []}, "x.values", "non-empty list", id="values-empty"),
    pytest.param([], "x.values", "non-empty list", id="shorthand-empty"),
    pytest.param({"values": "abc"}, "x.values", "non-empty list", id="values-str"),
    pytest.param({"values": None}, "x.values", "non-empty list", id="values-null"),
    pytest.param({"values": (1, 2)}, "x.values", "non-empty list", id="values-tuple"),
    pytest.param({"values": [[1], 2]}, "x.values[0]", "(list) must be", id="values-list"),
    pytest.param({"values": [1, {"a": 1}]}, "x.values[1]", "(dict) must be", id="values-dict"),
    pytest.param({"values": [1, {2}]}, "x.values[1]", "(set) must be", id="values-set"),
    pytest.param([1, NAN], "x.values[1]", "finite", id="values-nan"),
    pytest.param([INF], "x.values[0]", "finite", id="values-inf"),
    pytest.param([1, 2, 1], "x.values", "listed twice", id="dup-int"),
    pytest.param(["a", "b", "a"], "x.values", "listed twice", id="dup-str"),
    pytest.param([None, None], "x.values", "listed twice", id="dup-null"),
    pytest.param(list(range(MAX_CHOICES + 1)), "x.values", f"at most {MAX_CHOICES}", id="too-many"),
    pytest.param(
        [1, 1.0],
        "x.values",
        "listed twice",
        id="dup-1-1.0",
    ),
    pytest.param(
        [True, 1],
        "x.values",
        "listed twice",
        id="dup-True-1",
    ),
    pytest.param(
        [0, False],
        "x.values",
        "listed twice",
        id="dup-0-False",
    ),
    # fixed values
    pytest.param({"value": NAN}, "x.value", "finite", id="value-nan"),
    pytest.param(INF, "x.value", "finite", id="shorthand-inf"),
    pytest.param({"value": {1: "a"}}, "x.value", "must be a string", id="value-int-key"),
    pytest.param({"value": {"a": {3}}}, "x.value", "(set) must be", id="value-set"),
    pytest.param({"value": [1, object()]}, "x.value", "(object) must be", id="value-object"),
    pytest.param((1, 2), "x.value", "(tuple) must be", id="shorthand-tuple"),
    pytest.param({"value": _nested(25)}, "x.value", "nested too deeply", id="value-deep"),
]


@pytest.mark.parametrize(("definition", "field", "what"), BAD_PARAMETERS)
def test_bad_parameter_definitions_are_refused(definition: Any, field: str, what: str) -> None:
    refused(with_param(definition), f"parameters.{field}", what)


def test_a_null_int_step_means_the_default_step() -> None:
    x = normalize(with_param({"distribution": "int", "min": 2, "max": 8, "step": None}))
    assert x["parameters"]["x"]["step"] == 1


# --------------------------------------------------------------------------------------------
# Refused: conditions
# --------------------------------------------------------------------------------------------


def momentum_when(when: Any) -> dict[str, Any]:
    params = base_params()
    params["momentum"]["when"] = when
    return spec(parameters=params)


BAD_WHEN: list[Any] = [
    pytest.param("sgd", "parameters.momentum.when", "other_parameter", id="str"),
    pytest.param(["optimizer"], "parameters.momentum.when", "other_parameter", id="list"),
    pytest.param({}, "parameters.momentum.when", "other_parameter", id="empty"),
    pytest.param(None, "parameters.momentum.when", "other_parameter", id="null"),
    pytest.param({1: "sgd"}, "parameters.momentum.when", "parameter name", id="int-key"),
    pytest.param({"optimizer": []}, "parameters.momentum.when.optimizer", "at least one", id="[]"),
    pytest.param({"nope": "sgd"}, "parameters.momentum.when", "'nope' is not a param", id="unk"),
    pytest.param({"Optimizer": "sgd"}, "parameters.momentum.when", "not a parameter", id="case"),
    pytest.param({"momentum": 0.5}, "parameters.momentum.when", "itself", id="self"),
    pytest.param({"epochs": 20}, "parameters.momentum.when", "'epochs' is fixed", id="on-fixed"),
    pytest.param(
        {"optimizer": "rmsprop"},
        "parameters.momentum.when.optimizer",
        "'rmsprop' is not one of optimizer's values",
        id="impossible-value",
    ),
    pytest.param(
        {"optimizer": ["sgd", "rmsprop"]},
        "parameters.momentum.when.optimizer",
        "'rmsprop' is not one of",
        id="one-impossible-of-two",
    ),
    pytest.param(
        {"optimizer": True}, "parameters.momentum.when.optimizer", "is not one of", id="bool"
    ),
    pytest.param(
        {"optimizer": ["sgd", ["adam"]]},
        "parameters.momentum.when.optimizer",
        "(list) must be",
        id="nested-list",
    ),
    pytest.param(
        {"optimizer": {"sgd": 1}}, "parameters.momentum.when.optimizer", "(dict) must", id="dict"
    ),
    pytest.param({"optimizer": NAN}, "parameters.momentum.when.optimizer", "finite", id="nan"),
    pytest.param(
        {"depth": 100},
        "parameters.momentum.when.depth",
        "is outside depth",
        id="int-out-of-range",
    ),
    pytest.param(
        {"depth": 2.5},
        "parameters.momentum.when.depth",
        "is not a value depth can take",
        id="int-fraction",
    ),
    pytest.param(
        {"depth": "deep"},
        "parameters.momentum.when.depth",
        "must be a number",
        id="int-str",
    ),
    pytest.param(
        {"lr": 0.5},
        "parameters.momentum.when.lr",
        "is outside lr",
        id="float-out-of-range",
    ),
]


@pytest.mark.parametrize(("when", "field", "what"), BAD_WHEN)
def test_bad_conditions_are_refused(when: Any, field: str, what: str) -> None:
    refused(momentum_when(when), field, what)


def test_a_condition_on_a_value_of_an_int_parameter_is_accepted() -> None:
    out = normalize(momentum_when({"depth": [2, 12]}))
    assert out["parameters"]["momentum"]["when"] == {"depth": [2, 12]}


@pytest.mark.parametrize(
    "params",
    [
        {"a": {"values": [1, 2], "when": {"b": 1}}, "b": {"values": [1, 2], "when": {"a": 1}}},
        {
            "a": {"values": [1, 2], "when": {"c": 1}},
            "b": {"values": [1, 2], "when": {"a": 1}},
            "c": {"values": [1, 2], "when": {"b": 2}},
            "d": [1, 2],
        },
    ],
    ids=["two", "three"],
)
def test_conditions_that_form_a_cycle_are_refused(params: dict[str, Any]) -> None:
    msg = refused(spec(parameters=params), "parameters", "conditions form a cycle")
    assert "a -> " in msg and msg.rstrip().endswith("a")


def test_a_condition_chain_that_can_never_hold_is_refused() -> None:
    params = {
        "kind": ["x", "y"],
        "b": {"values": [1, 2], "when": {"kind": "y"}},  # exists only when kind == y
        "a": {"values": [1, 2], "when": {"b": 1, "kind": "x"}},  # needs b and kind == x
    }
    refused(spec(parameters=params), "parameters.a.when", "can never hold")


# --------------------------------------------------------------------------------------------
# check_command
# --------------------------------------------------------------------------------------------


def test_check_command_accepts_parameters_and_keywords() -> None:
    s = normalize(spec())
    cmd = ["${interpreter}", "t.py", "--lr=${lr}", "${momentum}", "${args}", "${args_no_hyphens}"]
    check_command([*cmd, "${run_id}", "${trial}", "${sweep_id}", "plain", "$lr", "${lr"], s)


@pytest.mark.parametrize("token", ["${nope}", "--x=${lr}${nope}", "${LR}", "${ lr }", "${}"])
def test_check_command_refuses_an_unknown_placeholder(token: str) -> None:
    s = normalize(spec())
    with pytest.raises(ValidationError) as info:
        check_command(["python", token], s)
    assert info.type is ValidationError
    msg = str(info.value)
    assert msg.startswith("sweep spec: command: argument ")
    assert "is not a parameter of the sweep" in msg and "lr" in msg


# --------------------------------------------------------------------------------------------
# choose / is_active / suggestion_order
# --------------------------------------------------------------------------------------------


def test_choose_includes_a_conditional_parameter_only_when_its_condition_holds() -> None:
    s = normalize(spec())
    for optimizer in ("adam", "sgd"):
        picks: dict[str, Any] = {
            "lr": 1e-3,
            "depth": 4,
            "dropout": 0.1,
            "optimizer": optimizer,
            "momentum": 0.9,
        }
        asked: list[str] = []

        def pick(name: str, picks: dict[str, Any] = picks, asked: list[str] = asked) -> Any:
            asked.append(name)
            return picks[name]

        out = choose(s, pick)
        assert ("momentum" in out) == (optimizer == "sgd")
        assert "epochs" not in out  # fixed values are not searched
        assert asked == [n for n in ["lr", "depth", "dropout", "optimizer", "momentum"] if n in out]


def test_choose_asks_a_parent_before_a_child_declared_earlier() -> None:
    s = normalize(
        {
            "metric": "loss",
            "parameters": {
                "nesterov": {"values": [True, False], "when": {"momentum_kind": "nag"}},
                "momentum_kind": {"values": ["plain", "nag"], "when": {"opt": "sgd"}},
                "opt": ["adam", "sgd"],
            },
        }
    )
    asked: list[str] = []
    values = {"opt": "sgd", "momentum_kind": "nag", "nesterov": True}

    def pick(name: str) -> Any:
        asked.append(name)
        return values[name]

    assert choose(s, pick) == values
    assert asked == ["opt", "momentum_kind", "nesterov"]


def test_choose_skips_a_whole_inactive_chain() -> None:
    s = normalize(
        {
            "metric": "loss",
            "parameters": {
                "opt": ["adam", "sgd"],
                "momentum_kind": {"values": ["plain", "nag"], "when": {"opt": "sgd"}},
                "nesterov": {"values": [True, False], "when": {"momentum_kind": "nag"}},
            },
        }
    )
    assert choose(s, lambda n: {"opt": "adam"}[n]) == {"opt": "adam"}
    plain = {"opt": "sgd", "momentum_kind": "plain"}
    assert choose(s, lambda n: plain[n]) == plain


def test_choose_needs_every_condition_of_a_parameter() -> None:
    s = normalize(
        {
            "metric": "loss",
            "parameters": {
                "opt": ["adam", "sgd"],
                "sched": ["cos", "step"],
                "gamma": {"values": [0.1, 0.5], "when": {"opt": "sgd", "sched": ["step"]}},
            },
        }
    )
    for opt in ("adam", "sgd"):
        for sched in ("cos", "step"):
            picks = {"opt": opt, "sched": sched, "gamma": 0.5}
            out = choose(s, lambda n, picks=picks: picks[n])
            assert ("gamma" in out) == (opt == "sgd" and sched == "step")


def test_choose_lets_pick_abandon_the_walk() -> None:
    s = normalize(spec())
    asked: list[str] = []

    def pick(name: str) -> Any:
        asked.append(name)
        if name == "optimizer":
            raise LookupError(name)
        return 1

    with pytest.raises(LookupError):
        choose(s, pick)
    assert asked == ["lr", "depth", "dropout", "optimizer"]


def test_is_active() -> None:
    cond = {"when": {"opt": ["sgd", "rmsprop"]}}
    assert is_active({}, {}) is True
    assert is_active({"distribution": "int"}, {"opt": "adam"}) is True
    assert is_active(cond, {"opt": "sgd"}) is True
    assert is_active(cond, {"opt": "rmsprop"}) is True
    assert is_active(cond, {"opt": "adam"}) is False
    assert is_active(cond, {}) is False  # the parameter it depends on is itself inactive
    assert is_active({"when": {"n": [1]}}, {"n": 1.0}) is True  # numbers compare by value
    assert is_active({"when": {"n": [1.0]}}, {"n": 1}) is True
    assert is_active({"when": {"n": [1]}}, {"n": True}) is False  # a bool is not a number
    assert is_active({"when": {"s": ["1"]}}, {"s": 1}) is False
    both = {"when": {"a": [1], "b": ["x"]}}
    assert is_active(both, {"a": 1, "b": "x"}) is True
    assert is_active(both, {"a": 1, "b": "y"}) is False
    assert is_active(both, {"a": 1}) is False


def test_suggestion_order_puts_each_parameter_after_its_conditions() -> None:
    params: dict[str, dict[str, Any]] = {
        "d": {"when": {"c": ["x"]}},
        "a": {},
        "c": {"when": {"b": [1]}},
        "e": {"when": {"a": [1], "d": [2]}},
        "b": {},
    }
    order = suggestion_order(params)
    assert sorted(order) == sorted(params)
    for name, p in params.items():
        for other in p.get("when", {}):
            assert order.index(other) < order.index(name), order
    assert order == ["b", "c", "d", "a", "e"]
    independent = {n: {} for n in "zyxw"}
    assert suggestion_order(independent) == list("zyxw")  # stable otherwise


def test_suggestion_order_refuses_a_cycle() -> None:
    with pytest.raises(ValidationError) as info:
        suggestion_order(
            {"a": {"when": {"b": [1]}}, "b": {"when": {"c": [1]}}, "c": {"when": {"a": [1]}}}
        )
    assert info.type is ValidationError
    assert "sweep spec: parameters: conditions form a cycle: a -> b -> c -> a" in str(info.value)


def test_is_active_does_not_match_a_number_against_a_bool_condition() -> None:
    assert is_active({"when": {"f": [True]}}, {"f": 1}) is False
    assert is_active({"when": {"f": [False]}}, {"f": 0.0}) is False


@pytest.mark.parametrize(
    "dist",
    [
        {"distribution": "uniform", "min": 1.5, "max": 1.5},
        {"distribution": "int", "min": 3, "max": 3},
    ],
)
def test_a_range_of_one_point_is_accepted_and_suggests_that_point(dist: dict[str, Any]) -> None:
    out = normalize(
        {"metric": "loss", "parameters": {"x": dist, "y": {"values": ["a", "b"]}}, "seed": 0}
    )
    assert out["parameters"]["x"]["min"] == out["parameters"]["x"]["max"] == dist["min"]
    chosen = choose(out, lambda name: dist["min"] if name == "x" else "a")
    assert chosen["x"] == dist["min"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"parameters": {"x": {1: 2, "a": 3}}}, "parameters.x"),
        ({"metric": {"name": "loss", 1: 2, "b": 1}}, "metric"),
        ({"budget": {1: 2, "z": 1}}, "budget"),
        ({"warm_start": {1: 2, "z": 1}}, "warm_start"),
    ],
)
def test_unknown_keys_of_mixed_types_are_refused_by_name_not_crashed_on(
    change: dict[str, Any], field: str
) -> None:
    # sorting {1, "a"} raised TypeError: a stack trace instead of the key at fault
    refused({**with_param([1, 2]), **change}, field, "unknown key")
