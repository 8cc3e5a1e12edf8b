"""How trials and sweeps end: outcomes told, dead trials settled, budgets spent.

Functions on the in-memory study (``_study.Cached``) inside the sweep's locked
transaction (``_study.SweepTx``), called by the engine.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from optuna.trial import TrialState

from ..entities import RunBatch
from ..errors import ValidationError
from . import spec as spec_mod
from ._auto import derive_grid
from ._study import (
    PRUNE_ATTR,
    RETRIED_ATTR,
    STATE_OF,
    Cached,
    SweepTx,
    distributions,
    frozen_trial,
    params_key,
    row_of,
    run_seq,
)

RESERVE_TIMEOUT = 600.0  # s: a reserved trial whose run was never created is failed
SETTLE_EVERY = 1.0  # s: how often an asking process looks for trials whose run died
FINISHED_GRACE = 60.0  # s: a trial whose run ended this long ago without a tell is settled


def check_values(c: Cached, state: str, values: Sequence[float] | None) -> list[float] | None:
    n = len(c.spec["metrics"])
    if values is None:
        if state == "complete":
            raise ValidationError(
                f"a complete trial needs its objective value{'s' if n > 1 else ''} "
                f"({', '.join(spec_mod.objective_names(c.spec))})"
            )
        return None
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise ValidationError("values must be a list of numbers")
    out: list[float] = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValidationError(f"objective value {v!r} is not a number")
        out.append(float(v))
    if state == "complete" and len(out) != n:
        raise ValidationError(f"the sweep has {n} objective(s); {len(out)} value(s) given")
    if state == "pruned" and len(out) > 1:
        raise ValidationError("a pruned trial takes at most its last objective value")
    return out


def finish_trial(
    c: Cached,
    t: SweepTx,
    number: int,
    state: str,
    values: list[float] | None,
    error: str | None,
    step: int | None = None,
) -> None:
    fr = frozen_trial(c, number)
    if state == "complete" and values is not None and not all(map(math.isfinite, values)):
        state, error = "failed", f"objective value {values} is not finite"
        values = None
    retried = state == "failed" and retry_left(c, number)
    if retried:  # marked while it can still be changed: its retry takes its budget slot
        c.study._storage.set_trial_system_attr(fr._trial_id, RETRIED_ATTR, True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if state == "pruned" and values:
            last = fr.last_step
            s = step if step is not None else (0 if last is None else last + 1)
            # the value already reported at the last step (should_prune, then a bare
            # TrialPruned) is not a new step the trial reached
            again = step is None and last is not None and fr.intermediate_values[last] == values[0]
            if not again and s not in fr.intermediate_values and math.isfinite(values[0]):
                c.study._storage.set_trial_intermediate_value(fr._trial_id, s, values[0])
        c.study.tell(
            number,
            values if state == "complete" else None,
            state=STATE_OF[state],
            skip_if_finished=True,
        )
    if retried:
        params = dict(frozen_trial(c, number).params)
        c.study.enqueue_trial(
            params, user_attrs={"runtrack:retry_of": number}, skip_if_exists=False
        )
    row_of(c, number, t, ended_at=t.now(), error=error, retried=retried)
    if retried:
        new = len(c.kind)  # the enqueued trial, not noted yet
        row_of(c, new, t, retry_of=number, sampler="retry")


def retry_left(c: Cached, number: int) -> bool:
    allowed = int(c.spec.get("retries", 0))
    depth, n = 0, number
    while True:
        prev = frozen_trial(c, n).user_attrs.get("runtrack:retry_of")
        if prev is None:
            break
        depth, n = depth + 1, int(prev)
    return depth < allowed


def record_on_run(
    c: Cached,
    t: SweepTx,
    run_id: str,
    state: str,
    values: list[float] | None,
    error: str | None,
) -> None:
    """Tag the trial's run with its outcome and give it the objective values it did
    not log itself (a run still open: a trial told through the ask/tell API, not run
    by an agent; it also ends)."""
    from ..entities import MetricsRecord, OpRecord, StatusOp, SummaryOp, TagsOp

    now = t.now()
    st = t.runs_state([run_id], spec_mod.objective_names(c.spec)).get(run_id)
    if st is None:
        return
    q = run_seq(c)
    recs: list[Any] = [OpRecord(q, TagsOp({"runtrack.trial_state": state}))]
    missing: list[tuple[str, float]] = []
    if values and state == "complete":
        names = spec_mod.objective_names(c.spec)
        missing = [(k, v) for k, v in zip(names, values, strict=True) if k not in st.values]
    if missing and st.status == "running":
        keys = tuple(k for k, _ in missing)
        recs.append(MetricsRecord(q + 1, 0, now, keys, [v for _, v in missing]))
    elif missing:  # an ended run (e.g. a Hydra job that only returned its objective)
        recs.append(OpRecord(q + 1, SummaryOp(dict(missing))))
    if st.status == "running":
        status = "failed" if state == "failed" else "finished"
        recs.append(OpRecord(q + 2, StatusOp(status, now, error)))  # type: ignore[arg-type]
    t.write_run(RunBatch(run_id, "sweep-engine", tuple(recs)))


def settle_dead(c: Cached, t: SweepTx, now: float) -> None:
    """Trials whose run died (crashed, failed, killed, deleted) fail; a run that
    finished long ago without a tell (its agent died in between) is settled from the
    values it logged."""
    if not c.by_kind["running"] or now - c.settled_at < SETTLE_EVERY:
        return
    c.settled_at = now
    running = {n: frozen_trial(c, n) for n in c.by_kind["running"]}
    by_run = {c.meta[n]["run_id"]: n for n in running if c.meta.get(n, {}).get("run_id")}
    for n in sorted(set(running) - set(by_run.values())):  # reserved, never started
        started = c.meta.get(n, {}).get("started_at") or now
        if now - started > RESERVE_TIMEOUT:
            why = "the agent that asked for it stopped before starting it"
            finish_trial(c, t, n, "failed", None, why)
    names = spec_mod.objective_names(c.spec)
    states = t.runs_state(list(by_run), names)
    for run_id, number in sorted(by_run.items(), key=lambda kv: kv[1]):
        st = states.get(run_id)
        if st is None:
            finish_trial(c, t, number, "failed", None, "the trial's run was deleted")
        elif st.status in ("crashed", "failed", "killed"):
            pruned = PRUNE_ATTR in running[number].system_attrs
            if pruned:
                finish_trial(c, t, number, "pruned", None, None)
            else:
                why = {
                    "crashed": "its agent stopped beating (died or lost the store)",
                    "failed": "its run failed",
                    "killed": "its run was killed",
                }[st.status]
                finish_trial(c, t, number, "failed", None, why)
            tag_run(c, t, run_id, "pruned" if pruned else "failed")
        elif st.status == "finished" and st.end_time is not None:
            if now - st.end_time < FINISHED_GRACE:
                continue
            if PRUNE_ATTR in running[number].system_attrs:
                finish_trial(c, t, number, "pruned", None, None)
                tag_run(c, t, run_id, "pruned")
            elif all(k in st.values for k in names):
                vals = [st.values[k] for k in names]
                finish_trial(c, t, number, "complete", vals, None)
                tag_run(c, t, run_id, "complete")
            else:
                finish_trial(c, t, number, "failed", None, "the run finished without the objective")
                tag_run(c, t, run_id, "failed")


def tag_run(c: Cached, t: SweepTx, run_id: str, state: str) -> None:
    from ..entities import OpRecord, TagsOp

    op = OpRecord(run_seq(c), TagsOp({"runtrack.trial_state": state}))
    t.write_run(RunBatch(run_id, "sweep-engine", (op,)))


def counts(c: Cached) -> tuple[int, int, int]:
    """(trials counted against the budget, running, waiting)."""
    k = c.by_kind  # a retry takes the budget slot of the trial it repeats
    counted = len(c.kind) - len(k["skip"])
    return counted, len(k["running"]), len(k["waiting"])


def exhausted(c: Cached, row: Mapping[str, Any], now: float) -> str | None:
    budget = c.spec["budget"]
    counted, _running, waiting = counts(c)
    if "trials" in budget and counted >= budget["trials"] and not waiting:
        return spec_mod.trials_budget_reason(c.spec)
    if c.spec["method"] == "grid" and not waiting:
        grid = grid_keys(c)
        if grid <= c.suggested:  # every point asked (warm-started ones included)
            return f"all {len(grid)} points of the grid run"
    if "seconds" in budget and now - float(row["created_at"]) >= budget["seconds"]:
        return f"time budget of {budget['seconds']:g} s spent"
    patience = budget.get("patience")
    if patience and len(c.spec["metrics"]) == 1:
        sign = 1.0 if c.spec["metrics"][0]["goal"] == "minimize" else -1.0
        done = [
            tr
            for tr in c.study._storage.get_all_trials(
                c.study._study_id, deepcopy=False, states=(TrialState.COMPLETE,)
            )
            if not tr.user_attrs.get("runtrack:warm")
        ]
        done.sort(key=lambda tr: tr.datetime_complete or datetime.min)
        if len(done) > patience:
            vals = [sign * float(tr.values[0]) for tr in done]
            best_before = min(vals[:-patience])
            if min(vals[-patience:]) >= best_before:
                return f"no improvement in the last {patience} trials"
    return None


def grid_keys(c: Cached) -> frozenset[tuple[tuple[str, Any], ...]]:
    """The points of a grid sweep's grid, as ``params_key`` of their parameters."""
    if c.grid_keys is None:
        dists = distributions(c.spec)
        grid = derive_grid(dists, c.spec["budget"].get("trials"))
        names = list(grid)
        c.grid_keys = frozenset(
            params_key(dict(zip(names, point, strict=True)))
            for point in itertools.product(*(grid[k] for k in names))
        )
    return c.grid_keys


def maybe_finish(c: Cached, t: SweepTx, reason: str) -> None:
    _counted, running, _waiting = counts(c)
    row = t.sweep_row()
    if running or row["status"] != "running":
        if row.get("stop_reason") != reason and row["status"] == "running":
            t.update_sweep({"stop_reason": reason})
        return
    t.update_sweep({"status": "finished", "stop_reason": reason, "ended_at": t.now()})
    end_sweep_run(c, t, str(row["id"]), "finished")


def end_sweep_run(c: Cached, t: SweepTx, sweep_id: str, status: str) -> None:
    from ..entities import OpRecord, StatusOp

    st = t.runs_state([sweep_id], ()).get(sweep_id)
    if st is not None and st.status == "running":
        op = OpRecord(run_seq(c), StatusOp(status, t.now()))  # type: ignore[arg-type]
        t.write_run(RunBatch(sweep_id, "sweep-engine", (op,)))


def reopen_sweep_run(c: Cached, t: SweepTx, sweep_id: str) -> None:
    """The sweep's own run, ended with the sweep, running again (a resumed sweep)."""
    from ..entities import OpRecord, StatusOp

    st = t.runs_state([sweep_id], ()).get(sweep_id)
    if st is not None and st.status != "running":
        op = OpRecord(run_seq(c), StatusOp("running", t.now()))
        t.write_run(RunBatch(sweep_id, "sweep-engine", (op,)))
        t.drop_heartbeat(sweep_id)
