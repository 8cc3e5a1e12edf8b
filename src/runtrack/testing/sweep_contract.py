"""The sweep part of the store contract: every backend (SQLite, PostgreSQL, REST in front
of either) runs these against its ``TrackingStore``."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from ..entities import OpRecord, RunBatch, RunSpec, StatusOp
from ..errors import (
    ConflictError,
    RunNotFoundError,
    SweepNotFoundError,
    ValidationError,
)
from ..store.base import TrackingStore


def quad_spec(**changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {
            "x": {"distribution": "uniform", "min": -2.0, "max": 2.0},
            "model.depth": {"distribution": "int", "min": 1, "max": 4},
            "opt": {"values": ["adam", "sgd"]},
            "momentum": {"distribution": "uniform", "min": 0.0, "max": 0.9, "when": {"opt": "sgd"}},
            "epochs": {"value": 3},
        },
        "budget": {"trials": 6},
        "seed": 7,
    }
    spec.update(changes)
    return spec


def loss(p: dict[str, Any]) -> float:
    return float((p["x"] - 0.5) ** 2 + 0.1 * p["model.depth"] + p.get("momentum", 0.0))


class SweepContract:
    """Sweeps: spec validation, ask/tell, budget, pruning, failures, warm start, reads."""

    def test_create_get_list(self, store: TrackingStore) -> None:
        sw = store.create_sweep("sw", quad_spec(name="first"), actor="alice", host="h1")
        assert sw.name == "first" and sw.project == "sw" and sw.status == "running"
        assert sw.user == "alice" and sw.budget_used == 0 and sw.best is None
        assert sw.spec["method"] == "auto" and sw.spec["seed"] == 7
        assert sw.spec["pruner"]["type"] == "none"
        assert [m["name"] for m in sw.spec["metrics"]] == ["loss"]
        assert store.get_sweep(sw.id) == sw
        assert [s.id for s in store.list_sweeps("sw")] == [sw.id]
        assert store.list_sweeps("nothing-here") == []
        assert store.sweep_project(sw.id) == "sw"
        run = store.get_run(sw.id)  # the sweep's own run: the trials' parent
        assert run.tags["runtrack.kind"] == "sweep" and run.status == "running"
        unseeded = store.create_sweep("sw", quad_spec(seed=None), actor="alice")
        assert isinstance(unseeded.spec["seed"], int)  # chosen, and recorded
        with pytest.raises(SweepNotFoundError):
            store.get_sweep("0000nosuchsweep")

    def test_trials_are_child_runs_and_the_budget_is_exact(self, store: TrackingStore) -> None:
        sw = store.create_sweep("sw", quad_spec(), actor="alice")
        numbers: list[int] = []
        runs: list[str] = []
        while (t := store.sweep_ask(sw.id, user="bob", host="h")) is not None:
            assert t.run_id is not None
            numbers.append(t.number)
            runs.append(t.run_id)
            assert t.state == "running" and t.sampler
            assert ("momentum" in t.params) == (t.params["opt"] == "sgd")  # conditional
            rec = store.get_run(t.run_id)
            assert rec.parent_id == sw.id and rec.status == "running" and rec.user == "bob"
            assert rec.tags["runtrack.sweep"] == sw.id
            assert rec.tags["runtrack.trial"] == str(t.number)
            cfg = rec.config.to_dict()
            assert cfg["epochs"] == 3 and cfg["model"]["depth"] == t.params["model.depth"]
            assert cfg["x"] == t.params["x"] and cfg["opt"] == t.params["opt"]
            told = store.sweep_tell(sw.id, t.run_id, values=[loss(dict(t.params))])
            assert told.state == "complete" and told.value == pytest.approx(loss(dict(t.params)))
        assert numbers == list(range(6))
        assert len(set(runs)) == 6
        sw = store.get_sweep(sw.id)
        assert sw.status == "finished" and sw.budget_used == 6
        assert sw.stop_reason is not None and "budget" in sw.stop_reason
        assert sw.counts == {"complete": 6}
        trials = store.sweep_trials(sw.id)
        assert sw.best is not None and sw.best.value == min(t.value for t in trials)  # type: ignore[type-var]
        # a trial told through the API got its value logged and its run ended
        rec = store.get_run(runs[0])
        assert rec.status == "finished" and rec.summary["loss"] == trials[0].value
        assert rec.tags["runtrack.trial_state"] == "complete"
        assert store.get_run(sw.id).status == "finished"
        assert store.sweep_ask(sw.id, user="bob", host="h") is None
        analysis = store.sweep_analysis(sw.id)
        assert len(analysis["history"]) == 6 and analysis["best"]["number"] == sw.best.number
        assert analysis["history"][-1]["best"] == sw.best.value
        assert set(analysis["parameters"]) == {"x", "model.depth", "opt", "momentum"}
        assert (
            analysis["importance"] is None or abs(sum(analysis["importance"].values()) - 1) < 1e-6
        )

    def test_same_seed_same_suggestions(self, store: TrackingStore) -> None:
        def params(sweep_id: str) -> list[dict[str, Any]]:
            out = []
            while (t := store.sweep_ask(sweep_id, user="a", host="h")) is not None:
                out.append(dict(t.params))
                assert t.run_id is not None
                store.sweep_tell(sweep_id, t.run_id, values=[loss(dict(t.params))])
            return out

        a = store.create_sweep("sw", quad_spec(), actor="a")
        b = store.create_sweep("sw", quad_spec(), actor="a")
        assert params(a.id) == params(b.id)

    def test_pruning(self, store: TrackingStore) -> None:
        spec = quad_spec(
            pruner={"type": "median", "n_startup_trials": 2, "n_warmup_steps": 0},
            budget={"trials": 8},
        )
        sw = store.create_sweep("sw", spec, actor="a")
        pruned_runs = []
        for i in range(8):
            t = store.sweep_ask(sw.id, user="a", host="h")
            assert t is not None and t.run_id is not None
            level = 1.0 if i < 3 else 10.0 + i  # later trials are far worse at every step
            stopped = False
            for step in range(5):
                if store.sweep_report(sw.id, t.run_id, step, level + 5 - step):
                    store.sweep_tell(sw.id, t.run_id, state="pruned")
                    pruned_runs.append(t.run_id)
                    stopped = True
                    break
            if not stopped:
                store.sweep_tell(sw.id, t.run_id, values=[level])
        assert pruned_runs, "the median pruner stopped none of the bad trials"
        trials = {t.run_id: t for t in store.sweep_trials(sw.id)}
        for r in pruned_runs:
            t = trials[r]
            assert t.state == "pruned" and t.intermediate
            assert t.values is not None and t.values[0] == t.intermediate[-1][1]  # last value
            assert store.get_run(r).tags["runtrack.trial_state"] == "pruned"
        assert store.get_sweep(sw.id).counts.get("pruned") == len(pruned_runs)

    def test_complete_after_a_prune_decision_is_pruned(self, store: TrackingStore) -> None:
        spec = quad_spec(pruner={"type": "threshold", "upper": 5.0}, budget={"trials": 2})
        sw = store.create_sweep("sw", spec, actor="a")
        t = store.sweep_ask(sw.id, user="a", host="h")
        assert t is not None and t.run_id is not None
        assert store.sweep_report(sw.id, t.run_id, 0, 9.0) is True
        assert store.sweep_report(sw.id, t.run_id, 1, 1.0) is True  # the decision holds
        told = store.sweep_tell(sw.id, t.run_id, values=[1.0])
        assert told.state == "pruned"

    def test_failures_retries_and_dead_runs(self, store: TrackingStore) -> None:
        sw = store.create_sweep("sw", quad_spec(retries=1, budget={"trials": 3}), actor="a")
        t0 = store.sweep_ask(sw.id, user="a", host="h")
        assert t0 is not None and t0.run_id is not None
        store.sweep_tell(sw.id, t0.run_id, state="failed", error="CUDA out of memory")
        t1 = store.sweep_ask(sw.id, user="a", host="h")
        assert t1 is not None and t1.run_id is not None
        assert t1.retry_of == t0.number and dict(t1.params) == dict(t0.params)
        # a trial whose run died (its agent's process failed) is failed at the next ask
        store.write(
            RunBatch(t1.run_id, "s", (OpRecord(1, StatusOp("failed", time.time(), "boom")),))
        )
        t2 = store.sweep_ask(sw.id, user="a", host="h")
        assert t2 is not None and t2.run_id is not None
        first = {t.number: t for t in store.sweep_trials(sw.id)}
        assert first[t1.number].state == "failed" and first[t1.number].error
        assert first[t0.number].retried and first[t0.number].error == "CUDA out of memory"
        # t1 was a retry already: no second retry; t2 is a new suggestion
        assert t2.retry_of is None
        store.sweep_tell(sw.id, t2.run_id, values=[1.0])
        # budget 3: t0 and its retry t1 take one slot, t2 a second, t3 the last
        t3 = store.sweep_ask(sw.id, user="a", host="h")
        assert t3 is not None and t3.run_id is not None
        store.sweep_tell(sw.id, t3.run_id, values=[2.0])
        assert store.sweep_ask(sw.id, user="a", host="h") is None
        sw = store.get_sweep(sw.id)
        assert sw.budget_used == 3 and sw.counts == {"failed": 2, "complete": 2}

    def test_tell_is_idempotent_and_checked(self, store: TrackingStore) -> None:
        sw = store.create_sweep("sw", quad_spec(), actor="a")
        t = store.sweep_ask(sw.id, user="a", host="h")
        assert t is not None and t.run_id is not None
        with pytest.raises(ValidationError, match="objective value"):
            store.sweep_tell(sw.id, t.run_id, state="complete")
        with pytest.raises(ValidationError, match="1 objective"):
            store.sweep_tell(sw.id, t.run_id, values=[1.0, 2.0])
        with pytest.raises(ValidationError, match="state"):
            store.sweep_tell(sw.id, t.run_id, state="done", values=[1.0])
        first = store.sweep_tell(sw.id, t.run_id, values=[1.5])
        assert store.sweep_tell(sw.id, t.run_id, values=[1.5]).state == first.state
        with pytest.raises(ConflictError, match="already complete"):
            store.sweep_tell(sw.id, t.run_id, state="failed")
        other = store.create_run(
            RunSpec(id="0000notatrial", project="sw", name="x", user="u", host="h", start_time=1.0)
        )
        with pytest.raises(RunNotFoundError, match="not a trial"):
            store.sweep_tell(sw.id, other.id, values=[1.0])
        with pytest.raises(RunNotFoundError, match="not a trial"):
            store.sweep_report(sw.id, other.id, 0, 1.0)
        with pytest.raises(ValidationError):
            store.sweep_report(sw.id, t.run_id, -1, 1.0)
        with pytest.raises(SweepNotFoundError):
            store.sweep_ask("0000nosuchsweep", user="a", host="h")
        # a NaN objective fails the trial (nothing to rank), and says why
        t2 = store.sweep_ask(sw.id, user="a", host="h")
        assert t2 is not None and t2.run_id is not None
        told = store.sweep_tell(sw.id, t2.run_id, values=[math.nan])
        assert told.state == "failed" and told.error is not None and "finite" in told.error

    def test_ask_retried_with_the_same_request_id(self, store: TrackingStore) -> None:
        sw = store.create_sweep("sw", quad_spec(), actor="a")
        a = store.sweep_ask(sw.id, user="a", host="h", request_id="req-00000001")
        b = store.sweep_ask(sw.id, user="a", host="h", request_id="req-00000001")
        c = store.sweep_ask(sw.id, user="a", host="h", request_id="req-00000002")
        assert a is not None and b is not None and c is not None
        assert (a.number, a.run_id) == (b.number, b.run_id) and c.number == a.number + 1

    def test_several_objectives_give_a_pareto_front(self, store: TrackingStore) -> None:
        spec = quad_spec(
            metric=None,
            metrics=[{"name": "loss", "goal": "minimize"}, {"name": "acc", "goal": "maximize"}],
            budget={"trials": 6},
        )
        del spec["metric"]
        sw = store.create_sweep("sw", spec, actor="a")
        vals = [(1.0, 0.5), (2.0, 0.9), (3.0, 0.4), (0.5, 0.2), (2.5, 0.95), (1.0, 0.5)]
        for v in vals:
            t = store.sweep_ask(sw.id, user="a", host="h")
            assert t is not None and t.run_id is not None
            store.sweep_tell(sw.id, t.run_id, values=list(v))
        sw = store.get_sweep(sw.id)
        assert sw.best is None
        assert sorted(t.values for t in sw.pareto) == [  # type: ignore[type-var]
            (0.5, 0.2),
            (1.0, 0.5),  # told twice: neither dominates the other, both are on the front
            (1.0, 0.5),
            (2.0, 0.9),
            (2.5, 0.95),
        ]

    def test_warm_start_from_finished_runs(self, store: TrackingStore) -> None:
        ids = []
        configs = [
            {"x": 0.5, "model": {"depth": 1}, "opt": "adam", "epochs": 3},  # fits
            {"x": 1.0, "model": {"depth": 2}, "opt": "sgd", "momentum": 0.1, "epochs": 3},
            {"x": 1.0, "model": {"depth": 2}, "opt": "adam", "epochs": 5},  # fixed differs
            {"x": 9.0, "model": {"depth": 2}, "opt": "adam"},  # x out of range
            {"x": 0.1, "model": {"depth": 2}, "opt": "rmsprop"},  # not a choice
        ]
        for i, cfg in enumerate(configs):
            rid = f"0000warm{i:05d}"
            store.create_run(
                RunSpec(
                    id=rid,
                    project="ws",
                    name=f"w{i}",
                    user="u",
                    host="h",
                    start_time=1.0,
                    config=cfg,
                )
            )
            from ..entities import MetricsRecord

            recs = (
                MetricsRecord(1, 0, 1.0, ("loss",), [0.25 + i]),
                OpRecord(2, StatusOp("finished", 2.0)),
            )
            store.write(RunBatch(rid, "s", recs))
            ids.append(rid)
        sw = store.create_sweep("ws", quad_spec(warm_start=True, budget={"trials": 2}), actor="a")
        assert sw.counts.get("warm") == 2 and sw.budget_used == 0
        assert sw.best is not None and sw.best.run_id == ids[0] and sw.best.warm
        asked = 0
        while (t := store.sweep_ask(sw.id, user="a", host="h")) is not None:
            assert t.run_id not in ids
            asked += 1
            store.sweep_tell(sw.id, t.run_id, values=[5.0])  # type: ignore[arg-type]
        assert asked == 2  # warm trials do not use the budget

    def test_stop(self, store: TrackingStore) -> None:
        sw = store.create_sweep("sw", quad_spec(), actor="a")
        t = store.sweep_ask(sw.id, user="a", host="h")
        assert t is not None and t.run_id is not None
        stopped = store.stop_sweep(sw.id, reason="enough")
        assert stopped.status == "stopped" and stopped.stop_reason == "enough"
        assert store.sweep_ask(sw.id, user="a", host="h") is None
        assert store.sweep_tell(sw.id, t.run_id, values=[1.0]).state == "complete"

    def test_resume_a_stopped_sweep(self, store: TrackingStore) -> None:
        sw = store.create_sweep("sw", quad_spec(), actor="a")
        for _ in range(2):
            t = store.sweep_ask(sw.id, user="a", host="h")
            assert t is not None and t.run_id is not None
            store.sweep_tell(sw.id, t.run_id, values=[1.0])
        store.stop_sweep(sw.id, reason="lunch")
        assert store.get_run(sw.id).status == "finished"
        got = store.resume_sweep(sw.id)
        assert got.status == "running" and got.stop_reason is None and got.ended_at is None
        assert got.spec["budget"] == {"trials": 6}  # unchanged: 4 trials left
        assert store.get_run(sw.id).status == "running"  # the sweep's own run reopened
        assert store.resume_sweep(sw.id) == got  # again on a running sweep: a no-op
        asked = 0
        while (t := store.sweep_ask(sw.id, user="a", host="h")) is not None:
            assert t.run_id is not None
            asked += 1
            store.sweep_tell(sw.id, t.run_id, values=[2.0])
        assert asked == 4
        done = store.get_sweep(sw.id)
        assert done.status == "finished" and done.budget_used == 6
        assert store.get_run(sw.id).status == "finished"

    def test_resume_a_spent_sweep_with_more_trials(self, store: TrackingStore) -> None:
        sw = store.create_sweep("sw", quad_spec(budget={"trials": 2}), actor="a")
        while (t := store.sweep_ask(sw.id, user="a", host="h")) is not None:
            assert t.run_id is not None
            store.sweep_tell(sw.id, t.run_id, values=[loss(dict(t.params))])
        before = store.get_sweep(sw.id)
        assert before.status == "finished"
        with pytest.raises(ConflictError, match=r"budget of 2 trials spent.*trials=N"):
            store.resume_sweep(sw.id)
        assert store.get_sweep(sw.id) == before  # refused: nothing changed
        got = store.resume_sweep(sw.id, trials=3)
        assert got.status == "running" and got.spec["budget"] == {"trials": 5}
        numbers = []
        while (t := store.sweep_ask(sw.id, user="a", host="h")) is not None:
            assert t.run_id is not None
            numbers.append(t.number)
            store.sweep_tell(sw.id, t.run_id, values=[loss(dict(t.params))])
        assert numbers == [2, 3, 4]  # the search goes on where it was
        done = store.get_sweep(sw.id)
        assert done.status == "finished" and done.budget_used == 5
        assert done.stop_reason == "budget of 5 trials spent"

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"trials": 0}, "trials 0 must be a whole number of 1 or more"),
            ({"trials": -3}, "1 or more"),
            ({"trials": True}, "whole number"),
            ({"trials": 1.5}, "whole number"),
            ({"trials": "3"}, "whole number"),
            ({"trials": 10**7}, "at most 1,000,000"),
            ({"seconds": 0}, "above 0"),
            ({"seconds": math.nan}, "finite"),
            ({"seconds": math.inf}, "finite"),
            ({"seconds": "60"}, "must be a number"),
            ({"seconds": False}, "must be a number"),
        ],
    )
    def test_resume_refuses_bad_input(
        self, store: TrackingStore, kwargs: dict[str, Any], message: str
    ) -> None:
        sw = store.create_sweep("sw", quad_spec(), actor="a")
        store.stop_sweep(sw.id)
        before = store.get_sweep(sw.id)
        with pytest.raises(ValidationError, match=message):
            store.resume_sweep(sw.id, **kwargs)
        assert store.get_sweep(sw.id) == before

    def test_resume_refuses_what_cannot_be_resumed(self, store: TrackingStore) -> None:
        with pytest.raises(SweepNotFoundError):
            store.resume_sweep("0000nosuchsweep")
        grid = quad_spec(
            method="grid",
            parameters={"x": {"values": [1, 2]}, "y": {"values": ["a", "b"]}},
            budget={},
        )
        sw = store.create_sweep("sw", grid, actor="a")
        while (t := store.sweep_ask(sw.id, user="a", host="h")) is not None:
            assert t.run_id is not None
            store.sweep_tell(sw.id, t.run_id, values=[1.0])
        with pytest.raises(ValidationError, match="grid is fixed"):
            store.resume_sweep(sw.id, trials=2)
        with pytest.raises(ConflictError, match="all 4 points of the grid run"):
            store.resume_sweep(sw.id)
        assert store.get_sweep(sw.id).status == "finished"

    @pytest.mark.parametrize(
        ("spec", "message"),
        [
            ({"parameters": {"x": {"values": [1]}}}, "metric"),
            (quad_spec(method="bayes"), "method"),
            (quad_spec(parameters={"x": {"distribution": "uniform", "min": 2, "max": 1}}), "min"),
            (
                quad_spec(parameters={"x": {"distribution": "log_uniform", "min": 0, "max": 1}}),
                "above 0",
            ),
            (quad_spec(parameters={"x": {"distribution": "normal", "min": 0, "max": 1}}), "one of"),
            (quad_spec(parameters={"x": {"values": []}}), "non-empty"),
            (quad_spec(parameters={"x": {"value": 1}}), "nothing to search"),
            (
                quad_spec(
                    parameters={
                        "a": {"values": [1, 2]},
                        "b": {"values": [1], "when": {"a": 3}},
                    }
                ),
                "not one of",
            ),
            (
                quad_spec(
                    parameters={"a": {"values": [1], "when": {"zz": 1}}, "b": {"values": [2]}}
                ),
                "not a parameter",
            ),
            (quad_spec(budget={"trials": 0}), "budget.trials"),
            (quad_spec(budget={"trialz": 3}), "unknown key"),
            (quad_spec(pruner={"type": "magic"}), "pruner"),
            (quad_spec(command=["python", "t.py", "${nope}"]), "not a parameter"),
            (quad_spec(seed=-1), "seed"),
            (quad_spec(extra=1), "unknown key"),
            (quad_spec(parameters={"bad name!": {"values": [1]}}), "config key"),
            ("not a dict", "dict"),
        ],
    )
    def test_bad_specs(self, store: TrackingStore, spec: Any, message: str) -> None:
        with pytest.raises(ValidationError, match=message):
            store.create_sweep("sw", spec, actor="a")
        assert store.list_sweeps("sw") == []  # nothing written
