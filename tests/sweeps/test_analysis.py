"""What a sweep found, through the SDK and ``runtrack sweep show`` on the embedded store:
the best trial (minimize, maximize, ties, none yet), the Pareto front of several
objectives, parameter importance (PED-ANOVA, fANOVA on request) and the optimisation
history."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from click.testing import CliRunner

import runtrack
from runtrack.cli import cli
from runtrack.client._sweep_api import SweepView
from runtrack.errors import ValidationError

pytestmark = pytest.mark.usefixtures("sdk")

UNIFORM = {"distribution": "uniform", "min": -1.0, "max": 1.0}


def spec(goal: str = "minimize", trials: int = 10, **changes: Any) -> dict[str, Any]:
    s: dict[str, Any] = {
        "metric": {"name": "loss", "goal": goal},
        "parameters": {"x": UNIFORM},
        "method": "random",
        "budget": {"trials": trials},
        "seed": 0,
    }
    s.update(changes)
    return s


Outcome = float | tuple[str, float | None] | Sequence[float]


def by_hand(s: dict[str, Any], outcomes: Sequence[Outcome]) -> SweepView:
    """Ask one trial per outcome and tell it: a number (complete), a list (complete, several
    objectives), or (state, value) for a pruned or failed trial."""
    sw = runtrack.Api().create_sweep(s, project="analysis")
    for out in outcomes:
        t = sw.ask()
        assert t is not None
        if isinstance(out, tuple) and isinstance(out[0], str):
            state, value = out
            sw.tell(t, value, state=state, error="boom" if state == "failed" else None)
        else:
            sw.tell(t, out)  # type: ignore[arg-type]
    return sw.refresh()


def run_all(s: dict[str, Any], objective: Callable[[dict[str, Any]], Any]) -> SweepView:
    sw = runtrack.Api().create_sweep(s, project="analysis")
    while (t := sw.ask()) is not None:
        sw.tell(t, objective(dict(t.params)))
    return sw.refresh()


def cli_run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


# -- the best trial ------------------------------------------------------------------------
def test_best_trial_is_the_lowest_value_when_minimizing() -> None:
    sw = by_hand(spec(trials=4), [3.0, 1.0, 2.0, 1.5])
    best = sw.best_trial
    assert best is not None and best.number == 1 and best.values == (1.0,)
    run = sw.best
    assert run is not None and run.id == best.run_id
    assert run.config["x"] == best.params["x"] and run.summary["loss"] == 1.0
    a = sw.analysis()
    assert a["best"]["number"] == 1 and a["best"]["values"] == [1.0]
    assert a["pareto"] == []


def test_best_trial_is_the_highest_value_when_maximizing() -> None:
    sw = by_hand(spec(goal="maximize", trials=4), [3.0, 1.0, 7.5, 1.5])
    assert sw.best_trial is not None and sw.best_trial.number == 2
    assert sw.analysis()["best"]["values"] == [7.5]


@pytest.mark.parametrize("goal", ["minimize", "maximize"])
def test_ties_go_to_the_earliest_trial(goal: str) -> None:
    values = [4.0, 2.0, 2.0, 4.0, 2.0] if goal == "minimize" else [2.0, 4.0, 4.0, 2.0, 4.0]
    sw = by_hand(spec(goal=goal, trials=5), values)
    assert sw.best_trial is not None and sw.best_trial.number == 1
    assert sw.analysis()["best"]["number"] == 1


def test_a_sweep_without_trials_has_no_best_and_an_empty_analysis() -> None:
    sw = runtrack.Api().create_sweep(spec(), project="analysis")
    assert sw.best_trial is None and sw.best is None and sw.counts == {}
    a = sw.analysis()
    assert a["best"] is None and a["history"] == [] and a["parallel"] == []
    assert a["importance"] is None and a["importance_method"] is None
    assert a["parameters"] == ["x"]


def test_a_sweep_without_a_complete_trial_has_no_best() -> None:
    sw = by_hand(
        spec(trials=6),
        [("failed", None), ("pruned", 0.5), ("failed", None), ("pruned", None), ("pruned", 0.1)],
    )
    assert sw.best_trial is None and sw.best is None
    assert sw.counts == {"failed": 2, "pruned": 3}
    for method in ("ped_anova", "fanova"):
        a = sw.analysis(method)
        assert a["best"] is None and a["importance"] is None
        assert [h["state"] for h in a["history"]] == [
            "failed",
            "pruned",
            "failed",
            "pruned",
            "pruned",
        ]
        assert [h["best"] for h in a["history"]] == [None] * 5
        assert [h["value"] for h in a["history"]] == [None, 0.5, None, None, 0.1]


def test_pruned_and_failed_trials_are_excluded_from_best_but_shown_in_history() -> None:
    sw = by_hand(spec(trials=5), [5.0, ("pruned", 0.1), ("failed", None), 3.0, ("pruned", 4.0)])
    assert sw.counts == {"complete": 2, "pruned": 2, "failed": 1}
    assert sw.best_trial is not None and sw.best_trial.number == 3
    a = sw.analysis()
    assert a["best"]["number"] == 3
    assert [(h["number"], h["state"], h["value"], h["best"]) for h in a["history"]] == [
        (0, "complete", 5.0, 5.0),
        (1, "pruned", 0.1, 5.0),
        (2, "failed", None, 5.0),
        (3, "complete", 3.0, 3.0),
        (4, "pruned", 4.0, 3.0),
    ]
    # the parallel-coordinates table shows what has values: complete and pruned trials
    assert [(r["number"], r["state"]) for r in a["parallel"]] == [
        (0, "complete"),
        (1, "pruned"),
        (3, "complete"),
        (4, "pruned"),
    ]


def test_a_non_finite_value_fails_the_trial_and_is_never_best() -> None:
    sw = by_hand(spec(trials=3), [2.0, float("nan"), float("-inf")])
    states = [t.state for t in sw.trials()]
    assert states == ["complete", "failed", "failed"]
    assert sw.best_trial is not None and sw.best_trial.number == 0
    assert "not finite" in (sw.trials()[1].error or "")
    assert [h["value"] for h in sw.analysis()["history"]] == [2.0, None, None]


# -- history ---------------------------------------------------------------------------------
@pytest.mark.parametrize("goal", ["minimize", "maximize"])
def test_history_is_in_trial_order_with_the_best_so_far(goal: str) -> None:
    rng = random.Random(7)
    values = [rng.uniform(-5, 5) for _ in range(20)]
    sw = by_hand(spec(goal=goal, trials=20), values)
    hist = sw.analysis()["history"]
    assert [h["number"] for h in hist] == list(range(20))
    assert [h["value"] for h in hist] == values
    pick = min if goal == "minimize" else max
    assert [h["best"] for h in hist] == [pick(values[: i + 1]) for i in range(20)]
    assert all(h["warm"] is False and h["sampler"] == "random" for h in hist)
    assert sw.best_trial is not None and sw.best_trial.value == pick(values)


def test_history_leaves_out_running_trials() -> None:
    sw = runtrack.Api().create_sweep(spec(trials=3), project="analysis")
    first, second = sw.ask(), sw.ask()
    assert first is not None and second is not None
    sw.tell(second, 1.0)
    hist = sw.analysis()["history"]
    assert [(h["number"], h["state"]) for h in hist] == [(1, "complete")]
    assert sw.refresh().counts == {"running": 1, "complete": 1}


# -- Pareto front ----------------------------------------------------------------------------
TWO = [{"name": "loss", "goal": "minimize"}, {"name": "acc", "goal": "maximize"}]


def _non_dominated(points: dict[int, tuple[float, float]]) -> set[int]:
    """Brute force for (minimize, maximize): no other point at least as good on both and
    better on one."""

    def dominates(p: tuple[float, float], q: tuple[float, float]) -> bool:
        return p[0] <= q[0] and p[1] >= q[1] and (p[0] < q[0] or p[1] > q[1])

    return {n for n, q in points.items() if not any(dominates(p, q) for p in points.values())}


def test_pareto_front_of_two_objectives_with_mixed_goals_is_the_non_dominated_set() -> None:
    s = spec(trials=40)
    del s["metric"]
    s["metrics"] = TWO
    s["parameters"] = {"x": {"distribution": "uniform", "min": 0.0, "max": 1.0}, "y": UNIFORM}

    def objective(p: dict[str, Any]) -> list[float]:
        # loss grows with x, accuracy too (a trade-off); y only adds noise to both
        return [p["x"] ** 2 + 0.3 * abs(p["y"]), math.sqrt(p["x"]) - 0.2 * p["y"] ** 2]

    sw = run_all(s, objective)
    trials = sw.trials()
    assert sw.counts == {"complete": 40}
    points = {t.number: (t.values[0], t.values[1]) for t in trials if t.values}  # type: ignore[index]
    want = _non_dominated(points)
    assert 1 < len(want) < 40
    assert {t.number for t in sw.pareto} == want
    assert [t.number for t in sw.pareto] == sorted(want)
    assert sw.best_trial is None and sw.best is None  # several objectives: see the front
    a = sw.analysis()
    assert a["best"] is None and a["importance"] is None
    assert [p["number"] for p in a["pareto"]] == sorted(want)
    assert a["metrics"] == TWO
    assert all(set(r["values"]) == {"loss", "acc"} for r in a["parallel"])


def test_pareto_front_leaves_out_failed_trials() -> None:
    s = spec(trials=4)
    del s["metric"]
    s["metrics"] = TWO
    sw = by_hand(s, [[2.0, 0.5], ("failed", None), [1.0, 0.4], [3.0, 0.1]])
    assert [t.number for t in sw.pareto] == [0, 2]


def test_pareto_front_keeps_trials_with_equal_values() -> None:
    s = spec(trials=4)
    del s["metric"]
    s["metrics"] = TWO
    sw = by_hand(s, [[1.0, 0.5], [1.0, 0.5], [2.0, 0.9], [3.0, 0.1]])
    points = {t.number: (t.values[0], t.values[1]) for t in sw.trials() if t.values}  # type: ignore[index]
    assert _non_dominated(points) == {0, 1, 2}
    assert [t.number for t in sw.pareto] == [0, 1, 2]


# -- parameter importance --------------------------------------------------------------------
IMPORTANCE_SPACE = {
    "a": UNIFORM,
    "noise": {"distribution": "uniform", "min": 0.0, "max": 1.0},
    "kind": {"values": ["p", "q", "r"]},
}


@pytest.mark.parametrize("goal", ["minimize", "maximize"])
def test_importance_goes_to_the_parameter_that_drives_the_objective(goal: str) -> None:
    sign = 1.0 if goal == "minimize" else -1.0
    sw = run_all(
        spec(goal=goal, trials=50, parameters=IMPORTANCE_SPACE),
        lambda p: sign * p["a"] ** 2,
    )
    ped = sw.analysis()
    assert ped["importance_method"] == "ped_anova"
    imp = ped["importance"]
    assert set(imp) == {"a", "noise", "kind"}
    assert sum(imp.values()) == pytest.approx(1.0)
    assert all(v >= 0 for v in imp.values())
    assert imp["a"] > 0.8 and imp["noise"] < 0.1 and imp["kind"] < 0.1, imp
    fan = sw.analysis("fanova")
    assert fan["importance_method"] == "fanova"
    fimp = fan["importance"]
    assert set(fimp) == set(imp)
    assert sum(fimp.values()) == pytest.approx(1.0)
    assert max(fimp, key=fimp.__getitem__) == max(imp, key=imp.__getitem__) == "a"
    assert fimp["noise"] < 0.1 and fimp["kind"] < 0.1, fimp
    assert json.dumps(ped) and json.dumps(fan)  # JSON-ready


def test_importance_none_skips_it_and_an_unknown_method_is_refused() -> None:
    sw = run_all(spec(trials=6), lambda p: p["x"] ** 2)
    a = sw.analysis("none")
    assert a["importance"] is None and a["importance_method"] is None
    assert len(a["history"]) == 6  # the rest is there
    with pytest.raises(ValidationError, match="ped_anova, fanova, none"):
        sw.analysis("shap")


@pytest.mark.parametrize("n, has_importance", [(1, False), (3, False), (4, True)])
def test_importance_needs_a_few_complete_trials(n: int, has_importance: bool) -> None:
    sw = run_all(spec(trials=n), lambda p: p["x"] ** 2)
    a = sw.analysis()
    assert (a["importance"] is not None) is has_importance
    assert len(a["history"]) == n and a["best"] is not None
    if n == 1:
        assert a["history"][0]["best"] == a["history"][0]["value"]


def test_parameters_that_never_vary_get_no_importance() -> None:
    params = {
        "a": UNIFORM,
        "only": {"values": ["one"]},
        "k": {"distribution": "int", "min": 3, "max": 3},
        "epochs": {"value": 5},
    }
    sw = run_all(spec(trials=12, parameters=params), lambda p: p["a"] ** 2)
    for method in ("ped_anova", "fanova"):
        a = sw.analysis(method)
        assert a["parameters"] == ["a", "only", "k"]  # a fixed value is no parameter
        imp = a["importance"]
        assert imp is not None and "epochs" not in imp
        assert imp["a"] == pytest.approx(1.0)
        assert imp.get("only", 0.0) == 0.0 and imp.get("k", 0.0) == 0.0


@pytest.mark.parametrize(
    "method",
    ["ped_anova", "fanova"],
)
def test_a_constant_objective_gives_no_parameter_importance(method: str) -> None:
    params = {"a": UNIFORM, "b": UNIFORM}
    sw = run_all(spec(trials=8, parameters=params), lambda p: 1.0)
    imp = sw.analysis(method)["importance"]
    assert imp is None or all(v == 0.0 for v in imp.values()), imp


@pytest.mark.parametrize(
    "method",
    ["ped_anova", "fanova"],
)
def test_a_lone_parameter_that_never_varies_explains_nothing(method: str) -> None:
    rng = random.Random(3)
    sw = run_all(spec(trials=8, parameters={"only": {"values": ["one"]}}), lambda p: rng.random())
    imp = sw.analysis(method)["importance"]
    assert imp is None or imp == {"only": 0.0}, imp


# -- runtrack sweep show --------------------------------------------------------------------
def _finished_sweep() -> SweepView:
    return run_all(
        spec(trials=12, parameters={"a": UNIFORM, "noise": UNIFORM}),
        lambda p: (p["a"] - 0.25) ** 2,
    )


def test_sweep_show_json_has_best_counts_importance_and_history() -> None:
    sw = _finished_sweep()
    code, out, err = cli_run("sweep", "show", sw.id, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["id"] == sw.id and doc["status"] == "finished"
    assert doc["counts"] == {"complete": 12} and doc["budget_used"] == 12
    best = sw.best_trial
    assert best is not None
    assert doc["best"]["number"] == best.number and doc["best"]["run_id"] == best.run_id
    assert doc["best"]["values"] == [best.value]
    a = doc["analysis"]
    assert a["best"]["number"] == best.number
    assert a["importance_method"] == "ped_anova"
    assert set(a["importance"]) == {"a", "noise"}
    assert sum(a["importance"].values()) == pytest.approx(1.0)
    assert [h["number"] for h in a["history"]] == list(range(12))
    assert a["history"][-1]["best"] == best.value
    assert len(doc["trials"]) == 12 and len(a["parallel"]) == 12
    code, out, _ = cli_run("sweep", "show", sw.id, "--json", "--importance", "fanova")
    assert code == 0 and json.loads(out)["analysis"]["importance_method"] == "fanova"
    code, out, _ = cli_run("sweep", "show", sw.id, "--json", "--importance", "none")
    assert code == 0 and json.loads(out)["analysis"]["importance"] is None


def test_sweep_show_table_has_best_and_importance() -> None:
    sw = _finished_sweep()
    code, out, err = cli_run("sweep", "show", sw.id)
    assert code == 0, err
    best = sw.best_trial
    assert best is not None
    assert f"best: trial {best.number} (run {best.run_id})" in out
    assert "parameter importance (ped_anova)" in out
    assert "12 complete" in out and "Traceback" not in out + err


def test_sweep_show_without_a_complete_trial() -> None:
    sw = by_hand(spec(trials=2), [("failed", None), ("pruned", 3.0)])
    code, out, err = cli_run("sweep", "show", sw.id)
    assert code == 0, err
    assert "best: no complete trial yet" in out and "1 pruned, 1 failed" in out
    code, out, err = cli_run("sweep", "show", sw.id, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["best"] is None and doc["analysis"]["best"] is None
    assert doc["analysis"]["importance"] is None
    assert [h["state"] for h in doc["analysis"]["history"]] == ["failed", "pruned"]


def test_sweep_show_of_several_objectives_shows_the_pareto_front() -> None:
    s = spec(trials=3)
    del s["metric"]
    s["metrics"] = TWO
    sw = by_hand(s, [[1.0, 0.2], [2.0, 0.9], [3.0, 0.1]])
    code, out, err = cli_run("sweep", "show", sw.id)
    assert code == 0, err
    assert "Pareto front: 2 trial(s)" in out
    code, out, _ = cli_run("sweep", "show", sw.id, "--json")
    doc = json.loads(out)
    assert [p["number"] for p in doc["pareto"]] == [0, 1] and doc["best"] is None
    assert [p["number"] for p in doc["analysis"]["pareto"]] == [0, 1]


@pytest.mark.parametrize("as_json", [False, True])
def test_sweep_show_of_an_unknown_id_is_a_clear_error(as_json: bool) -> None:
    args = ["sweep", "show", "0000nosuchsweep", *(["--json"] if as_json else [])]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    text = result.stdout + result.stderr
    assert "Traceback" not in text and "0000nosuchsweep" in text
    if as_json:
        doc = json.loads(result.stdout)
        assert doc["error"]["code"] == "sweep_not_found"
    else:
        assert result.stderr.startswith("error: ")
