"""A trial whose agent vanished (no heartbeat: a machine lost, not just a process) is
failed by the next ask, by the store's clock; and the time and patience budgets end a
sweep."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtrack.errors import ConflictError, StoreUnavailableError
from runtrack.store.sql.store import SqlStore
from runtrack.testing.sweep_contract import loss, quad_spec


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _store(tmp_path: Path, clock: Clock) -> SqlStore:
    """A store on ``clock`` whose runs are crashed 30 s after their last beat."""
    return SqlStore(
        f"sqlite:///{tmp_path / 'rt.db'}", auto_upgrade=True, crash_after=30, clock=clock
    )


def test_a_silent_trial_is_failed_and_retried(tmp_path: Path) -> None:
    clock = Clock()
    store = _store(tmp_path, clock)
    sw = store.create_sweep("p", quad_spec(retries=1, budget={"trials": 2}), actor="a")
    lost = store.sweep_ask(sw.id, user="a", host="gone")
    assert lost is not None and lost.run_id is not None
    clock.now += 10
    other = store.sweep_ask(sw.id, user="a", host="h")  # the lost trial is still alive
    assert other is not None and other.run_id is not None
    store.heartbeat(other.run_id)
    clock.now += 25  # 35 s without a beat for the lost trial; 25 s for the other
    store.heartbeat(other.run_id)
    retry = store.sweep_ask(sw.id, user="a", host="h")
    assert retry is not None and retry.retry_of == lost.number
    assert dict(retry.params) == dict(lost.params)
    trials = {t.number: t for t in store.sweep_trials(sw.id)}
    assert trials[lost.number].state == "failed"
    assert "beating" in (trials[lost.number].error or "")
    assert store.get_run(lost.run_id).status == "crashed"
    assert trials[other.number].state == "running"
    store.close()


def test_time_and_patience_budgets(tmp_path: Path) -> None:
    clock = Clock()
    store = SqlStore(f"sqlite:///{tmp_path / 'rt.db'}", auto_upgrade=True, clock=clock)
    timed = store.create_sweep("p", quad_spec(budget={"seconds": 60}), actor="a")
    t = store.sweep_ask(timed.id, user="a", host="h")
    assert t is not None and t.run_id is not None
    store.sweep_tell(timed.id, t.run_id, values=[1.0])
    clock.now += 61
    assert store.sweep_ask(timed.id, user="a", host="h") is None
    got = store.get_sweep(timed.id)
    assert got.status == "finished" and "time budget" in (got.stop_reason or "")

    patient = store.create_sweep("p", quad_spec(budget={"patience": 3, "trials": 50}), actor="a")
    values = [5.0, 4.0, 4.5, 4.2, 4.1]  # the best (4.0) is not beaten for 3 trials
    for v in values:
        t = store.sweep_ask(patient.id, user="a", host="h")
        assert t is not None and t.run_id is not None
        clock.now += 1
        store.sweep_tell(patient.id, t.run_id, values=[v])
    assert store.sweep_ask(patient.id, user="a", host="h") is None
    got = store.get_sweep(patient.id)
    assert got.status == "finished" and "no improvement in the last 3" in (got.stop_reason or "")
    assert got.budget_used == 5
    assert loss({"x": 0.5, "model.depth": 0}) == 0.0
    store.close()


def test_reads_settle_a_dead_agents_trial_when_no_agent_asks_again(tmp_path: Path) -> None:
    """Every agent is gone: the last trial's agent died, the others ran out of budget.
    Reading the sweep fails that trial and finishes the sweep, as an ask would."""
    clock = Clock()
    store = _store(tmp_path, clock)
    sw = store.create_sweep("p", quad_spec(budget={"trials": 2}), actor="a")
    done = store.sweep_ask(sw.id, user="a", host="h")
    lost = store.sweep_ask(sw.id, user="a", host="gone")
    assert done is not None and done.run_id and lost is not None and lost.run_id
    store.sweep_tell(sw.id, done.run_id, values=[loss(dict(done.params))])
    assert store.sweep_ask(sw.id, user="a", host="h") is None  # the budget is handed out
    assert store.get_sweep(sw.id).status == "running"  # the lost trial is still alive
    assert {t.state for t in store.sweep_trials(sw.id)} == {"complete", "running"}

    clock.now += 31  # no beat for the lost trial's run: crashed
    trials = {t.number: t for t in store.sweep_trials(sw.id)}
    assert trials[lost.number].state == "failed"
    assert "beating" in (trials[lost.number].error or "")
    got = store.get_sweep(sw.id)
    assert got.status == "finished" and got.budget_used == 2
    assert got.stop_reason == "budget of 2 trials spent"
    assert got.counts == {"complete": 1, "failed": 1}
    assert got.best is not None and got.best.number == done.number
    store.close()


def test_a_read_queues_the_retry_of_a_dead_agents_trial(tmp_path: Path) -> None:
    clock = Clock()
    store = _store(tmp_path, clock)
    sw = store.create_sweep("p", quad_spec(retries=1, budget={"trials": 1}), actor="a")
    lost = store.sweep_ask(sw.id, user="a", host="gone")
    assert lost is not None and lost.run_id is not None
    clock.now += 31
    got = store.get_sweep(sw.id)
    assert got.status == "running"  # a retry waits for the next agent
    trials = store.sweep_trials(sw.id)
    assert [(t.state, t.retry_of) for t in trials] == [("failed", None), ("waiting", 0)]
    retry = store.sweep_ask(sw.id, user="a", host="h")
    assert retry is not None and dict(retry.params) == dict(lost.params)
    store.close()


def test_a_read_answers_when_settling_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from runtrack.sweeps.engine import SweepEngine

    def busy(self: SweepEngine, sweep_id: str) -> None:
        raise StoreUnavailableError("database is locked")

    clock = Clock()
    store = _store(tmp_path, clock)
    sw = store.create_sweep("p", quad_spec(budget={"trials": 1}), actor="a")
    lost = store.sweep_ask(sw.id, user="a", host="gone")
    assert lost is not None
    clock.now += 31
    monkeypatch.setattr(SweepEngine, "settle", busy)
    with caplog.at_level("WARNING", logger="runtrack"):
        got = store.get_sweep(sw.id)
    assert got.status == "running" and got.counts == {"running": 1}
    assert "could not settle" in caplog.text and "database is locked" in caplog.text
    monkeypatch.undo()
    got = store.get_sweep(sw.id)
    assert got.status == "finished" and got.stop_reason == "budget of 1 trial spent"
    store.close()


def test_resume_gives_more_time_and_lifts_patience(tmp_path: Path) -> None:
    clock = Clock()
    store = _store(tmp_path, clock)
    timed = store.create_sweep("p", quad_spec(budget={"seconds": 60}), actor="a")
    clock.now += 61
    assert store.sweep_ask(timed.id, user="a", host="h") is None
    with pytest.raises(ConflictError, match="time budget of 60 s spent"):
        store.resume_sweep(timed.id)
    got = store.resume_sweep(timed.id, seconds=30)  # 30 s more from now: 91 s in all
    assert got.status == "running" and got.spec["budget"] == {"seconds": 91.0}
    clock.now += 29
    t = store.sweep_ask(timed.id, user="a", host="h")
    assert t is not None and t.run_id is not None
    store.sweep_tell(timed.id, t.run_id, values=[1.0])
    clock.now += 2
    assert store.sweep_ask(timed.id, user="a", host="h") is None
    assert "time budget of 91 s spent" in (store.get_sweep(timed.id).stop_reason or "")

    patient = store.create_sweep("p", quad_spec(budget={"patience": 2, "trials": 9}), actor="a")
    for v in [5.0, 6.0, 7.0]:  # no improvement in the last 2
        t = store.sweep_ask(patient.id, user="a", host="h")
        assert t is not None and t.run_id is not None
        store.sweep_tell(patient.id, t.run_id, values=[v])
    assert store.sweep_ask(patient.id, user="a", host="h") is None
    got = store.resume_sweep(patient.id)  # more was asked for: the patience rule goes
    assert got.status == "running" and got.spec["budget"] == {"trials": 9}
    asked = 0
    while (t := store.sweep_ask(patient.id, user="a", host="h")) is not None:
        assert t.run_id is not None
        asked += 1
        store.sweep_tell(patient.id, t.run_id, values=[9.0])
    assert asked == 6 and store.get_sweep(patient.id).stop_reason == "budget of 9 trials spent"
    store.close()


def test_a_resumed_sweeps_own_run_never_turns_crashed(tmp_path: Path) -> None:
    clock = Clock()
    store = _store(tmp_path, clock)  # runs silent for 30 s are crashed
    sw = store.create_sweep("p", quad_spec(), actor="a")
    store.stop_sweep(sw.id)
    store.resume_sweep(sw.id)
    clock.now += 300
    t = store.sweep_ask(sw.id, user="a", host="h")  # liveness is checked on every ask
    assert t is not None and t.run_id is not None
    assert store.get_run(sw.id).status == "running"
    store.close()


def test_a_resume_by_another_process_is_seen_by_this_one(tmp_path: Path) -> None:
    """Two stores on one database have an engine each, with its copy of the spec."""
    clock = Clock()
    mine, theirs = _store(tmp_path, clock), _store(tmp_path, clock)
    sw = mine.create_sweep("p", quad_spec(budget={"trials": 1}), actor="a")
    t = mine.sweep_ask(sw.id, user="a", host="h")
    assert t is not None and t.run_id is not None
    mine.sweep_tell(sw.id, t.run_id, values=[1.0])
    assert mine.sweep_ask(sw.id, user="a", host="h") is None  # mine holds budget 1
    theirs.resume_sweep(sw.id, trials=2)
    got = [mine.sweep_ask(sw.id, user="a", host="h") for _ in range(2)]
    assert all(g is not None for g in got)
    assert [g.number for g in got if g is not None] == [1, 2]
    assert mine.sweep_ask(sw.id, user="a", host="h") is None  # 3 asked: running ones wait
    mine.close()
    theirs.close()
