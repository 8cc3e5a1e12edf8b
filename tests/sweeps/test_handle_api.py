"""The hand-driven sweep handle (``SweepView.ask / report / tell / stop``) under hostile and
edge-case calls: every refusal is a ``RuntrackError`` that says what is wrong, and a refused
call changes nothing already recorded. A few of the cases also run through a real server."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import runtrack
from runtrack.client._sweep_api import SweepView
from runtrack.entities import SweepTrial
from runtrack.errors import ConflictError, NotFoundError, RuntrackError, ValidationError
from runtrack.testing.live import LiveServer

pytestmark = pytest.mark.usefixtures("sdk")


def spec(**changes: Any) -> dict[str, Any]:
    s: dict[str, Any] = {
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {
            "x": {"distribution": "uniform", "min": -2.0, "max": 2.0},
            "opt": {"values": ["adam", "sgd"]},
            "epochs": {"value": 3},
        },
        "budget": {"trials": 4},
        "seed": 3,
    }
    s.update(changes)
    return s


def two_objectives(**changes: Any) -> dict[str, Any]:
    s = spec(**changes)
    del s["metric"]
    s["metrics"] = [{"name": "loss", "goal": "minimize"}, {"name": "acc", "goal": "maximize"}]
    return s


def new_sweep(s: dict[str, Any] | None = None, project: str = "hand") -> SweepView:
    return runtrack.Api().create_sweep(s if s is not None else spec(), project=project)


def asked(sw: SweepView) -> SweepTrial:
    t = sw.ask()
    assert t is not None and t.run_id is not None
    return t


def recorded(sw: SweepView, t: SweepTrial) -> tuple[Any, ...]:
    """What is recorded about trial ``t`` and its run, to compare before and after."""
    (tr,) = [x for x in sw.trials() if x.number == t.number]
    run = runtrack.Api().run(t.run_id)  # type: ignore[arg-type]
    return (
        tr.state,
        tr.values,
        tr.intermediate,
        tr.error,
        dict(tr.params),
        run.status,
        dict(run.tags),
        dict(run.summary),
    )


def refused(exc: BaseException, *words: str) -> None:
    assert isinstance(exc, RuntrackError), f"{type(exc).__name__}: {exc}"
    text = str(exc).lower()
    assert all(w.lower() in text for w in words), text


# -- tell ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("0.5", ["must be a number"]),
        (True, ["not a number"]),
        ({"loss": 1.0}, ["number"]),
        ([1.0, "x"], ["not a number"]),
        ([[1.0]], ["not a number"]),
        ({1.0}, ["not a number"]),
        (b"1", ["number"]),
        (object(), ["not a number"]),
        (10**400, ["number"]),
        ([1.0, 2.0], ["1 objective", "2 value"]),
        ([], ["1 objective", "0 value"]),
    ],
    ids=[
        "str",
        "bool",
        "dict",
        "list-with-str",
        "nested",
        "set",
        "bytes",
        "object",
        "huge-int",
        "two-values",
        "empty",
    ],
)
def test_tell_refuses_a_value_that_is_not_one_number(value: Any, words: list[str]) -> None:
    sw = new_sweep()
    t = asked(sw)
    before = recorded(sw, t)
    with pytest.raises(Exception) as info:
        sw.tell(t, value)
    refused(info.value, *words)
    assert recorded(sw, t) == before  # still running, its run untouched
    assert sw.tell(t, 0.25).state == "complete"  # and it can still be told properly


@pytest.mark.parametrize(
    "values",
    [[1.0], [1.0, 2.0, 3.0], 1.0, [1.0, None], [1.0, True]],
    ids=["one", "three", "scalar", "with-none", "with-bool"],
)
def test_a_two_objective_tell_needs_two_numbers(values: Any) -> None:
    sw = new_sweep(two_objectives())
    t = asked(sw)
    before = recorded(sw, t)
    with pytest.raises(ValidationError) as info:
        sw.tell(t, values)
    assert "objective" in str(info.value) or "not a number" in str(info.value)
    assert recorded(sw, t) == before
    told = sw.tell(t, (0.5, 0.9))
    assert told.state == "complete" and told.values == (0.5, 0.9)


def test_numpy_scalars_are_numbers() -> None:
    np = pytest.importorskip("numpy")
    sw = new_sweep()
    t = asked(sw)
    assert sw.report(t, np.float32(2.5), np.int64(0)) is False
    told = sw.tell(t, np.float64(1.25))
    assert told.state == "complete" and told.values == (1.25,)
    assert runtrack.Api().run(t.run_id).summary["loss"] == 1.25  # type: ignore[arg-type]
    sw2 = new_sweep(two_objectives())
    t2 = asked(sw2)
    assert sw2.tell(t2, [np.float64(1.0), np.int32(2)]).values == (1.0, 2.0)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_objective_fails_the_trial_and_its_run_says_so(bad: float) -> None:
    sw = new_sweep()
    t = asked(sw)
    told = sw.tell(t, bad)
    assert told.state == "failed" and told.values is None
    assert told.error is not None and "finite" in told.error
    (tr,) = sw.trials()
    assert tr.state == "failed"
    assert sw.refresh().best_trial is None  # -inf must not become the best of a minimize
    run = runtrack.Api().run(t.run_id)  # type: ignore[arg-type]
    # the run agrees with its trial: failed, not "complete" with a non-finite objective
    assert run.tags["runtrack.trial_state"] == "failed"
    assert run.status == "failed"


@pytest.mark.parametrize("state", ["done", "COMPLETE", "", "running", None, 1, ["complete"]])
def test_tell_refuses_an_unknown_state(state: Any) -> None:
    sw = new_sweep()
    t = asked(sw)
    before = recorded(sw, t)
    with pytest.raises(ValidationError, match="complete, pruned or failed"):
        sw.tell(t, 1.0, state=state)
    assert recorded(sw, t) == before


def test_complete_without_a_value_is_refused_and_changes_nothing() -> None:
    sw = new_sweep(two_objectives())
    t = asked(sw)
    before = recorded(sw, t)
    with pytest.raises(ValidationError, match=r"objective values \(loss, acc\)"):
        sw.tell(t)
    assert recorded(sw, t) == before


def test_pruned_with_and_without_a_value() -> None:
    sw = new_sweep()
    bare, valued = asked(sw), asked(sw)
    assert sw.report(bare, 3.0, 0) is False
    t = sw.tell(bare, state="pruned")
    assert t.state == "pruned" and t.intermediate == ((0, 3.0),)
    t = sw.tell(valued, 2.0, state="pruned")
    assert t.state == "pruned" and t.intermediate == ((0, 2.0),)
    for tr in (bare, valued):
        run = runtrack.Api().run(tr.run_id)  # type: ignore[arg-type]
        assert run.status == "finished" and run.tags["runtrack.trial_state"] == "pruned"
    third = asked(sw)
    with pytest.raises(ValidationError, match="at most"):
        sw.tell(third, [1.0, 2.0], state="pruned")
    assert sw.tell(third, [1.0], state="pruned").state == "pruned"


def test_telling_the_same_trial_again_keeps_the_first_outcome() -> None:
    sw = new_sweep()
    t = asked(sw)
    first = sw.tell(t, 0.5)
    after = recorded(sw, t)
    assert sw.tell(t, 0.5) == first  # the same again: a no-op
    assert sw.tell(t.run_id, 0.5).values == (0.5,)  # by run id: the same trial
    with pytest.raises(ConflictError, match="already complete"):
        sw.tell(t, state="failed", error="late")
    with pytest.raises(ConflictError, match="already complete"):
        sw.tell(t, 0.1, state="pruned")
    assert recorded(sw, t) == after
    assert sw.refresh().best_trial.values == (0.5,)  # type: ignore[union-attr]


def test_telling_a_complete_trial_a_different_value_is_a_conflict() -> None:
    sw = new_sweep()
    t = asked(sw)
    sw.tell(t, 0.5)
    after = recorded(sw, t)
    try:
        with pytest.raises(ConflictError, match="already complete"):
            sw.tell(t, 0.1)  # the caller believes 0.1 was recorded: it was not
    finally:
        assert recorded(sw, t) == after  # the first value stands either way


def test_a_trial_of_another_sweep_or_no_trial_is_not_found() -> None:
    a, b = new_sweep(), new_sweep()
    ta, tb = asked(a), asked(b)
    before_a, before_b = recorded(a, ta), recorded(b, tb)
    for call in (
        lambda: a.tell(tb, 1.0),
        lambda: a.tell(tb.run_id, 1.0),
        lambda: a.report(tb, 1.0, 0),
        lambda: a.tell(a.id, 1.0),  # the sweep's own run is not a trial
        lambda: a.tell("0000nosuchrun00", 1.0),
    ):
        with pytest.raises(NotFoundError) as info:
            call()
        assert "not a trial" in str(info.value) or "does not exist" in str(info.value)
    assert recorded(a, ta) == before_a and recorded(b, tb) == before_b


@pytest.mark.parametrize(
    "trial", [None, 123, 1.5, {"run_id": "x"}, ["abc"], "", "NOT AN ID!", "a" * 500]
)
def test_tell_and_report_refuse_a_malformed_trial(trial: Any) -> None:
    sw = new_sweep()
    t = asked(sw)
    before = recorded(sw, t)
    for call in (lambda: sw.tell(trial, 1.0), lambda: sw.report(trial, 1.0, 0)):
        with pytest.raises((ValidationError, NotFoundError)) as info:
            call()
        assert "run" in str(info.value)
    assert recorded(sw, t) == before


def test_a_trial_may_be_told_after_its_sweep_was_stopped() -> None:
    sw = new_sweep()
    t = asked(sw)
    sw.stop("enough")
    assert sw.report(t, 1.0, 0) is False
    told = sw.tell(t, 0.75)
    assert told.state == "complete" and told.values == (0.75,)
    sw.refresh()
    assert sw.status == "stopped" and sw.record.stop_reason == "enough"
    assert sw.counts == {"complete": 1} and sw.best_trial.values == (0.75,)  # type: ignore[union-attr]


@pytest.mark.parametrize("error", [123, b"bytes", ["a"], {"e": 1}])
def test_tell_refuses_an_error_that_is_not_text(error: Any) -> None:
    sw = new_sweep()
    t = asked(sw)
    before = recorded(sw, t)
    with pytest.raises(ValidationError, match="error must be a string"):
        sw.tell(t, state="failed", error=error)
    assert recorded(sw, t) == before


def test_a_huge_error_text_is_kept_truncated() -> None:
    sw = new_sweep()
    t = asked(sw)
    text = "Traceback ü\n" + "x" * 200_000
    sw.tell(t, state="failed", error=text)
    (tr,) = sw.trials()
    assert tr.state == "failed" and tr.error is not None
    assert 1_000 <= len(tr.error) < len(text) and text.startswith(tr.error)
    assert runtrack.Api().run(t.run_id).status == "failed"  # type: ignore[arg-type]


def test_tell_returns_the_trial_as_recorded() -> None:
    sw = new_sweep()
    t = asked(sw)
    told = sw.tell(t, state="failed", error="x" * 20_000)
    assert told == sw.trials()[0]


# -- report ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "step", [-1, 2**63, 1.5, 2.0, True, False, "3", None], ids=lambda s: repr(s)[:12]
)
def test_report_refuses_a_step_that_is_not_a_natural_number(step: Any) -> None:
    sw = new_sweep(spec(pruner={"type": "median"}))
    t = asked(sw)
    before = recorded(sw, t)
    with pytest.raises(ValidationError, match="step"):
        sw.report(t, 1.0, step)
    assert recorded(sw, t) == before


def test_report_takes_a_huge_step() -> None:
    sw = new_sweep(spec(pruner={"type": "median"}))
    t = asked(sw)
    assert sw.report(t, 1.0, 2**63 - 1) is False
    assert sw.trials()[0].intermediate == ((2**63 - 1, 1.0),)


@pytest.mark.parametrize("value", ["1.0", None, [1.0], 10**400], ids=repr)
def test_report_refuses_a_value_that_is_not_a_number(value: Any) -> None:
    sw = new_sweep(spec(pruner={"type": "median"}))
    t = asked(sw)
    before = recorded(sw, t)
    with pytest.raises(ValidationError, match="must be numbers"):
        sw.report(t, value, 0)
    assert recorded(sw, t) == before


def test_report_refuses_a_bool_value_as_tell_does() -> None:
    sw = new_sweep(spec(pruner={"type": "median"}))
    t = asked(sw)
    with pytest.raises(ValidationError):
        sw.report(t, True, 0)
    assert sw.trials()[0].intermediate == ()


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_report_is_no_crash(bad: float) -> None:
    sw = new_sweep(spec(pruner={"type": "median", "n_startup_trials": 0}))
    t = asked(sw)
    prune = sw.report(t, bad, 0)
    assert isinstance(prune, bool)
    (tr,) = sw.trials()
    assert tr.state == "running" and len(tr.intermediate) == 1
    told = sw.tell(t, state="pruned") if prune else sw.tell(t, 1.0)
    assert told.state in ("pruned", "complete")
    sw.analysis()  # the analysis reads the trial


def test_a_step_reported_twice_keeps_its_first_value() -> None:
    sw = new_sweep(spec(pruner={"type": "median"}))
    t = asked(sw)
    assert sw.report(t, 5.0, 0) is False
    assert sw.report(t, 1.0, 0) is False
    assert sw.report(t, 4.0, 1) is False
    assert sw.trials()[0].intermediate == ((0, 5.0), (1, 4.0))


def test_report_after_tell_changes_nothing_and_says_whether_pruned() -> None:
    sw = new_sweep(spec(pruner={"type": "median"}))
    done, pruned = asked(sw), asked(sw)
    sw.tell(done, 0.5)
    sw.report(pruned, 3.0, 0)
    sw.tell(pruned, state="pruned")
    before = recorded(sw, done), recorded(sw, pruned)
    assert sw.report(done, 99.0, 7) is False
    assert sw.report(pruned, 99.0, 7) is True
    assert (recorded(sw, done), recorded(sw, pruned)) == before


def test_without_a_pruner_report_records_and_answers_false() -> None:
    sw = new_sweep()
    t = asked(sw)
    assert [sw.report(t, 100.0 + i, i) for i in range(3)] == [False] * 3
    assert sw.trials()[0].intermediate == ((0, 100.0), (1, 101.0), (2, 102.0))
    assert sw.tell(t, 1.0).state == "complete"


# -- ask -------------------------------------------------------------------------------------
def test_asks_without_tells_stop_exactly_at_the_budget() -> None:
    sw = new_sweep(spec(budget={"trials": 5}))
    trials = [asked(sw) for _ in range(5)]
    assert sw.ask() is None and sw.ask() is None
    assert [t.number for t in trials] == list(range(5))
    assert len({t.run_id for t in trials}) == 5
    api = runtrack.Api()
    for t in trials:
        run = api.run(t.run_id)  # type: ignore[arg-type]
        assert run.parent_id == sw.id and run.status == "running"
        cfg = run.config
        assert cfg["x"] == t.params["x"] and cfg["opt"] == t.params["opt"] and cfg["epochs"] == 3
    sw.refresh()
    assert sw.status == "running" and sw.counts == {"running": 5}  # its trials still run
    for t in trials:
        sw.tell(t, 1.0)
    sw.refresh()
    assert sw.status == "finished" and sw.record.budget_used == 5
    assert sw.record.stop_reason and "5" in sw.record.stop_reason
    assert sw.ask() is None
    assert api.run(sw.id).status == "finished"


def test_ask_on_a_stopped_or_finished_sweep_is_none() -> None:
    sw = new_sweep(spec(budget={"trials": 1}))
    sw.tell(asked(sw), 1.0)
    assert sw.refresh().status == "finished"
    assert sw.ask() is None
    other = new_sweep()
    other.stop()
    assert other.ask() is None and other.ask() is None
    assert other.refresh().counts == {} and other.trials() == []


# -- stop ------------------------------------------------------------------------------------
def test_stop_twice_keeps_the_first_reason() -> None:
    sw = new_sweep()
    t = asked(sw)
    assert sw.stop("first").status == "stopped"
    ended = sw.record.ended_at
    assert sw.stop("second").record.stop_reason == "first"
    sw.refresh()
    assert (sw.status, sw.record.stop_reason, sw.record.ended_at) == ("stopped", "first", ended)
    assert runtrack.Api().run(sw.id).status == "finished"
    assert recorded(sw, t)[0] == "running"  # the trial it was running is not touched


def test_stop_without_a_reason_says_so() -> None:
    for reason in (None, ""):
        sw = new_sweep()
        assert sw.stop(reason).record.stop_reason == "stopped by request"


@pytest.mark.parametrize("reason", ["r" * 1001, 5, b"why", ["a"]], ids=["huge", "int", "b", "l"])
def test_stop_refuses_a_bad_reason_and_leaves_the_sweep_running(reason: Any) -> None:
    sw = new_sweep()
    t = asked(sw)
    with pytest.raises(ValidationError, match="reason"):
        sw.stop(reason)
    sw.refresh()
    assert sw.status == "running" and sw.record.stop_reason is None
    assert asked(sw).number == t.number + 1


def test_stop_on_a_finished_sweep_changes_nothing() -> None:
    sw = new_sweep(spec(budget={"trials": 1}))
    sw.tell(asked(sw), 1.0)
    rec = sw.refresh().record
    assert rec.status == "finished"
    assert sw.stop("too late").record == rec
    assert sw.refresh().record == rec


# -- through a server ------------------------------------------------------------------------
@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    with LiveServer(tmp_path / "server") as srv:
        monkeypatch.setenv("RUNTRACK_URL", srv.url)
        yield srv


def test_remote_refusals_are_the_same(server: LiveServer) -> None:
    sw = new_sweep(two_objectives(budget={"trials": 2}))
    t = asked(sw)
    before = recorded(sw, t)
    for call, exc, words in [
        (lambda: sw.tell(t, [1.0]), ValidationError, ["2 objective"]),
        (lambda: sw.tell(t, [1.0, "x"]), ValidationError, ["not a number"]),
        (lambda: sw.tell(t), ValidationError, ["objective values"]),
        (lambda: sw.tell(t, [1.0, 2.0], state="done"), ValidationError, ["state"]),
        (lambda: sw.tell(t, state="failed", error=5), ValidationError, ["error"]),
        (lambda: sw.report(t, 1.0, -1), ValidationError, ["step"]),
        (lambda: sw.report(t, "1", 0), ValidationError, ["number"]),
        (lambda: sw.tell(sw.id, [1.0, 2.0]), NotFoundError, ["not a trial"]),
        (lambda: sw.stop("r" * 1001), ValidationError, ["reason"]),
    ]:
        with pytest.raises(exc) as info:
            call()
        refused(info.value, *words)
    assert recorded(sw, t) == before
    first = sw.tell(t, [0.5, 0.9])
    assert sw.tell(t, [0.5, 0.9]) == first
    with pytest.raises(ConflictError, match="already complete"):
        sw.tell(t, state="failed")
    sw.stop("done here")
    assert sw.ask() is None
    sw.stop("again")
    sw.refresh()
    assert (sw.status, sw.record.stop_reason) == ("stopped", "done here")
    assert sw.counts == {"complete": 1}


def test_remote_non_finite_values(server: LiveServer) -> None:
    sw = new_sweep(spec(pruner={"type": "median", "n_startup_trials": 0}))
    t = asked(sw)
    assert isinstance(sw.report(t, math.nan, 0), bool)
    assert isinstance(sw.report(t, math.inf, 1), bool)
    assert len(sw.trials()[0].intermediate) == 2
    t2 = asked(sw)
    told = sw.tell(t2, math.inf)
    assert told.state == "failed" and told.error is not None and "finite" in told.error
    sw.analysis()


def test_remote_huge_error_is_kept_truncated_as_embedded(server: LiveServer) -> None:
    sw = new_sweep()
    t = asked(sw)
    text = "E" * 200_000
    sw.tell(t, state="failed", error=text)
    (tr,) = sw.trials()
    assert tr.state == "failed" and tr.error is not None and text.startswith(tr.error)
