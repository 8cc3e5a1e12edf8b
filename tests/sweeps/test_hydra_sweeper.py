"""The Hydra sweeper (``hydra/sweeper=runtrack``): overrides -> sweep spec, job returns ->
objectives, and the example app swept end to end in a subprocess."""

from __future__ import annotations

import math
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf

from _support import run_hydra_example
from hydra_plugins.runtrack_sweeper.runtrack_sweeper import (
    RuntrackSweeper,
    SearchSpace,
    format_value,
    objective_values,
    search_space,
)
from runtrack.errors import ValidationError

GROUPS = {"model": ["a", "b", "c"], "db": ["mysql", "pg"]}


def space(*overrides: str) -> SearchSpace:
    parsed = OverridesParser.create().parse_overrides(list(overrides))
    return search_space(parsed, group_options=lambda key: GROUPS.get(key, []))


def refused(*overrides: str) -> str:
    with pytest.raises(ValidationError) as info:
        RuntrackSweeper().spec(space(*overrides))
    return str(info.value)


# -- overrides -> parameters --------------------------------------------------------------
def test_each_sweep_form_becomes_its_parameter() -> None:
    s = space(
        "lr=tag(log, interval(1e-4, 1e-1))",
        "dropout=interval(0, 0.5)",
        "depth=int(interval(2, 12))",
        "width=tag(log, int(interval(8, 512)))",
        "layers=range(1, 10, 2)",
        "frac=range(0, 1, 0.25)",
        "down=range(5, 1, -2)",
        "seed=range(0, 1000000000)",
        "optimizer=choice(a, b)",
        "act=relu,gelu",
        "epochs=3",
        "+extra=abc",
        "~unused",
    )
    assert s.parameters == {
        "lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-1},
        "dropout": {"distribution": "uniform", "min": 0.0, "max": 0.5},
        "depth": {"distribution": "int", "min": 2, "max": 12, "log": False},
        "width": {"distribution": "int", "min": 8, "max": 512, "log": True},
        "layers": {"distribution": "int", "min": 1, "max": 9, "step": 2},
        "frac": {"distribution": "uniform", "min": 0.0, "max": 0.75, "step": 0.25},
        "down": {"distribution": "int", "min": 3, "max": 5, "step": 2},
        "seed": {"distribution": "int", "min": 0, "max": 999_999_999, "step": 1},
        "optimizer": {"values": ["a", "b"]},
        "act": {"values": ["relu", "gelu"]},
        "epochs": {"value": 3},
        "extra": {"value": "abc"},
    }
    assert s.constant == ("epochs=3", "+extra=abc", "~unused")
    assert s.keys["lr"] == "lr" and "epochs" not in s.keys
    overrides = s.overrides({"lr": 0.001, "optimizer": "b", "depth": 4})
    assert overrides == [
        "epochs=3",
        "+extra=abc",
        "~unused",
        "lr=0.001",
        "optimizer=b",
        "depth=4",
    ]


def test_a_later_override_of_a_key_wins_and_groups_sweep_as_their_choice() -> None:
    s = space("x=interval(0, 1)", "x=interval(-1, 1)", "db=mysql", "model=a,b")
    assert s.parameters == {
        "x": {"distribution": "uniform", "min": -1.0, "max": 1.0},
        "hydra.choices.model": {"values": ["a", "b"]},
    }
    assert s.constant == ("db=mysql",)  # a group's fixed choice: passed on, not recorded
    assert s.overrides({"hydra.choices.model": "b", "x": 0.5}) == ["db=mysql", "model=b", "x=0.5"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "x=interval(2,1)",
            "hydra sweeper: override 'x=interval(2,1)': the interval starts above its end "
            "(2.0 > 1.0)",
        ),
        (
            "x=glob(*)",
            "hydra sweeper: override 'x=glob(*)': glob() is not supported; list the options "
            "with choice(...)",
        ),
        (
            "x=tag(log, interval(0, 1))",
            "hydra sweeper: override 'x=tag(log, interval(0, 1))': a log-scale interval must "
            "start above 0, not at 0.0",
        ),
        (
            "x=tag(fast, choice(1, 2))",
            "hydra sweeper: override 'x=tag(fast, choice(1, 2))': tag 'fast' means nothing to "
            "the runtrack sweeper (it reads one tag, log, on interval() and range())",
        ),
        ("x=range(5, 1)", "hydra sweeper: override 'x=range(5, 1)': range(5, 1, 1) holds no value"),
        (
            "x=choice([1,2],[3])",
            "hydra sweeper: override 'x=choice([1,2],[3])': choice values must be strings, "
            "numbers, booleans or null; [1, 2] is a list",
        ),
        (
            "~x=choice(1,2)",
            "hydra sweeper: override '~x=choice(1,2)': a deletion (~) cannot be swept",
        ),
        (
            "x@pkg=choice(1,2)",
            "hydra sweeper: override 'x@pkg=choice(1,2)': a package (@pkg) applies to config "
            "groups only",
        ),
    ],
)
def test_an_override_the_sweeper_cannot_search_is_refused_by_name(
    override: str, message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        space(override)
    assert str(info.value) == message


def test_a_spec_error_names_the_override_that_caused_it() -> None:
    assert refused("y=interval(0, 1)", "x=choice(a, a)") == (
        "hydra sweeper: override 'x=choice(a, a)': sweep spec: parameters.x.values: "
        "'a' is listed twice"
    )
    assert refused("x=1", "y=2") == (
        "hydra sweeper: sweep spec: parameters: nothing to search: every parameter is fixed"
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"goal": "sideways"}, "hydra.sweeper.goal 'sideways' must be minimize or maximize"),
        ({"n_trials": 0}, "hydra.sweeper.n_trials 0 must be an integer >= 1 or null"),
        ({"method": "bayes"}, "hydra.sweeper.method 'bayes' must be one of auto, tpe, gp, "),
        ({"pruner": "early"}, "hydra.sweeper.pruner.type 'early' is unknown; allowed: none, "),
        ({"pruner": {"type": "median", "warmup": 2}}, "hydra.sweeper.pruner.warmup is not a "),
        ({"metric": []}, "hydra.sweeper.metric [] must be a metric key or a list of metric keys"),
        ({"metric": ["a", "b"], "goal": ["min"]}, "hydra.sweeper.goal ['min'] must be "),
        ({"budget_seconds": -1}, "hydra.sweeper.budget_seconds -1 must be a number above 0"),
        ({"project": "no spaces"}, "hydra.sweeper.project: project name 'no spaces' is invalid"),
        ({"n_trials": None}, "hydra.sweeper.n_trials is null and neither budget_seconds nor "),
    ],
)
def test_a_bad_sweeper_field_is_refused_by_name(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        RuntrackSweeper(**fields)
    assert str(info.value).startswith("hydra sweeper: " + message)


def test_the_spec_takes_the_fields_and_the_command_line_wins_over_params() -> None:
    sweeper = RuntrackSweeper(
        metric=["loss", "ms"],
        goal=["min", "max"],
        n_trials=7,
        seed=3,
        pruner="none",  # several objectives cannot prune
        params={"x": "interval(0, 1)", "y": "choice(1, 2)", "lr": 0.1},
        budget_seconds=60,
        patience=4,
    )
    s, spec = sweeper.plan(["x=interval(-1, 1)", "z=5"])
    assert spec["metrics"] == [
        {"name": "loss", "goal": "minimize"},
        {"name": "ms", "goal": "maximize"},
    ]
    assert spec["budget"] == {"trials": 7, "seconds": 60.0, "patience": 4}
    assert spec["seed"] == 3 and spec["pruner"] == {"type": "none"}
    assert spec["description"] == "hydra: x=interval(-1, 1) z=5"
    assert spec["parameters"] == {
        "x": {"distribution": "uniform", "min": -1.0, "max": 1.0},
        "y": {"values": [1, 2]},
        "lr": {"value": 0.1},
        "z": {"value": 5},
    }
    assert s.constant == ("lr=0.1", "z=5")


@pytest.mark.parametrize(
    "value",
    [
        0.1,
        1e-05,
        -2.0,
        1e300,
        3,
        -7,
        True,
        False,
        None,
        "a",
        "1",
        "a b",
        "true",
        "null",
        "x,y",
        "it's",
        "",
        "0.5e3",
        "inf",
        math.inf,
        1.5e-320,
    ],
)
def test_a_value_is_written_so_that_hydra_reads_it_back_unchanged(value: Any) -> None:
    text = format_value(value)
    got = OverridesParser.create().parse_override(f"k={text}").value()
    assert type(got) is type(value) and got == value


# -- job return -> objective ---------------------------------------------------------------
def test_objective_values_from_what_the_job_returned_or_logged() -> None:
    def nothing() -> dict[str, Any]:
        raise AssertionError("the summary is read only when the job returned None")

    assert objective_values(0.5, ["loss"], nothing) == [0.5]
    assert objective_values([1, 2.5], ["a", "b"], nothing) == [1.0, 2.5]
    assert objective_values({"b": 2, "a": 1, "c": "x"}, ["a", "b"], nothing) == [1.0, 2.0]
    assert objective_values(OmegaConf.create({"loss": 3}), ["loss"], nothing) == [3.0]
    assert objective_values(None, ["loss"], lambda: {"loss": 0.25}) == [0.25]
    import numpy as np

    assert objective_values(np.array([1.0, 2.0]), ["a", "b"], nothing) == [1.0, 2.0]
    assert objective_values(np.float32(0.5), ["a"], nothing) == [0.5]
    with pytest.raises(Exception, match=r"returned 3 value\(s\); the sweep has 2"):
        objective_values(np.zeros(3), ["a", "b"], nothing)


@pytest.mark.parametrize(
    ("returned", "metrics", "message"),
    [
        ("0.5", ["loss"], "the returned value is str '0.5': return a number, a list of numbers"),
        (True, ["loss"], "the returned value is bool True: return a number"),
        ([1.0], ["a", "b"], "the job returned 1 value(s); the sweep has 2 objective(s) (a, b)"),
        (1.0, ["a", "b"], "the job returned one value; the sweep has 2 objectives (a, b)"),
        ({"acc": 1.0}, ["loss"], "the job returned a mapping without 'loss' (its keys: acc)"),
    ],
)
def test_a_return_value_that_is_no_objective_is_an_error(
    returned: Any, metrics: list[str], message: str
) -> None:
    # looked up at call time: Hydra's plugin scan may execute the plugin module again,
    # which gives its exception class a new identity
    import hydra_plugins.runtrack_sweeper.runtrack_sweeper as plugin

    with pytest.raises(plugin.ReturnValueError) as info:
        plugin.objective_values(returned, metrics, dict)
    assert str(info.value).startswith(message)


def test_a_job_that_returned_nothing_needs_its_run_to_have_logged_the_metric() -> None:
    with pytest.raises(ValueError) as info:
        objective_values(None, ["loss"], lambda: {"acc": 1.0})
    assert str(info.value) == (
        "the job returned nothing and its run logged no 'loss': return the objective, "
        "or log it with run.log({'loss': value})"
    )


# -- the sweep loop, with a launcher that runs the job in this process ---------------------
class InlineLauncher:
    """Hydra's launcher contract, minus Hydra: ``job(number, values)`` is the task."""

    def __init__(self, job: Callable[[int, dict[str, float]], Any]) -> None:
        self.job = job

    def launch(self, job_overrides: list[list[str]], initial_job_idx: int) -> list[JobReturn]:
        [overrides] = job_overrides
        ret = JobReturn(overrides=overrides)
        values = {k: float(v) for k, v in (o.split("=", 1) for o in overrides)}
        try:
            ret.return_value = self.job(initial_job_idx, values)
            ret.status = JobStatus.COMPLETED
        except Exception as exc:  # as hydra.core.utils.run_job records a failed job
            ret.return_value = exc
            ret.status = JobStatus.FAILED
        return [ret]


def sweeper_with(
    job: Callable[[int, dict[str, float]], Any], tmp_path: Path, **fields: Any
) -> RuntrackSweeper:
    sweeper = RuntrackSweeper(**fields)
    sweeper.config = OmegaConf.create(
        {"hydra": {"sweep": {"dir": str(tmp_path / "multirun")}, "job": {"name": "inline"}}}
    )
    sweeper.launcher = InlineLauncher(job)
    return sweeper


def test_trials_end_complete_pruned_or_failed_as_their_job_did(sdk: None, tmp_path: Path) -> None:
    import runtrack

    def job(number: int, values: dict[str, float]) -> Any:
        assert "RUNTRACK_SWEEP_ID" in os.environ
        if number == 0:  # returns its objective, never logged, from a run left open
            runtrack.init(config={"x": values["x"]})
            return values["x"] ** 2
        if number == 1:
            with runtrack.init(config={"x": values["x"]}) as run:
                run.log({"objective": 9.0})
                raise runtrack.TrialPruned()
        if number == 2:
            with runtrack.init(config={"x": values["x"]}):
                raise RuntimeError("diverged")
        with runtrack.init(config={"x": values["x"]}) as run:  # returns None: the logged value
            run.log({"objective": 0.125})
        return None

    sweeper = sweeper_with(job, tmp_path, n_trials=4, seed=0)
    returns = sweeper.sweep(["x=interval(-1, 1)"])
    assert len(returns) == 4 and "RUNTRACK_SWEEP_ID" not in os.environ
    assert runtrack.current_run() is None or runtrack.current_run().status != "running"
    api = runtrack.Api()
    [view] = api.sweeps()
    trials = view.trials()
    assert [t.state for t in trials] == ["complete", "pruned", "failed", "complete"]
    assert trials[0].values == (trials[0].params["x"] ** 2,)
    assert "RuntimeError: diverged" in (trials[2].error or "")
    assert trials[3].values == (0.125,)
    runs = [api.run(t.run_id) for t in trials]
    assert [r.status for r in runs] == ["finished", "finished", "failed", "finished"]
    assert runs[0].summary["objective"] == trials[0].values[0]  # returned, and put on the run
    assert view.refresh().best.id == min((trials[0], trials[3]), key=lambda t: t.value).run_id
    assert (tmp_path / "multirun" / "multirun.yaml").exists()


def test_a_job_returning_no_objective_stops_the_sweep(sdk: None, tmp_path: Path) -> None:
    import runtrack

    sweeper = sweeper_with(lambda number, values: "done", tmp_path, n_trials=5)
    with pytest.raises(ValidationError) as info:
        sweeper.sweep(["x=interval(-1, 1)"])
    assert str(info.value).startswith(
        "hydra sweeper: trial 0: the returned value is str 'done': return a number"
    )
    [view] = runtrack.Api().sweeps()
    assert [t.state for t in view.trials()] == ["failed"]
    assert view.status == "stopped"  # no one else would finish it


@pytest.mark.parametrize(
    ("fields", "trials", "message"),
    [
        (
            {"n_trials": 5, "max_failures": 2},
            2,
            "hydra sweeper: sweep {id} stopped: its last 2 trials all failed "
            "(hydra.sweeper.max_failures=2; 0 never stops); the last error: Traceback",
        ),
        (
            {"n_trials": 9},  # 5 in a row by default, as an agent
            5,
            "hydra sweeper: sweep {id} stopped: its last 5 trials all failed "
            "(hydra.sweeper.max_failures=5; 0 never stops); the last error: Traceback",
        ),
        ({"n_trials": 2}, 2, "runtrack sweep {id}: no trial completed (2 trial(s): 2 failed); "),
        (
            {"n_trials": 7, "max_failures": 0},
            7,
            "runtrack sweep {id}: no trial completed (7 trial(s): 7 failed); ",
        ),
    ],
)
def test_failing_jobs_end_the_sweep_with_their_first_error(
    sdk: None, tmp_path: Path, fields: dict[str, Any], trials: int, message: str
) -> None:
    import runtrack

    def job(number: int, values: dict[str, float]) -> float:
        raise KeyError(f"missing column {number}")

    with pytest.raises(runtrack.RuntrackError) as info:
        sweeper_with(job, tmp_path, **fields).sweep(["x=interval(-1, 1)"])
    [view] = runtrack.Api().sweeps()
    assert str(info.value).startswith(message.format(id=view.id))
    assert "KeyError: 'missing column" in str(info.value)
    assert [t.state for t in view.trials()] == ["failed"] * trials


def test_failures_between_completed_trials_do_not_stop_the_sweep(sdk: None, tmp_path: Path) -> None:
    import runtrack

    def job(number: int, values: dict[str, float]) -> float:
        if number % 3:  # two failures, then one that completes, ...
            raise KeyError(f"missing column {number}")
        return values["x"]

    sweeper_with(job, tmp_path, n_trials=9, max_failures=3).sweep(["x=interval(-1, 1)"])
    [view] = runtrack.Api().sweeps()
    assert [t.state for t in view.trials()] == ["complete", "failed", "failed"] * 3


# -- end to end: the example app, swept by Hydra in a subprocess ---------------------------
def hydra_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_hydra_example(tmp_path, *args)


def test_the_example_app_swept_end_to_end(sdk: None, tmp_path: Path) -> None:
    import runtrack

    proc = hydra_cli(
        tmp_path,
        "hydra.sweeper.n_trials=6",
        "hydra.sweeper.seed=1",
        "x=interval(-2,2)",
        "model=choice(a,b)",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    api = runtrack.Api()
    [view] = api.sweeps()
    assert view.status == "finished" and view.spec["metrics"] == [
        {"name": "loss", "goal": "minimize"}
    ]
    trials = view.trials()
    assert [t.number for t in trials] == list(range(6))
    assert all(t.state == "complete" for t in trials)
    models = {
        "a": {"name": "a", "best_x": 0.5, "floor": 0.2},
        "b": {"name": "b", "best_x": -1.25, "floor": 0.0},
    }
    for t in trials:
        run = api.run(t.run_id)
        assert run.parent_id == view.id and run.status == "finished"
        x, model = t.params["x"], t.params["hydra.choices.model"]  # model is a config group
        assert -2 <= x <= 2 and model in ("a", "b")
        assert run.config.to_dict() == {  # the composed config, swept values included
            "x": x,
            "hydra": {"choices": {"model": model}},
            "model": models[model],
            "optimizer": {"lr": 0.01, "momentum": 0.9},
            "epochs": 5,
        }
        assert run.summary["loss"] == t.values[0]
        hydra = run.provenance["hydra"]
        assert list(hydra["overrides"]) == [f"x={x!r}", f"model={model}"]
        assert (
            hydra["choices"]["model"] == model and hydra["choices"]["hydra/sweeper"] == "runtrack"
        )
        assert (tmp_path / "multirun" / str(t.number) / ".hydra" / "config.yaml").exists()
    best = min(trials, key=lambda t: t.values[0])
    assert view.best.id == best.run_id
    out = proc.stdout + proc.stderr
    assert f"done, 6 trial(s): 6 complete. Best: trial {best.number} (run {best.run_id})" in out


def test_an_unsearchable_override_fails_the_command_before_any_sweep(
    sdk: None, tmp_path: Path
) -> None:
    import runtrack

    proc = hydra_cli(tmp_path, "x=glob(*)", "model=choice(a,b)")
    assert proc.returncode == 1
    assert "hydra sweeper: override 'x=glob(*)': glob() is not supported" in proc.stderr
    assert runtrack.Api().sweeps() == []


def test_hydra_finds_the_sweeper_by_its_group_name(tmp_path: Path) -> None:
    from hydra import compose, initialize_config_dir
    from hydra.core.plugins import Plugins
    from hydra.plugins.sweeper import Sweeper

    assert "RuntrackSweeper" in [p.__name__ for p in Plugins.instance().discover(Sweeper)]
    (tmp_path / "config.yaml").write_text("x: 1\n")
    with initialize_config_dir(config_dir=str(tmp_path), version_base="1.3"):
        cfg = compose("config", overrides=["hydra/sweeper=runtrack"], return_hydra_config=True)
    assert cfg.hydra.sweeper._target_ == (
        "hydra_plugins.runtrack_sweeper.runtrack_sweeper.RuntrackSweeper"
    )
    assert cfg.hydra.sweeper.metric == "objective" and cfg.hydra.sweeper.n_trials == 20
