"""Pruning on the embedded store: each pruner type fed by the objective the trial logs with
``run.log`` and judged by ``run.should_prune()``, ``runtrack.TrialPruned``, the pruner
section's validation, and odd reports (steps out of order, non-finite values)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pytest

import runtrack
from runtrack.client._sweep_api import SweepView
from runtrack.errors import RunNotFoundError, ValidationError

pytestmark = pytest.mark.usefixtures("sdk")


def spec(pruner: Any, trials: int, **changes: Any) -> dict[str, Any]:
    s: dict[str, Any] = {
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"x": {"distribution": "uniform", "min": 0.0, "max": 1.0}},
        "method": "random",
        "pruner": pruner,
        "budget": {"trials": trials},
        "seed": 0,
    }
    s.update(changes)
    return s


def flat(level: float, steps: int = 6) -> list[float]:
    """A learning curve that stays near ``level`` (a little worse each step)."""
    return [level + 0.01 * s for s in range(steps)]


def sweep_curves(
    pruner: Any, curves: Sequence[Sequence[float]], **changes: Any
) -> tuple[SweepView, list[list[bool]]]:
    """Trial i logs curves[i] step by step, asking should_prune() after each value and
    raising TrialPruned when told to. Returns the sweep and each trial's answers."""
    answers: list[list[bool]] = []

    def train(run: runtrack.Run) -> None:
        curve = curves[len(answers)]
        answers.append([])
        for value in curve:
            run.log({"loss": value})
            stop = run.should_prune()
            answers[-1].append(stop)
            if stop:
                raise runtrack.TrialPruned()

    sw = runtrack.sweep(spec(pruner, len(curves), **changes), train, project="prune")
    return sw, answers


def states(sw: SweepView) -> list[str]:
    return [t.state for t in sw.trials()]


# -- median --------------------------------------------------------------------------------
def test_median_prunes_a_trial_clearly_worse_than_earlier_ones_at_the_same_step() -> None:
    sw, answers = sweep_curves(
        {"type": "median", "n_startup_trials": 2}, [flat(1.0), flat(2.0), flat(50.0), flat(0.5)]
    )
    assert states(sw) == ["complete", "complete", "pruned", "complete"]
    assert answers[2] == [True]  # stopped at its first step
    assert answers[0] == answers[1] == answers[3] == [False] * 6
    trials = sw.trials()
    pruned = trials[2]
    assert pruned.values == (50.0,)  # its last value
    assert pruned.intermediate[0] == (0, 50.0)
    run = runtrack.Api().run(pruned.run_id)  # type: ignore[arg-type]
    assert run.status == "finished" and run.tags["runtrack.trial_state"] == "pruned"
    assert run.summary["loss"] == 50.0
    assert [i for i, _ in trials[0].intermediate] == list(range(6))
    assert sw.counts == {"complete": 3, "pruned": 1}
    assert sw.best_trial is not None and sw.best_trial.number == 3
    hist = sw.analysis()["history"]
    assert [(h["state"], h["value"]) for h in hist][2] == ("pruned", 50.0)


def test_median_never_prunes_the_start_up_trials() -> None:
    # each start-up trial is worse than the ones before it, yet none is pruned until
    # n_startup_trials trials have completed
    sw, answers = sweep_curves(
        {"type": "median", "n_startup_trials": 3}, [flat(1.0), flat(5.0), flat(25.0), flat(50.0)]
    )
    assert states(sw) == ["complete", "complete", "complete", "pruned"]
    assert all(a == [False] * 6 for a in answers[:3])
    assert answers[3] == [True]


def test_the_first_trial_is_never_pruned_by_default() -> None:
    sw, answers = sweep_curves({"type": "median"}, [flat(1e6)])
    assert states(sw) == ["complete"] and answers == [[False] * 6]
    assert sw.spec["pruner"]["n_startup_trials"] == 5  # Optuna's default, filled in


def test_median_waits_for_the_warm_up_steps() -> None:
    sw, answers = sweep_curves(
        {"type": "median", "n_startup_trials": 1, "n_warmup_steps": 3}, [flat(1.0), flat(100.0)]
    )
    assert states(sw) == ["complete", "pruned"]
    assert answers[1] == [False, False, False, True]
    assert sw.trials()[1].values == (100.03,)


def test_median_prunes_the_lower_values_when_maximizing() -> None:
    sw, answers = sweep_curves(
        {"type": "median", "n_startup_trials": 2},
        [flat(0.9), flat(0.8), flat(0.1), flat(0.95)],
        metric={"name": "loss", "goal": "maximize"},
    )
    assert states(sw) == ["complete", "complete", "pruned", "complete"]
    assert answers[2] == [True] and answers[3] == [False] * 6
    assert sw.best_trial is not None and sw.best_trial.number == 3


def test_a_trial_better_than_the_median_goes_on() -> None:
    sw, answers = sweep_curves(
        {"type": "median", "n_startup_trials": 2}, [flat(1.0), flat(3.0), flat(1.5)]
    )
    assert states(sw) == ["complete"] * 3 and answers[2] == [False] * 6


# -- percentile -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "pruner, pruned",
    [
        ({"type": "percentile", "percentile": 25.0, "n_startup_trials": 4}, True),
        ({"type": "percentile", "percentile": 75.0, "n_startup_trials": 4}, False),
        ({"type": "median", "n_startup_trials": 4}, False),  # the 50th percentile
    ],
)
def test_percentile_keeps_trials_within_its_percentile(
    pruner: dict[str, Any], pruned: bool
) -> None:
    # at every step the four start-up trials stand at 1, 2, 3, 4; the last one at 2.5 is
    # worse than the 25th percentile (1.75), better than the median (2.5) and the 75th
    curves = [flat(1.0), flat(2.0), flat(3.0), flat(4.0), flat(2.5)]
    sw, answers = sweep_curves(pruner, curves)
    assert states(sw)[:4] == ["complete"] * 4
    assert states(sw)[4] == ("pruned" if pruned else "complete")
    assert answers[4] == ([True] if pruned else [False] * 6)


def test_percentile_defaults_to_the_best_quarter() -> None:
    sw = runtrack.Api().create_sweep(spec({"type": "percentile"}, 2), project="prune")
    assert sw.spec["pruner"] == {
        "type": "percentile",
        "percentile": 25.0,
        "n_startup_trials": 5,
        "n_warmup_steps": 0,
        "interval_steps": 1,
        "n_min_trials": 1,
        "patience": None,
        "min_delta": 0.0,
    }


# -- successive halving and hyperband -------------------------------------------------------------
def test_sha_judges_trials_at_its_first_rung() -> None:
    # rungs at min_resource * reduction_factor ** (min_early_stopping_rate + rung): 3, 9, ...
    pruner = {"type": "sha", "min_resource": 1, "reduction_factor": 3, "min_early_stopping_rate": 1}
    sw, answers = sweep_curves(pruner, [flat(1.0, 8), flat(5.0, 8), flat(0.5, 8)])
    assert states(sw) == ["complete", "pruned", "complete"]
    assert answers[1] == [False, False, False, True]
    assert answers[0] == answers[2] == [False] * 8


def test_sha_min_resource_sets_the_first_rung() -> None:
    pruner = {"type": "successive_halving", "min_resource": 2, "reduction_factor": 2}
    sw, answers = sweep_curves(pruner, [flat(1.0), flat(5.0)])
    assert sw.spec["pruner"]["type"] == "sha"  # the alias is normalised
    assert states(sw) == ["complete", "pruned"] and answers[1] == [False, False, True]


def test_sha_defaults_are_filled_in() -> None:
    sw = runtrack.Api().create_sweep(spec({"type": "sha"}, 2), project="prune")
    assert sw.spec["pruner"] == {
        "type": "sha",
        "min_resource": "auto",
        "reduction_factor": 4,
        "min_early_stopping_rate": 0,
        "bootstrap_count": 0,
    }


def test_hyperband_with_a_single_bracket_halves_like_sha() -> None:
    # floor(log_3(2 / 1)) + 1 = 1 bracket: plain successive halving, first rung at step 1
    pruner = {"type": "hyperband", "min_resource": 1, "max_resource": 2, "reduction_factor": 3}
    sw, answers = sweep_curves(pruner, [flat(1.0), flat(5.0), flat(0.5), flat(3.0)])
    assert states(sw) == ["complete", "pruned", "complete", "pruned"]
    assert answers[1] == answers[3] == [False, True]


def optuna_answers(
    study_name: str, pruner: Any, curves: Sequence[Sequence[float]]
) -> tuple[list[str], list[list[bool]]]:
    """The same trials run one after another in a plain in-memory Optuna study of the same
    name (Hyperband puts a trial in a bracket by its study's name and its number)."""
    import optuna

    study = optuna.create_study(study_name=study_name, pruner=pruner)
    got_states: list[str] = []
    answers: list[list[bool]] = []
    for curve in curves:
        trial = study.ask()
        trial.suggest_float("x", 0.0, 1.0)
        answers.append([])
        for step, value in enumerate(curve):
            trial.report(value, step)
            answers[-1].append(trial.should_prune())
            if answers[-1][-1]:
                break
        pruned = answers[-1][-1]
        state = optuna.trial.TrialState.PRUNED if pruned else optuna.trial.TrialState.COMPLETE
        study.tell(trial, None if pruned else curve[-1], state=state)
        got_states.append("pruned" if pruned else "complete")
    return got_states, answers


def test_hyperband_with_several_brackets_decides_as_optuna_does() -> None:
    """floor(log_3(9 / 1)) + 1 = 3 brackets with first rungs at steps 1, 3 and 9: each
    trial is judged only against the trials of its bracket, so the store-side pruner has to
    put every trial in the bracket Optuna would (by sweep id and trial number) and see the
    same earlier reports."""
    import random

    import optuna

    rng = random.Random(7)
    curves = [flat(rng.uniform(0.0, 10.0), 10) for _ in range(24)]
    pruner = {"type": "hyperband", "min_resource": 1, "max_resource": 9, "reduction_factor": 3}
    sw, answers = sweep_curves(pruner, curves)
    reference = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=9, reduction_factor=3)
    want_states, want_answers = optuna_answers(sw.id, reference, curves)
    assert states(sw) == want_states
    assert answers == want_answers
    # the case tells brackets apart: trials were stopped at more than one rung
    stops = {len(a) - 1 for a in answers if a[-1]}
    assert len(stops) >= 2, stops
    for trial, curve, answer in zip(sw.trials(), curves, answers, strict=True):
        assert trial.values == (curve[len(answer) - 1],)  # its last reported value


def test_hyperband_defaults_are_filled_in_and_good_trials_run_to_the_end() -> None:
    sw, answers = sweep_curves({"type": "hyperband"}, [flat(1.0), flat(0.9), flat(0.8)])
    assert sw.spec["pruner"] == {
        "type": "hyperband",
        "min_resource": 1,
        "max_resource": "auto",
        "reduction_factor": 3,
        "bootstrap_count": 0,
    }
    assert states(sw) == ["complete"] * 3 and all(a == [False] * 6 for a in answers)


# -- none, TrialPruned, should_prune outside a sweep -------------------------------------------
def test_no_pruner_never_prunes(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="runtrack"):
        sw, answers = sweep_curves({"type": "none"}, [flat(1.0), flat(1e6), flat(1e9)])
    assert states(sw) == ["complete"] * 3
    assert all(a == [False] * 6 for a in answers)
    assert all(t.intermediate == () for t in sw.trials())  # nothing reported
    assert caplog.text.count("has no pruner") == 1  # once for the sweep, not per trial


def test_the_default_is_no_pruner() -> None:
    s = spec(None, 2)
    del s["pruner"]
    sw = runtrack.Api().create_sweep(s, project="prune")
    assert sw.spec["pruner"] == {"type": "none"}


def test_raising_trial_pruned_records_a_pruned_trial() -> None:
    calls: list[int] = []

    def train(run: runtrack.Run) -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            run.log({"loss": 3.0})
            run.log({"loss": 2.0})
        raise runtrack.TrialPruned()  # no pruner asked: the function decides

    sw = runtrack.sweep(spec({"type": "none"}, 2), train, project="prune")
    first, second = sw.trials()
    assert (first.state, first.values) == ("pruned", (2.0,))  # its last value
    assert (second.state, second.values) == ("pruned", None)  # it logged nothing
    api = runtrack.Api()
    for t in (first, second):
        run = api.run(t.run_id)  # type: ignore[arg-type]
        assert run.status == "finished" and run.tags["runtrack.trial_state"] == "pruned"
    assert sw.counts == {"pruned": 2} and sw.best_trial is None
    assert sw.status == "finished"


def test_a_trial_the_pruner_stopped_stays_pruned_however_the_function_ends() -> None:
    answers: list[list[bool]] = []

    def train(run: runtrack.Run) -> float:
        level = 1.0 if not answers else 50.0
        answers.append([])
        for value in flat(level, 3):
            run.log({"loss": value})
            answers[-1].append(run.should_prune())  # ignored
        return value

    sw = runtrack.sweep(spec({"type": "median", "n_startup_trials": 1}, 2), train, project="prune")
    assert answers == [[False] * 3, [True] * 3]
    assert states(sw) == ["complete", "pruned"]
    assert sw.best_trial is not None and sw.best_trial.number == 0


def test_should_prune_outside_a_sweep_is_false() -> None:
    with runtrack.init(project="plain") as run:
        assert run.should_prune() is False  # nothing logged: still no error outside a sweep
        run.log({"loss": 1e9})
        assert run.should_prune() is False


def test_should_prune_before_the_objective_is_logged_says_what_to_log() -> None:
    def train(run: runtrack.Run) -> None:
        run.log({"accuracy": 0.5})
        run.should_prune()

    sw = runtrack.sweep(spec({"type": "median"}, 1), train, project="prune")
    [t] = sw.trials()
    assert t.state == "failed" and "log it first" in (t.error or "")
    assert "'loss'" in (t.error or "")


# -- validation ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "pruner, field",
    [
        ({"type": "median", "n_startup_trials": -1}, "pruner.n_startup_trials"),
        ({"type": "median", "n_warmup_steps": 1.5}, "pruner.n_warmup_steps"),
        ({"type": "median", "n_warmup_steps": True}, "pruner.n_warmup_steps"),
        ({"type": "median", "interval_steps": 0}, "pruner.interval_steps"),
        ({"type": "median", "min_delta": -1}, "pruner.min_delta"),
        ({"type": "median", "lr": 0.1}, "pruner.lr"),
        ({"type": "percentile", "percentile": 150}, "pruner.percentile"),
        ({"type": "percentile", "percentile": float("nan")}, "pruner.percentile"),
        ({"type": "percentile", "percentile": "25"}, "pruner.percentile"),
        ({"type": "sha", "reduction_factor": 1}, "pruner.reduction_factor"),
        ({"type": "sha", "min_resource": 0}, "pruner.min_resource"),
        ({"type": "sha", "min_resource": "later"}, "pruner.min_resource"),
        ({"type": "sha", "patience": 2}, "pruner.patience"),
        ({"type": "sha", "bootstrap_count": 2}, "pruner.bootstrap_count"),
        ({"type": "hyperband", "min_resource": 5, "max_resource": 2}, "pruner.max_resource"),
        ({"type": "hyperband", "reduction_factor": 1.5}, "pruner.reduction_factor"),
        ({"type": "hyperband", "n_startup_trials": 3}, "pruner.n_startup_trials"),
        ({"type": "threshold"}, "pruner.lower or pruner.upper"),
        ({"type": "threshold", "lower": 2.0, "upper": 1.0}, "pruner.lower"),
        ({"type": "mediam"}, "pruner.type"),
        ({"n_startup_trials": 1}, "pruner.type"),
        ({}, "pruner.type"),
        ("mediam", "pruner.type 'mediam' is unknown"),
    ],
)
def test_bad_pruner_options_are_refused_naming_the_field(pruner: Any, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        runtrack.Api().create_sweep(spec(pruner, 2), project="prune")
    assert field in str(info.value)
    assert str(info.value).startswith("sweep spec: pruner")
    assert runtrack.Api().sweeps("prune") == []  # nothing stored


@pytest.mark.parametrize("pruner", [0, False, []])
def test_a_pruner_that_is_not_a_mapping_is_refused_even_when_falsy(pruner: Any) -> None:
    with pytest.raises(ValidationError, match="pruner must be a type name or a mapping"):
        runtrack.Api().create_sweep(spec(pruner, 2), project="prune")


def test_an_empty_pruner_name_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"pruner\.type '' is unknown"):
        runtrack.Api().create_sweep(spec("", 2), project="prune")


@pytest.mark.parametrize("name", ["median", "none", "successive_halving", "hyperband"])
def test_a_bare_type_name_is_the_pruner_with_its_defaults(name: str) -> None:
    api = runtrack.Api()
    short = api.create_sweep(spec(name, 2), project="prune")
    full = api.create_sweep(spec({"type": name}, 2), project="prune")
    assert short.spec["pruner"] == full.spec["pruner"]
    assert short.spec["pruner"]["type"] == ("sha" if name == "successive_halving" else name)


def test_a_sweep_of_several_objectives_refuses_a_pruner() -> None:
    s = spec({"type": "median"}, 2)
    del s["metric"]
    s["metrics"] = [{"name": "loss", "goal": "minimize"}, {"name": "acc", "goal": "maximize"}]
    with pytest.raises(ValidationError, match="several objectives cannot prune"):
        runtrack.Api().create_sweep(s, project="prune")


# -- odd reports -----------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_non_finite_objective_is_not_reported_and_fails_the_trial(bad: float) -> None:
    answers: list[bool] = []

    def train(run: runtrack.Run) -> None:
        run.log({"loss": 1.0})
        answers.append(run.should_prune())
        run.log({"loss": bad})
        answers.append(run.should_prune())  # the pruner cannot rank it: go on

    sw = runtrack.sweep(spec({"type": "median", "n_startup_trials": 0}, 1), train, project="prune")
    [t] = sw.trials()
    assert answers == [False, False]
    assert t.state == "failed" and "not finite" in (t.error or "")
    assert t.intermediate == ((0, 1.0),)  # the non-finite value was not reported
    assert sw.best_trial is None


def test_steps_logged_out_of_order_are_reported_at_their_own_step() -> None:
    def train(run: runtrack.Run) -> None:
        run.log({"loss": 1.0}, step=5)
        assert run.should_prune() is False
        run.log({"loss": 2.0}, step=2)
        assert run.should_prune() is False
        run.log({"loss": 0.5}, step=7)
        assert run.should_prune() is False

    sw = runtrack.sweep(spec({"type": "median", "n_startup_trials": 0}, 1), train, project="prune")
    [t] = sw.trials()
    assert t.state == "complete" and t.values == (0.5,)  # the last value logged
    assert t.intermediate == ((2, 2.0), (5, 1.0), (7, 0.5))


def test_reports_by_hand_are_checked() -> None:
    sw = runtrack.Api().create_sweep(spec({"type": "median"}, 2), project="prune")
    t = sw.ask()
    assert t is not None
    with pytest.raises(ValidationError, match="step -1"):
        sw.report(t, 1.0, -1)
    with pytest.raises(ValidationError, match="must be numbers"):
        sw.report(t, "high", 0)  # type: ignore[arg-type]
    with runtrack.init(project="prune") as other:
        pass
    with pytest.raises(RunNotFoundError, match="not a trial"):
        sw.report(other.id, 1.0, 0)
    assert sw.report(t, 1.0, 0) is False
    sw.tell(t, state="pruned")
    assert sw.report(t, 1.0, 1) is True  # a pruned trial stays stopped


def test_a_pruned_trial_keeps_the_steps_it_reported() -> None:
    sw, answers = sweep_curves(
        {"type": "median", "n_startup_trials": 1}, [flat(1.0, 4), flat(50.0, 4)]
    )
    assert answers[1] == [True]
    pruned = sw.trials()[1]
    assert pruned.state == "pruned" and pruned.values == (50.0,)
    assert pruned.intermediate == ((0, 50.0),)


def test_patience_spares_a_flat_trial_it_prunes_one_that_gets_worse() -> None:
    # Optuna's PatientPruner lets the inner pruner act only once the best of the last
    # patience + 1 values is worse than the best before them: flat is not worse
    sw, answers = sweep_curves(
        {"type": "median", "n_startup_trials": 1, "patience": 2},
        [flat(1.0, 8), [10.0] * 8, [10.0 + s for s in range(8)]],
    )
    assert states(sw) == ["complete", "complete", "pruned"]
    assert not any(answers[1]) and answers[2][-1] is True


def test_patience_spares_a_bad_trial_that_still_improves() -> None:
    sw, answers = sweep_curves(
        {"type": "median", "n_startup_trials": 1, "patience": 2},
        [flat(1.0, 8), [10.0, 9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0], [10.0 + s for s in range(8)]],
    )
    assert states(sw) == ["complete", "complete", "pruned"]
    assert answers[2] == [False, False, False, True]
