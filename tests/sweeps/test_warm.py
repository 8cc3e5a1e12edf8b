"""Warm start on the embedded store, through the public SDK: finished runs of the project
whose config fits the space (and that logged every objective) are seeded into a new sweep
as complete ``warm`` trials that the sampler learns from but that do not use the budget;
every other run is left out, and nothing already recorded changes."""

from __future__ import annotations

import math
from typing import Any

import pytest

import runtrack
from runtrack.entities import SweepTrial
from runtrack.errors import RuntrackError, ValidationError

pytestmark = pytest.mark.usefixtures("sdk")

PROJECT = "warm"
FITS: dict[str, Any] = {"x": 0.5, "lr": 1e-3, "model": {"depth": 4}, "opt": "adam", "epochs": 4}


def space(**changes: Any) -> dict[str, Any]:
    s: dict[str, Any] = {
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {
            "x": {"distribution": "uniform", "min": -2.0, "max": 2.0},
            "lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-1},
            "model.depth": {"distribution": "int", "min": 2, "max": 8, "step": 2},
            "opt": {"values": ["adam", "sgd"]},
            "momentum": {"distribution": "uniform", "min": 0.0, "max": 0.9, "when": {"opt": "sgd"}},
            "epochs": {"value": 4},
        },
        "budget": {"trials": 2},
        "seed": 3,
        "warm_start": True,
    }
    s.update(changes)
    return s


def prior(
    config: dict[str, Any],
    metrics: list[dict[str, float]] | None = None,
    *,
    project: str = PROJECT,
    status: str = "finished",
) -> str:
    """A run recorded before the sweep: config, metrics logged in order, then ended with
    ``status`` ("running": flushed and left open)."""
    run = runtrack.init(project=project, config=config)
    for m in [{"loss": 1.0}] if metrics is None else metrics:
        run.log(m)
    if status == "running":
        run.flush()
    else:
        run.finish(status=status)
    return run.id


def create(spec: dict[str, Any], project: str = PROJECT) -> runtrack.SweepView:
    return runtrack.Api().create_sweep(spec, project=project)


def seeded(sw: runtrack.SweepView) -> dict[str, SweepTrial]:
    """The sweep's warm trials by the run they came from."""
    return {t.run_id: t for t in sw.trials() if t.warm}  # type: ignore[misc]


_DROP = object()  # with_(..., key=_DROP): the key is left out


def with_(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = {**base, **changes}
    return {k: v for k, v in out.items() if v is not _DROP}


# -- what is seeded ---------------------------------------------------------------------------
def test_fitting_finished_runs_are_seeded_as_complete_warm_trials_with_their_last_value() -> None:
    runs = {
        "adam": prior(FITS, [{"loss": 3.0}, {"loss": 0.25}]),  # the last value counts
        "bounds": prior(
            with_(FITS, x=-2.0, lr=1e-1, model={"depth": 8}), [{"loss": 0.5}]
        ),  # inclusive
        "int_as_float": prior(with_(FITS, x=1, model={"depth": 2.0}), [{"loss": 0.75}]),
        "sgd": prior(with_(FITS, opt="sgd", momentum=0.9), [{"loss": 1.5}]),
        # a conditional value whose condition does not hold is not part of the trial
        "adam_stray_momentum": prior(with_(FITS, momentum=0.3), [{"loss": 2.0}]),
        "extra_keys": prior(with_(FITS, batch=32, notes="x"), [{"loss": 2.5, "acc": 0.1}]),
    }
    sw = create(space())
    assert sw.counts == {"warm": len(runs)} and sw.record.budget_used == 0
    assert sw.status == "running"
    got = seeded(sw)
    assert set(got) == set(runs.values())
    for t in got.values():
        assert t.state == "complete" and t.sampler == "warm" and t.sweep_id == sw.id
    assert got[runs["adam"]].values == (0.25,)
    assert got[runs["adam"]].params == {"x": 0.5, "lr": 1e-3, "model.depth": 4, "opt": "adam"}
    assert got[runs["bounds"]].params == {"x": -2.0, "lr": 0.1, "model.depth": 8, "opt": "adam"}
    p = got[runs["int_as_float"]].params
    assert p == {"x": 1.0, "lr": 1e-3, "model.depth": 2, "opt": "adam"}
    assert type(p["x"]) is float and type(p["model.depth"]) is int
    assert got[runs["sgd"]].params["momentum"] == 0.9 and got[runs["sgd"]].values == (1.5,)
    assert "momentum" not in got[runs["adam_stray_momentum"]].params
    assert got[runs["extra_keys"]].params == got[runs["adam"]].params
    # numbered first, once each
    assert sorted(t.number for t in got.values()) == list(range(len(runs)))


def test_categorical_values_match_by_value_but_a_bool_is_not_a_number() -> None:
    spec = space(
        parameters={
            "n": {"values": [1, 2, "a", None]},
            "flag": {"values": [True, False]},
        }
    )
    one = prior({"n": 1.0, "flag": True})  # 1.0 is the choice 1
    none = prior({"n": None, "flag": False})
    prior({"n": True, "flag": True})  # True is not the number 1
    prior({"n": 1, "flag": 1})  # 1 is not True
    prior({"n": 2, "flag": 0})  # 0 is not False
    prior({"n": "1", "flag": True})  # a string is not the number 1
    prior({"n": "b", "flag": True})
    got = seeded(create(spec))
    assert set(got) == {one, none}
    assert got[one].params == {"n": 1, "flag": True}
    assert type(got[one].params["n"]) is int
    assert got[none].params == {"n": None, "flag": False}


def test_seeded_trials_do_not_use_the_budget_and_the_best_can_be_a_seeded_run() -> None:
    best = prior(with_(FITS, x=0.0), [{"loss": 0.01}])
    other = prior(with_(FITS, x=1.0), [{"loss": 0.5}])
    calls: list[dict[str, Any]] = []

    def train(run: runtrack.Run) -> None:
        calls.append(run.config.to_dict())
        run.log({"loss": 10.0})  # worse than every seeded run

    sw = runtrack.sweep(space(budget={"trials": 3}), train, project=PROJECT)
    # docs/sweeps.md: seeded runs "are complete trials of the search ... but do not use the
    # budget": the function still runs budget.trials times
    assert len(calls) == 3
    assert sw.status == "finished"
    assert sw.counts == {"warm": 2, "complete": 3} and sw.record.budget_used == 3
    assert sw.best is not None and sw.best.id == best
    assert sw.best_trial is not None and sw.best_trial.warm and sw.best_trial.value == 0.01
    trials = sw.trials()
    assert [t.number for t in trials] == list(range(5))
    new = [t for t in trials if not t.warm]
    assert all(t.run_id not in (best, other) for t in new)
    assert all(c["epochs"] == 4 for c in calls)
    history = sw.analysis()["history"]
    assert len(history) == 5  # each seeded trial once


def test_the_sampler_learns_from_seeded_trials() -> None:
    spec = space(
        method="tpe",
        parameters={"x": {"distribution": "uniform", "min": 0.0, "max": 1.0}},
        budget={"trials": 1},
    )
    cold = runtrack.sweep(
        {**spec, "warm_start": False}, lambda r: r.log({"loss": 1.0}), project="cold"
    )
    assert [t.sampler for t in cold.trials()] == ["random"]  # TPE's start-up trials
    for i in range(10):
        prior({"x": (i + 0.5) / 10}, [{"loss": (i - 3) ** 2}])
    sw = runtrack.sweep(spec, lambda r: r.log({"loss": 1.0}), project=PROJECT)
    assert sw.counts == {"warm": 10, "complete": 1}
    [new] = [t for t in sw.trials() if not t.warm]
    assert new.number == 10 and new.sampler == "tpe"  # ten complete trials to model already


def test_a_grid_search_does_not_repeat_a_seeded_point() -> None:
    seen: list[int] = []

    def train(run: runtrack.Run) -> None:
        seen.append(run.config["n"])
        run.log({"loss": 1.0})

    prior({"n": 2}, [{"loss": 0.0}])
    sw = runtrack.sweep(
        space(method="grid", parameters={"n": [1, 2, 3]}, budget={"trials": 2}),
        train,
        project=PROJECT,
    )
    assert sorted(seen) == [1, 3]
    assert sw.counts == {"warm": 1, "complete": 2}


def test_finished_trials_of_an_earlier_sweep_are_seeded_but_not_its_own_run() -> None:
    first = runtrack.sweep(
        space(method="random", warm_start=None),
        lambda r: r.log({"loss": r.config["x"] ** 2}),
        project=PROJECT,
    )
    assert first.counts == {"complete": 2}
    done = {t.run_id: t for t in first.trials()}
    second = create(space())
    got = seeded(second)
    assert set(got) == set(done) and first.id not in got
    for rid, t in got.items():
        assert t.params == done[rid].params and t.values == done[rid].values


def test_a_later_sweep_seeds_each_run_once_and_continuing_a_sweep_does_not_seed_again() -> None:
    prior(FITS, [{"loss": 0.3}])
    first = runtrack.sweep(space(), lambda r: r.log({"loss": 2.0}), project=PROJECT)
    assert first.counts == {"warm": 1, "complete": 2}
    prior(with_(FITS, x=0.7), [{"loss": 0.4}])  # recorded after the first sweep began
    again = runtrack.sweep(first.id, lambda r: r.log({"loss": 2.0}), count=1)
    assert again.counts == {"warm": 1, "complete": 2}  # its budget was spent; nothing new
    second = create(space())
    ids = [t.run_id for t in second.trials() if t.warm]
    # the prior runs and the first sweep's two trial runs, once each (the first sweep's
    # warm trial is the same run as a prior, not a second copy of it)
    assert len(ids) == len(set(ids)) == 4


def test_multi_objective_sweeps_seed_runs_that_logged_every_objective() -> None:
    spec = space(
        metrics=[{"name": "loss"}, {"name": "acc", "goal": "maximize"}],
        budget={"trials": 1},
    )
    del spec["metric"]
    a = prior(with_(FITS, x=0.1), [{"loss": 0.1, "acc": 0.5}])
    b = prior(with_(FITS, x=0.2), [{"loss": 0.3, "acc": 0.9}])
    c = prior(with_(FITS, x=0.3), [{"loss": 0.4, "acc": 0.4}])  # dominated by a
    prior(with_(FITS, x=0.4), [{"loss": 0.0}])  # no acc
    prior(with_(FITS, x=0.5), [{"loss": 0.0, "acc": math.nan}])
    sw = runtrack.sweep(spec, lambda r: r.log({"loss": 9.0, "acc": 0.0}), project=PROJECT)
    assert sw.counts == {"warm": 3, "complete": 1}
    got = seeded(sw)
    assert set(got) == {a, b, c}
    assert got[b].values == (0.3, 0.9)
    assert {t.run_id for t in sw.pareto} == {a, b}


def test_a_maximize_goal_takes_the_highest_seeded_value_as_best() -> None:
    low = prior(with_(FITS, x=0.1), [{"acc": 0.2}])
    high = prior(with_(FITS, x=0.2), [{"acc": 0.9}])
    sw = runtrack.sweep(
        space(metric={"name": "acc", "goal": "max"}, budget={"trials": 1}),
        lambda r: r.log({"acc": 0.5}),
        project=PROJECT,
    )
    assert set(seeded(sw)) == {low, high}
    assert sw.best is not None and sw.best.id == high
    assert sw.best_trial is not None and sw.best_trial.value == 0.9


# -- what is not seeded -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "config",
    [
        pytest.param(with_(FITS, x=2.5), id="float-above-max"),
        pytest.param(with_(FITS, x=-2.0001), id="float-below-min"),
        pytest.param(with_(FITS, lr=0.2), id="log-above-max"),
        pytest.param(with_(FITS, lr=0.0), id="log-zero"),
        pytest.param(with_(FITS, x=math.nan), id="float-nan"),
        pytest.param(with_(FITS, x=math.inf), id="float-inf"),
        pytest.param(with_(FITS, x="0.5"), id="float-as-string"),
        pytest.param(with_(FITS, x=True), id="float-as-bool"),
        pytest.param(with_(FITS, x=[0.5]), id="float-as-list"),
        pytest.param(with_(FITS, x=_DROP), id="float-missing"),
        pytest.param(with_(FITS, model={"depth": 3}), id="int-off-step"),
        pytest.param(with_(FITS, model={"depth": 4.5}), id="int-fraction"),
        pytest.param(with_(FITS, model={"depth": 10}), id="int-above-max"),
        pytest.param(with_(FITS, model={"depth": "4"}), id="int-as-string"),
        pytest.param(with_(FITS, model={"width": 4}), id="nested-key-missing"),
        pytest.param(with_(FITS, model="resnet"), id="nested-parent-not-a-dict"),
        pytest.param(with_(FITS, opt="rmsprop"), id="categorical-not-a-choice"),
        pytest.param(with_(FITS, opt=_DROP), id="categorical-missing"),
        pytest.param(with_(FITS, opt="sgd"), id="conditional-active-but-missing"),
        pytest.param(with_(FITS, opt="sgd", momentum=0.95), id="conditional-out-of-bounds"),
        pytest.param(with_(FITS, opt="sgd", momentum="0.5"), id="conditional-wrong-type"),
    ],
)
def test_a_run_whose_config_does_not_fit_the_space_is_skipped(config: dict[str, Any]) -> None:
    prior(config, [{"loss": 0.1}])
    fits = prior(FITS, [{"loss": 0.2}])
    sw = create(space())
    assert set(seeded(sw)) == {fits}


@pytest.mark.parametrize(
    "metrics",
    [
        pytest.param([], id="nothing-logged"),
        pytest.param([{"acc": 0.1}], id="other-metric-only"),
        pytest.param([{"loss": math.nan}], id="nan"),
        pytest.param([{"loss": 0.5}, {"loss": math.inf}], id="inf-last"),
        pytest.param([{"loss": -math.inf}], id="minus-inf"),
    ],
)
def test_a_run_without_a_finite_objective_is_skipped(metrics: list[dict[str, float]]) -> None:
    prior(FITS, metrics)
    fits = prior(with_(FITS, x=0.0), [{"loss": 0.2}])
    assert set(seeded(create(space()))) == {fits}


@pytest.mark.parametrize("status", ["failed", "killed", "crashed", "running"])
def test_a_run_that_did_not_finish_is_skipped(status: str) -> None:
    prior(FITS, [{"loss": 0.1}], status=status)
    fits = prior(with_(FITS, x=0.0), [{"loss": 0.2}])
    assert set(seeded(create(space()))) == {fits}


def test_a_run_that_failed_inside_a_with_block_is_skipped() -> None:
    with pytest.raises(RuntimeError), runtrack.init(project=PROJECT, config=FITS) as run:
        run.log({"loss": 0.1})
        raise RuntimeError("diverged")
    assert runtrack.Api().run(run.id).status == "failed"
    assert create(space()).counts == {}


def test_runs_of_another_project_are_not_seeded() -> None:
    prior(FITS, [{"loss": 0.1}], project="elsewhere")
    mine = prior(with_(FITS, x=0.0), [{"loss": 0.2}])
    assert set(seeded(create(space()))) == {mine}


def test_without_warm_start_nothing_is_seeded() -> None:
    prior(FITS)
    for off in (False, None):
        sw = create(space(warm_start=off))
        assert sw.counts == {} and sw.spec["warm_start"] is None
    sw = create({k: v for k, v in space().items() if k != "warm_start"})
    assert sw.counts == {} and sw.spec["warm_start"] is None
    on = create(space())
    assert on.counts == {"warm": 1}
    assert on.spec["warm_start"] == {"filter": None, "limit": 1000}  # defaults filled in


def test_a_pruned_trial_of_an_earlier_sweep_is_not_seeded_as_a_complete_trial() -> None:
    def train(run: runtrack.Run) -> None:
        run.log({"loss": 5.0})
        if run.config["x"] > 0:
            raise runtrack.TrialPruned()

    first = runtrack.sweep(
        space(method="random", warm_start=None, budget={"trials": 6}, seed=0),
        train,
        project=PROJECT,
    )
    pruned = {t.run_id for t in first.trials() if t.state == "pruned" and t.run_id}
    complete = {t.run_id for t in first.trials() if t.state == "complete" and t.run_id}
    assert pruned and complete
    api = runtrack.Api()
    assert all(api.run(r).status == "finished" for r in pruned)  # a pruned run ends finished
    got = seeded(create(space()))
    # a pruned run's value is an intermediate one, not the result of its configuration
    assert not pruned & {r for r, t in got.items() if t.state == "complete"}
    assert complete <= set(got)


def test_a_run_with_another_value_of_a_fixed_parameter_is_skipped() -> None:
    prior(with_(FITS, epochs=10), [{"loss": 0.1}])  # trained 10 epochs, the space fixes 4
    fits = prior(with_(FITS, x=0.0), [{"loss": 0.2}])
    assert set(seeded(create(space()))) == {fits}


def test_a_run_without_a_fixed_parameter_is_skipped() -> None:
    prior(with_(FITS, epochs=_DROP), [{"loss": 0.1}])
    fits = prior(with_(FITS, x=0.0), [{"loss": 0.2}])
    assert set(seeded(create(space()))) == {fits}


# -- filter and limit -------------------------------------------------------------------------
def test_filter_chooses_which_finished_runs_are_considered() -> None:
    sgd = prior(with_(FITS, opt="sgd", momentum=0.5), [{"loss": 0.4}])
    adam_good = prior(with_(FITS, x=0.1), [{"loss": 0.1}])
    prior(with_(FITS, x=0.2), [{"loss": 0.9}])
    by_config = create(space(warm_start={"filter": "config.opt = 'sgd'"}))
    assert set(seeded(by_config)) == {sgd}
    by_metric = create(space(warm_start={"filter": "metrics.loss < 0.5"}))
    assert set(seeded(by_metric)) == {sgd, adam_good}
    assert by_metric.spec["warm_start"] == {"filter": "metrics.loss < 0.5", "limit": 1000}


def test_a_filter_with_or_does_not_let_unfinished_runs_in() -> None:
    prior(FITS, [{"loss": 0.1}], status="failed")
    prior(with_(FITS, x=0.1), [{"loss": 0.1}], status="running")
    done = prior(with_(FITS, x=0.2), [{"loss": 0.2}])
    sw = create(space(warm_start={"filter": "config.x < 1 or config.x >= 1"}))
    assert set(seeded(sw)) == {done}


def test_a_filter_that_is_not_a_query_on_its_own_is_refused() -> None:
    prior(FITS, [{"loss": 0.1}], status="failed")
    with pytest.raises(ValidationError, match="warm_start"):
        create(space(warm_start={"filter": "config.x >= 0) or (config.x < 0"}))


def test_a_malformed_filter_is_refused_naming_warm_start_filter() -> None:
    prior(FITS)
    with pytest.raises(ValidationError, match=r"warm_start\.filter"):
        create(space(warm_start={"filter": "config.x >"}))
    assert runtrack.Api().sweeps(PROJECT) == []


def test_limit_caps_how_many_runs_are_seeded() -> None:
    ids = {prior(with_(FITS, x=i / 10), [{"loss": i}]) for i in range(3)}
    sw = create(space(warm_start={"limit": 2}))
    got = seeded(sw)
    assert len(got) == 2 and set(got) <= ids
    assert sw.spec["warm_start"] == {"filter": None, "limit": 2}
    assert len(seeded(create(space(warm_start={"limit": 3})))) == 3


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ("yes", "warm_start"),
        (1, "warm_start"),
        (0, "warm_start"),
        ([], "warm_start"),
        ({"fliter": "config.x > 0"}, "warm_start"),
        ({"filter": 3}, r"warm_start\.filter"),
        ({"filter": ["config.x > 0"]}, r"warm_start\.filter"),
        ({"limit": 0}, r"warm_start\.limit"),
        ({"limit": -1}, r"warm_start\.limit"),
        ({"limit": 100_001}, r"warm_start\.limit"),
        ({"limit": 2.5}, r"warm_start\.limit"),
        ({"limit": "10"}, r"warm_start\.limit"),
        ({"limit": True}, r"warm_start\.limit"),
        ({"limit": math.inf}, r"warm_start\.limit"),
    ],
)
def test_a_bad_warm_start_is_refused_naming_the_field(value: object, field: str) -> None:
    prior(FITS)
    with pytest.raises(ValidationError, match=field):
        create(space(warm_start=value))
    assert runtrack.Api().sweeps(PROJECT) == []


# -- nothing recorded changes -----------------------------------------------------------------
def _snapshot(run_id: str) -> dict[str, Any]:
    r = runtrack.Api().run(run_id)
    return {
        "status": r.status,
        "config": r.config.to_dict(),
        "summary": dict(r.summary),
        "tags": dict(r.tags),
        "parent_id": r.parent_id,
        "group": r.group,
        "notes": r.notes,
        "error": r.error,
        "end_time": r.end_time,
        "history": r.history(["loss"]),
    }


def test_seeding_does_not_modify_the_source_runs() -> None:
    a = prior(FITS, [{"loss": 0.5}, {"loss": 0.05}])
    b = prior(with_(FITS, opt="sgd", momentum=0.2), [{"loss": 0.3}])
    before = {r: _snapshot(r) for r in (a, b)}
    sw = runtrack.sweep(
        space(budget={"trials": 2}), lambda r: r.log({"loss": 1.0}), project=PROJECT
    )
    assert set(seeded(sw)) == {a, b} and sw.best is not None and sw.best.id == a
    warm = seeded(sw)[a]
    # a seeded trial is a known result: it cannot be told or reported again
    with pytest.raises(RuntrackError):
        sw.tell(warm, 9.0)
    with pytest.raises(RuntrackError):
        sw.tell(warm, state="failed", error="no")
    with pytest.raises(RuntrackError):
        sw.report(warm, 9.0, step=1)
    again = create(space())
    again.stop("enough")
    assert {r: _snapshot(r) for r in (a, b)} == before
    assert seeded(sw.refresh())[a].values == (0.05,)
