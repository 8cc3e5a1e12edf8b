"""Sweeps from the SDK on the embedded store: runtrack.sweep with a function, trial runs
attached from the environment, should_prune / TrialPruned, failures, and the agent's
command lines."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import runtrack
from runtrack.entities import SweepTrial
from runtrack.errors import ConfigError, SweepNotFoundError, TrialsFailingError, ValidationError
from runtrack.sweeps.agent import render_command

pytestmark = pytest.mark.usefixtures("sdk")


def spec(**changes: Any) -> dict[str, Any]:
    s: dict[str, Any] = {
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {
            "x": {"distribution": "uniform", "min": -2.0, "max": 2.0},
            "opt": {"values": ["adam", "sgd"]},
            "momentum": {"distribution": "uniform", "min": 0.0, "max": 0.9, "when": {"opt": "sgd"}},
            "epochs": {"value": 4},
        },
        "budget": {"trials": 10},
        "seed": 1,
    }
    s.update(changes)
    return s


def test_sweep_with_a_function(tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []

    def train(run: runtrack.Run) -> None:
        cfg = run.config.to_dict()
        seen.append(cfg)
        assert run.sweep_id is not None
        for epoch in range(cfg["epochs"]):
            run.log({"loss": (cfg["x"] - 0.5) ** 2 + 1 / (epoch + 1)})

    sw = runtrack.sweep(spec(), train, project="fn")
    assert sw.status == "finished" and sw.counts == {"complete": 10}
    assert len(seen) == 10 and all(c["epochs"] == 4 for c in seen)
    assert all(("momentum" in c) == (c["opt"] == "sgd") for c in seen)
    best = sw.best
    assert best is not None and best.parent_id == sw.id
    assert best.summary["loss"] == pytest.approx(sw.best_trial.value)  # type: ignore[union-attr]
    assert best.config["x"] == sw.best_trial.params["x"]  # type: ignore[union-attr]
    # count=: continue the same sweep by id, a few trials at a time
    more = runtrack.sweep(sw.id, train, count=2)
    assert more.id == sw.id and more.counts == {"complete": 10}  # its budget was spent
    # resume: 3 more trials for the spent sweep, then the same call runs them
    resumed = more.resume(trials=3)
    assert resumed.status == "running" and resumed.spec["budget"] == {"trials": 13}
    again = runtrack.sweep(sw.id, train)
    assert again.status == "finished" and again.counts == {"complete": 13}
    assert len(seen) == 13


def test_returned_values_pruning_and_failures() -> None:
    calls = {"n": 0}

    def train(run: runtrack.Run) -> Any:
        calls["n"] += 1
        n = calls["n"]
        if n == 2:
            raise RuntimeError("diverged")
        if n >= 6:  # these get pruned: worse than the median at every step
            for step in range(5):
                run.log({"loss": 100.0 + step})
                if run.should_prune():
                    raise runtrack.TrialPruned()
            return None
        for _ in range(5):  # reported to the pruner: the level later trials are judged by
            run.log({"loss": 1.0})
            assert run.should_prune() is False
        return {"loss": float(n)}  # a returned objective is recorded on the run too

    sw = runtrack.sweep(
        spec(pruner={"type": "median", "n_startup_trials": 2}, budget={"trials": 8}),
        train,
        project="fn",
    )
    trials = {t.number: t for t in sw.trials()}
    assert trials[1].state == "failed" and "diverged" in (trials[1].error or "")
    assert [trials[i].state for i in (0, 2, 3, 4)] == ["complete"] * 4
    assert {trials[i].state for i in (5, 6, 7)} == {"pruned"}
    api = runtrack.Api()
    assert trials[0].value == 1.0
    pruned = api.run(trials[6].run_id)  # type: ignore[arg-type]
    assert pruned.status == "finished" and pruned.tags["runtrack.trial_state"] == "pruned"
    assert api.run(trials[1].run_id).status == "failed"  # type: ignore[arg-type]


def test_ask_tell_by_hand_and_analysis() -> None:
    api = runtrack.Api()
    sw = api.create_sweep(spec(budget={"trials": 12}), project="hand")
    while (t := sw.ask()) is not None:
        sw.tell(t, (t.params["x"] - 1.0) ** 2 + t.params.get("momentum", 0.0))
    sw.refresh()
    assert sw.status == "finished" and sw.record.budget_used == 12
    a = sw.analysis()
    assert a["best"]["run_id"] == sw.best_trial.run_id  # type: ignore[union-attr]
    assert len(a["history"]) == 12 and len(a["parallel"]) == 12
    assert a["importance"] is not None and set(a["importance"]) <= {"x", "opt", "momentum"}
    assert api.sweeps("hand")[0].id == sw.id
    with pytest.raises(SweepNotFoundError):
        api.sweep("0000nosuchsweep")
    with pytest.raises(ValidationError, match="must be a number"):
        sw.tell("0000whatever", "high")  # type: ignore[arg-type]


def test_should_prune_outside_a_sweep_is_false() -> None:
    with runtrack.init(project="plain") as run:
        run.log({"loss": 1.0})
        assert run.should_prune() is False and run.sweep_id is None


def test_a_trial_run_attached_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    api = runtrack.Api()
    sw = api.create_sweep(spec(pruner={"type": "threshold", "upper": 10.0}), project="env")
    t = sw.ask()
    assert t is not None and t.run_id is not None
    monkeypatch.setenv("RUNTRACK_SWEEP_ID", sw.id)
    monkeypatch.setenv("RUNTRACK_TRIAL_RUN", t.run_id)
    run = runtrack.init(config={"x": t.params["x"], "batch": 32})  # its own keys are added
    assert run.id == t.run_id and run.sweep_id == sw.id
    assert "RUNTRACK_TRIAL_RUN" not in os.environ  # consumed: the next init is a new run
    with pytest.raises(ValidationError, match="log it first"):
        run.should_prune()
    run.log({"loss": 50.0})
    assert run.should_prune() is True  # above the threshold
    with pytest.raises(runtrack.TrialPruned), run:
        raise runtrack.TrialPruned()
    [got] = [x for x in sw.trials() if x.run_id == t.run_id]
    assert got.state == "pruned" and got.values == (50.0,)
    rec = api.run(t.run_id)
    assert rec.status == "finished" and rec.config["batch"] == 32
    # a script that sets a swept value differently is refused, with what to do
    t2 = sw.ask()
    assert t2 is not None and t2.run_id is not None
    monkeypatch.setenv("RUNTRACK_SWEEP_ID", sw.id)
    monkeypatch.setenv("RUNTRACK_TRIAL_RUN", t2.run_id)
    with pytest.raises(ConfigError, match="sweep trial"):
        runtrack.init(config={"x": 123.0})


def test_render_command() -> None:
    s = runtrack.Api()._default_project  # noqa: F841 - settings load without a store
    from runtrack.sweeps.spec import normalize

    sp = normalize(spec(command=["python", "t.py", "--x=${x}", "--m", "${momentum}", "${args}"]))
    adam = SweepTrial(
        "sw", 3, "run1", "running", {"x": 0.1, "opt": "adam"}, None, (), None, None, None
    )
    argv = render_command(sp["command"], sp, adam)
    # the conditional parameter is inactive: its argument goes
    assert argv == ["python", "t.py", "--x=0.1", "--m", "--x=0.1", "--opt=adam", "--epochs=4"]
    sgd = SweepTrial(
        "sw",
        4,
        "run2",
        "running",
        {"x": 0.1, "opt": "sgd", "momentum": 0.5},
        None,
        (),
        None,
        None,
        None,
    )
    argv = render_command(["${interpreter}", "${args_no_hyphens}", "t=${trial}"], sp, sgd)
    assert argv[0] == sys.executable
    assert argv[1:] == ["x=0.1", "opt=sgd", "momentum=0.5", "epochs=4", "t=4"]


def test_cli_create_agent_show(tmp_path: Path) -> None:
    script = Path(__file__).with_name("_trial_script.py")
    yaml_spec = tmp_path / "spec.yaml"
    yaml_spec.write_text(
        "metric: {name: loss, goal: minimize}\n"
        "parameters:\n"
        "  x: {distribution: uniform, min: -1, max: 1}\n"
        "budget: {trials: 3}\n"
        "seed: 4\n"
        f"command: ['{sys.executable}', '{script}']\n"
    )
    env = dict(os.environ, RUNTRACK_QUIET="1")
    cli = [sys.executable, "-m", "runtrack.cli"]
    out = subprocess.run(
        [*cli, "sweep", "create", str(yaml_spec), "-p", "cli"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    sweep_id = out.stdout.strip()
    agent = subprocess.run(
        [*cli, "agent", sweep_id, "--json"], env=env, capture_output=True, text=True
    )
    assert agent.returncode == 0, agent.stderr
    import json

    result = json.loads(agent.stdout)
    assert [t["state"] for t in result["trials"]] == ["complete"] * 3
    shown = subprocess.run(
        [*cli, "sweep", "show", sweep_id, "--json"], env=env, capture_output=True, text=True
    )
    doc = json.loads(shown.stdout)
    assert doc["status"] == "finished" and len(doc["trials"]) == 3
    assert doc["best"]["values"][0] == min(t["values"][0] for t in doc["trials"])
    table = subprocess.run(
        [*cli, "sweep", "show", sweep_id], env=env, capture_output=True, text=True
    )
    assert "best: trial" in table.stdout and "Traceback" not in table.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "metric: {name: loss}\nparameters: {x: {distribution: uniform, min: 1, max: 0}}\n"
    )
    refused = subprocess.run(
        [*cli, "sweep", "create", str(bad)], env=env, capture_output=True, text=True
    )
    assert refused.returncode == 1 and "parameters.x" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_trials_in_one_process_share_one_git_capture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The git state is captured once per agent (~20 ms of CPU in git processes per
    capture): every trial's run records it, and a run after the sweep captures again."""
    from runtrack.client.provenance import git as git_mod

    repo = tmp_path / "repo"
    repo.mkdir()
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    for cmd in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "one"]):
        if cmd[0] == "add":
            (repo / "train.py").write_text("x = 1\n")
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@e", *cmd], cwd=repo, check=True
        )
    monkeypatch.chdir(repo)
    calls: list[Path] = []
    real = git_mod.capture_git

    def counting(path: Path, **kw: Any) -> Any:
        calls.append(path)
        return real(path, **kw)

    monkeypatch.setattr(git_mod, "capture_git", counting)
    ids: list[str] = []

    def train(run: runtrack.Run) -> float:
        ids.append(run.id)
        return float(run.config["x"])

    runtrack.sweep(spec(budget={"trials": 4}), train, project="fn")
    api = runtrack.Api()
    commits = {api.run(i).provenance["git"]["commit"] for i in ids}
    assert len(ids) == 4 and len(commits) == 1 and None not in commits
    assert all("determinism" in api.run(i).provenance for i in ids)
    assert len(calls) == 1
    with runtrack.init(project="after") as run:  # outside a sweep: its own capture
        pass
    assert len(calls) == 2
    assert api.run(run.id).provenance["git"]["commit"] in commits


def _progress_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("runtrack: trial ")]


def test_progress_shows_the_sweep_best_not_only_this_agents(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two agents on one sweep: the first finds loss 0.0; the second, whose own trials are
    all worse, still reports the sweep's best."""
    monkeypatch.delenv("RUNTRACK_QUIET", raising=False)
    s = spec(
        parameters={"x": {"distribution": "uniform", "min": -2.0, "max": 2.0}},
        budget={"trials": 6},
    )
    first = runtrack.sweep(s, lambda run: 0.0, count=2)
    capsys.readouterr()
    second = runtrack.sweep(first.id, lambda run: 5.0 + run.config["x"] ** 2)
    err = capsys.readouterr().err
    lines = _progress_lines(err)
    assert len(lines) == 4 and second.record.counts["complete"] == 6, err
    # the sweep's best is read on the agent's first trial, then every few seconds
    assert all("(best 0)" in line for line in lines), lines


def test_progress_respects_runtrack_quiet(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    s = spec(budget={"trials": 2})
    monkeypatch.setenv("RUNTRACK_QUIET", "1")  # the suite's default too (conftest)
    runtrack.sweep(s, lambda run: 1.0)
    assert _progress_lines(capsys.readouterr().err) == []
    monkeypatch.delenv("RUNTRACK_QUIET")
    got = runtrack.sweep(spec(budget={"trials": 2}), lambda run: 1.0)
    assert len(_progress_lines(capsys.readouterr().err)) == 2
    assert got.record.counts["complete"] == 2


def test_progress_survives_a_failed_read_of_the_sweep(capsys: pytest.CaptureFixture[str]) -> None:
    from runtrack.errors import StoreUnavailableError
    from runtrack.sweeps.agent import _Progress

    def broken() -> float | None:
        raise StoreUnavailableError("server unreachable")

    p = _Progress("sw", None, "loss", "minimize", quiet=False, sweep_best=broken)
    trial = SweepTrial("sw", 0, "r", "complete", {}, (2.5,), (), None, None, None)
    p.trial(trial, "complete", [2.5], 0.1)
    assert _progress_lines(capsys.readouterr().err) == [
        "runtrack: trial 0: complete loss=2.5 (best 2.5) in 0.1 s"
    ]


def test_start_up_trials_are_recorded_as_random() -> None:
    """GP's first 10 trials are drawn at random; the trials' sampler says so."""
    s = spec(
        parameters={
            "x": {"distribution": "uniform", "min": -2.0, "max": 2.0},
            "y": {"distribution": "uniform", "min": -2.0, "max": 2.0},
        },
        budget={"trials": 12},
        method="gp",
    )
    got = runtrack.sweep(s, lambda run: run.config["x"] ** 2 + run.config["y"] ** 2)
    assert [t.sampler for t in got.trials()] == ["random"] * 10 + ["gp"] * 2


def test_an_agent_waits_to_run_the_retry_of_a_dead_agents_trial(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The budget is handed out, but another agent's trial still runs and `retries`
    allows a failure to be run again: the agent waits, and when that agent turns out
    dead (its run crashes), runs the retry and the sweep finishes."""
    monkeypatch.setenv("RUNTRACK_CRASH_AFTER", "1")
    monkeypatch.delenv("RUNTRACK_QUIET", raising=False)
    api = runtrack.Api()
    s = spec(
        parameters={"x": {"distribution": "uniform", "min": -2.0, "max": 2.0}},
        budget={"trials": 2},
        retries=1,
    )
    sw = api.create_sweep(s)
    lost = api.store.sweep_ask(sw.id, user="other", host="gone")  # never beats again
    assert lost is not None
    seen: list[float] = []

    def fn(run: Any) -> float:
        seen.append(run.config["x"])
        return run.config["x"] ** 2

    done = runtrack.sweep(sw.id, fn)
    assert done.record.status == "finished"
    trials = done.trials()
    assert [(t.state, t.retry_of) for t in trials] == [
        ("failed", None),
        ("complete", None),
        ("complete", lost.number),
    ]
    assert seen[-1] == lost.params["x"]  # the retry ran the lost trial's values
    assert "waiting for 1 running trial(s) of other agents" in capsys.readouterr().err


def test_without_retries_an_agent_does_not_wait_for_other_agents() -> None:
    api = runtrack.Api()
    s = spec(parameters={"x": {"distribution": "uniform", "min": -2.0, "max": 2.0}})
    sw = api.create_sweep(dict(s, budget={"trials": 2}))
    other = api.store.sweep_ask(sw.id, user="other", host="h")
    assert other is not None
    done = runtrack.sweep(sw.id, lambda run: 1.0)
    assert done.record.status == "running"  # the other agent's trial still runs
    assert done.record.stop_reason == "budget of 2 trials spent"
    assert [t.state for t in done.trials()] == ["running", "complete"]


@pytest.mark.parametrize("budget", [None, 10])
def test_a_grid_sweep_ends_when_every_point_has_run(budget: int | None) -> None:
    grid = spec(
        method="grid",
        parameters={"a": {"values": [1, 2]}, "b": {"values": ["x", "y"]}},
        budget={"trials": budget} if budget else {},
    )
    sw = runtrack.sweep(grid, lambda run: run.log({"loss": run.config["a"]}), count=8)
    assert sw.status == "finished" and sw.counts == {"complete": 4}
    points = {(t.params["a"], t.params["b"]) for t in sw.trials()}
    assert points == {(1, "x"), (1, "y"), (2, "x"), (2, "y")}
    assert runtrack.sweep(sw.id, lambda run: None, count=2).counts == {"complete": 4}


@pytest.mark.parametrize("ref", ["nope-id", "spec.yaml", "../x/y"])
def test_a_string_that_is_neither_a_spec_file_nor_a_sweep_id_is_refused(ref: str) -> None:
    with pytest.raises(ValidationError, match="neither a sweep spec file nor the id of a sweep"):
        runtrack.sweep(ref, lambda run: None)


def test_an_unknown_sweep_id_is_a_missing_sweep() -> None:
    with pytest.raises(SweepNotFoundError, match="sweep 'abcd1234' does not exist"):
        runtrack.sweep("abcd1234", lambda run: None)


# -- an agent whose trials keep failing gives up ---------------------------------------------
def test_a_function_that_always_raises_stops_after_five_trials() -> None:
    calls: list[int] = []

    def train(run: runtrack.Run) -> None:
        calls.append(1)
        raise KeyError("no column 'lable' in the dataset")

    with pytest.raises(TrialsFailingError) as info:
        runtrack.sweep(spec(budget={"trials": 50}), train, project="fn")
    msg = str(info.value)
    assert "last 5 trials" in msg and "no column 'lable'" in msg and "max_failures=0" in msg
    assert info.value.failures == 5 and "KeyError" in info.value.last_error
    (sw,) = runtrack.Api().sweeps("fn")
    assert len(calls) == 5 and sw.counts == {"failed": 5}
    assert sw.status == "running"  # the sweep goes on: the budget is not spent on failures


def test_max_failures_counts_failures_in_a_row_and_zero_never_gives_up() -> None:
    n = {"calls": 0}

    def train(run: runtrack.Run) -> float:
        n["calls"] += 1
        if n["calls"] == 3:
            return 1.0  # one success resets the count
        raise RuntimeError(f"bad trial {n['calls']}")

    with pytest.raises(TrialsFailingError, match=r"last 3 trials.*bad trial 6"):
        runtrack.sweep(spec(), train, project="fn", max_failures=3)
    assert n["calls"] == 6
    n["calls"] = 0
    sw = runtrack.sweep(spec(budget={"trials": 7}), train, project="fn2", max_failures=0)
    assert sw.counts == {"failed": 6, "complete": 1} and sw.status == "finished"


def test_a_function_that_neither_returns_nor_logs_counts_as_a_failure() -> None:
    with pytest.raises(TrialsFailingError, match="fn returned nothing and its run logged no"):
        runtrack.sweep(spec(), lambda run: None, project="fn", max_failures=2)


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        ("0.5", "the returned value is str '0.5': return a number, a list of numbers"),
        (True, "the returned value is bool True: return a number"),
        ([1.0, 2.0], "fn returned 2 value(s); the sweep has 1 objective(s) (loss)"),
        ({"acc": 0.9}, "fn returned a mapping without 'loss' (its keys: acc)"),
        ({"loss": "low"}, "the returned 'loss' is str 'low'"),
        (object(), "the returned value is object <object object at"),
    ],
)
def test_a_return_value_that_is_no_objective_fails_the_trial_and_its_run(
    returned: Any, message: str
) -> None:
    """Even when the run logged the objective: a return value of the wrong kind is a bug
    in the function, reported as such rather than silently replaced by the logged value."""

    def train(run: runtrack.Run) -> Any:
        run.log({"loss": 0.25})
        return returned

    sw = runtrack.sweep(spec(budget={"trials": 1}), train, project="fn")
    (trial,) = sw.trials()
    assert trial.state == "failed" and trial.error is not None
    assert trial.error.startswith(message), trial.error
    run = runtrack.Api().run(trial.run_id)  # type: ignore[arg-type]
    assert run.status == "failed" and run.error == trial.error


def test_the_objective_is_what_the_function_returned_or_else_what_it_logged() -> None:
    import numpy as np

    returns: list[Any] = [
        0.5,
        np.float64(0.25),
        {"loss": 2, "acc": 0.9},
        (3.0,),
        np.array([4.0]),
        None,
    ]

    calls: list[int] = []

    def train(run: runtrack.Run) -> Any:
        run.log({"loss": 7.0})
        calls.append(1)
        return returns[len(calls) - 1]

    sw = runtrack.sweep(spec(budget={"trials": len(returns)}), train, project="fn")
    assert [t.values for t in sw.trials()] == [(0.5,), (0.25,), (2.0,), (3.0,), (4.0,), (7.0,)]
    assert all(t.state == "complete" for t in sw.trials())


def test_non_finite_values_are_outcomes_not_a_broken_script() -> None:
    sw = runtrack.sweep(
        spec(budget={"trials": 4}), lambda run: float("nan"), project="fn", max_failures=2
    )
    assert sw.counts == {"failed": 4} and sw.status == "finished"


@pytest.mark.parametrize("bad", [-1, True, 2.5, "3", None])
def test_max_failures_must_be_a_non_negative_integer(bad: Any) -> None:
    with pytest.raises(ValidationError, match="max_failures"):
        runtrack.sweep(spec(), lambda run: 1.0, project="fn", max_failures=bad)
    assert runtrack.Api().sweeps("fn") == []  # refused before the sweep was created


def test_a_function_that_calls_sys_exit_fails_its_trial_and_ends_the_process() -> None:
    # SystemExit is no Exception: it ends the program, but the trial and its run say why
    # instead of staying 'running' until their heartbeat goes stale
    def train(run: runtrack.Run) -> float:
        run.log({"loss": 1.0})
        sys.exit(2)

    with pytest.raises(SystemExit) as info:
        runtrack.sweep(spec(), train, project="fn")
    assert info.value.code == 2
    [sw] = runtrack.Api().sweeps("fn")
    [t] = sw.trials()
    assert t.state == "failed" and t.error == "the trial function called sys.exit(2)"
    run = runtrack.Api().run(t.run_id)  # type: ignore[arg-type]
    assert (run.status, run.error) == ("failed", "the trial function called sys.exit(2)")
