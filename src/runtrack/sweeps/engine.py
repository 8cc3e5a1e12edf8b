"""The store side of a sweep: Optuna's ask/tell over runtrack's own tables.

How the study is kept
---------------------
Each process that serves sweeps (a team server, or an embedded SDK process) holds, per
sweep, an Optuna study in Optuna's in-memory storage: the working copy the samplers and
pruners read. The record is in runtrack's database: one ``sweeps`` row and one
``sweep_trials`` row per trial (Optuna's view of it: parameters, distributions, state,
values, intermediate values, attributes) next to the trial's run. Every operation is one
database transaction:

1. lock the sweep's row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's write lock);
2. bring the in-memory study up to date by reading only the trial rows whose change
   number (``seq``) is above the one this process last saw — other processes' asks and
   tells — or build it from every row the first time;
3. ask / report / tell on the in-memory study;
4. write the trial rows that changed (and the trial's run, for an ask) with the next
   change numbers, and commit.

So every suggestion sees every trial told before it, whichever process told it; trial
numbers are never handed out twice; and the budget is checked under the lock, so it is
never exceeded. A failed transaction drops the in-memory copy (it is rebuilt from the
rows). Compared with Optuna's own RDB storage (about a dozen commits per trial, each a
round trip), a trial costs two short transactions here. ``docs/sweeps.md`` has the
reasoning and the measured cost.

Samplers are built for each ask by :func:`runtrack.sweeps._auto.make_sampler`, seeded
from the sweep's seed and the trial's number, never from process state: agents on many
machines never repeat each other's suggestions, and a sweep with a seed replays.

``_study.py`` keeps the in-memory copy in step with the rows; ``_outcomes.py`` ends trials
(told, dead, retried) and sweeps (budget, time, patience).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import optuna
from optuna.storages import InMemoryStorage
from optuna.trial import TrialState

from ..entities import RunSpec, SweepTrial
from ..errors import ConflictError, RunNotFoundError, ValidationError
from . import spec as spec_mod
from ._auto import SamplerContext, make_sampler
from ._outcomes import (
    check_values,
    counts,
    end_sweep_run,
    exhausted,
    finish_trial,
    maybe_finish,
    record_on_run,
    reopen_sweep_run,
    settle_dead,
)
from ._pruners import make_pruner
from ._study import (
    ASK_ATTR,
    NAME_OF,
    PRUNE_ATTR,
    SAMPLER_ATTR,
    Cached,
    RunState,
    SweepBackend,
    SweepTx,
    apply_row,
    distributions,
    fallback_seed,
    frozen_trial,
    params_key,
    row_of,
    suggest,
    trial_view,
)
from .records import clean_error, trial_from_row

__all__ = [
    "RunState",
    "SweepBackend",
    "SweepEngine",
    "SweepTx",
    "distributions",
    "engine_of",
    "suggest",
]

optuna.logging.set_verbosity(optuna.logging.WARNING)
logger = logging.getLogger("runtrack.sweeps")
T = TypeVar("T")

# samplers whose suggestion takes long enough (GP: 0.1-2 s) that other agents must not
# wait for it: their trial is reserved under the lock and suggested outside it
SLOW_SAMPLERS = frozenset({"gp"})


class SweepEngine:
    """Ask, report and tell for the sweeps of one store (one per store object)."""

    def __init__(self, store: SweepBackend) -> None:
        self._store = store
        self._cache: dict[str, Cached] = {}
        self._guard = threading.Lock()

    # -- the in-memory study -------------------------------------------------------------
    def _locked(self, sweep_id: str, what: str, fn: Callable[[Cached, SweepTx], T]) -> T:
        """Run ``fn`` on the up-to-date study inside the sweep's transaction."""
        with self._guard:
            entry = self._cache.get(sweep_id)
            lock = entry.lock if entry is not None else threading.Lock()
        with lock:

            def tx(t: SweepTx) -> T:
                row = t.sweep_row()
                cached = self._sync(sweep_id, row, t, lock)
                seq0 = cached.seq
                try:
                    out = fn(cached, t)
                    if cached.seq != seq0:
                        t.update_sweep({"seq": cached.seq})
                    return out
                except BaseException:
                    self._drop(sweep_id)
                    raise

            try:
                return self._store._sweep_tx(sweep_id, tx, what)
            except BaseException:
                self._drop(sweep_id)  # the commit may have failed after fn changed it
                raise

    def _drop(self, sweep_id: str) -> None:
        with self._guard:
            self._cache.pop(sweep_id, None)

    def _sync(
        self, sweep_id: str, row: Mapping[str, Any], t: SweepTx, lock: threading.Lock
    ) -> Cached:
        with self._guard:
            cached = self._cache.get(sweep_id)
        if cached is not None and cached.seq == row["seq"]:
            return cached
        if cached is None:
            spec = json.loads(row["spec"])
            study = optuna.create_study(
                storage=InMemoryStorage(),
                study_name=sweep_id,
                directions=spec_mod.directions(spec),  # type: ignore[arg-type]
            )
            study.pruner = make_pruner(spec["pruner"], n_objectives=len(spec["metrics"]))
            for k, v in json.loads(row["study_attrs"]).items():
                study._storage.set_study_system_attr(study._study_id, k, v)
            cached = Cached(
                study=study,
                spec=spec,
                project=row["project"],
                seq=0,
                lock=lock,
                spec_text=row["spec"],
            )
        if row["spec"] != cached.spec_text:  # resumed elsewhere: a new budget
            cached.spec, cached.spec_text = json.loads(row["spec"]), row["spec"]
            cached.grid_keys = None
        for r in t.trial_rows(cached.seq):
            apply_row(cached, r)
        cached.seq = int(row["seq"])
        with self._guard:
            self._cache[sweep_id] = cached
        return cached

    # -- public operations ---------------------------------------------------------------
    def ask(
        self, sweep_id: str, *, user: str, host: str, request_id: str | None = None
    ) -> SweepTrial | None:
        """The next trial (its run created, status running), or None when the sweep is
        over (budget spent, stopped, out of time, no improvement for ``patience``).

        Three steps, so that agents do not wait for each other's samplers: under the
        sweep's lock a trial number is reserved (budget checked); the sampler then
        suggests outside the lock, seeing every trial told so far; under the lock again
        the parameters are recorded and the trial's run created."""
        self._store._sweep_stale()  # persist "crashed" for trial runs gone silent

        def reserve(c: Cached, t: SweepTx) -> SweepTrial | int | None:
            row = t.sweep_row()
            if request_id is not None:  # a retried ask whose answer was lost
                for n in c.by_kind["running"]:
                    attrs = frozen_trial(c, n).system_attrs
                    if attrs.get(ASK_ATTR) == request_id and c.meta.get(n, {}).get("run_id"):
                        return trial_view(c, sweep_id, n)
            if row["status"] != "running":
                return None
            now = t.now()
            settle_dead(c, t, now)
            reason = exhausted(c, row, now)
            if reason is not None:
                maybe_finish(c, t, reason)
                return None
            if c.by_kind["waiting"]:  # a retry: its values are fixed, nothing to sample
                return self._ask_waiting(c, t, sweep_id, row, user, host, now, request_id)
            storage = c.study._storage
            tid = storage.create_new_trial(c.study._study_id)
            number = storage.get_trial_number_from_id(tid)
            if request_id is not None:
                storage.set_trial_system_attr(tid, ASK_ATTR, request_id)
            if self._sampler(c, number)[0] not in SLOW_SAMPLERS:
                # a cheap sampler: suggest and start the run in this same transaction
                name, params = self._sample(c, sweep_id, number)
                return self._record(c, t, sweep_id, number, name, params, user, host)
            row_of(c, number, t, started_at=now)
            return number

        got = self._locked(sweep_id, "asking for a trial", reserve)
        if got is None or isinstance(got, SweepTrial):
            return got
        number = got
        with self._guard:
            c = self._cache.get(sweep_id)
        if c is None:  # dropped meanwhile (a failed transaction): sample on a fresh copy
            self._locked(sweep_id, "reading a sweep", lambda c, t: None)
            with self._guard:
                c = self._cache[sweep_id]
        name, params = self._sample(c, sweep_id, number)

        def record(c: Cached, t: SweepTx) -> SweepTrial:
            return self._record(c, t, sweep_id, number, name, params, user, host)

        return self._locked(sweep_id, "recording a trial", record)

    def _record(
        self,
        c: Cached,
        t: SweepTx,
        sweep_id: str,
        number: int,
        name: str,
        params: Mapping[str, Any],
        user: str,
        host: str,
    ) -> SweepTrial:
        """Record a reserved trial's suggested parameters and create its run."""
        fr = frozen_trial(c, number)
        if fr.state != TrialState.RUNNING or c.meta.get(number, {}).get("run_id"):
            raise ConflictError(
                f"trial {number} of sweep {sweep_id} was settled while it was being "
                "suggested (its agent was presumed dead); ask again"
            )
        if params_key(params) in c.suggested:
            # suggested outside the lock at the same moment as another trial, and the
            # same values: suggest again now that the other one is known (Optuna's
            # samplers account for running trials), at random if that repeats too
            name, params = self._sample(c, sweep_id, number)
            if params_key(params) in c.suggested:
                name, params = self._sample(c, sweep_id, number, fallback=True)
        dists = distributions(c.spec)
        for k, v in params.items():
            if k not in fr.params:
                c.study._storage.set_trial_param(
                    fr._trial_id, k, dists[k].to_internal_repr(v), dists[k]
                )
        c.study._storage.set_trial_system_attr(fr._trial_id, SAMPLER_ATTR, name)
        row = t.sweep_row()
        return self._start_run(c, t, sweep_id, row, number, params, name, user, host)

    def _sampler(self, c: Cached, number: int) -> tuple[str, optuna.samplers.BaseSampler]:
        spec = c.spec
        return make_sampler(
            SamplerContext(
                method=spec["method"],
                distributions=distributions(spec),
                conditional=any("when" in p for p in spec["parameters"].values()),
                n_objectives=len(spec["metrics"]),
                budget=spec["budget"].get("trials"),
                seed=int(spec["seed"]),
                number=number,
                grid=None,
                pruning=spec["pruner"]["type"] != "none" and len(spec["metrics"]) == 1,
            )
        )

    def _sample(
        self, c: Cached, sweep_id: str, number: int, *, fallback: bool = False
    ) -> tuple[str, dict[str, Any]]:
        """Suggest the parameters of reserved trial ``number`` without writing them (the
        caller records them under the lock). Safe without the lock: Optuna's in-memory
        storage serves concurrent trials. The trial gets a study handle of its own
        carrying its own sampler; the suggestion follows ``optuna.Trial``'s rules
        (relative sampling over the inferred space, independent sampling for the rest)
        in define-by-run order, so conditional parameters are suggested only when
        active."""
        name, sampler = self._sampler(c, number)
        if fallback:
            name, sampler = "random", optuna.samplers.RandomSampler(seed=fallback_seed(c, number))
        storage = c.study._storage
        handle = optuna.Study(study_name=sweep_id, storage=storage, sampler=sampler)
        tid = storage.get_trial_id_from_study_id_trial_number(c.study._study_id, number)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # experimental-feature notices of samplers
            sampler.before_trial(handle, storage.get_trial(tid))
            frozen = storage.get_trial(tid)
            space = sampler.infer_relative_search_space(handle, frozen)
            relative = sampler.sample_relative(handle, frozen, space) if space else {}
            dists = distributions(c.spec)

            def pick(pname: str) -> Any:
                d = dists[pname]
                if pname in frozen.params:  # fixed by an enqueued trial
                    v = frozen.params[pname]
                elif pname in relative and pname in space and space[pname] == d:
                    v = relative[pname]
                else:
                    v = sampler.sample_independent(handle, frozen, pname, d)
                return d.to_external_repr(d.to_internal_repr(v))

            out = spec_mod.choose(c.spec, pick)
        if not relative and not frozen.params and name not in ("random", "grid"):
            # a model-based sampler's start-up trials are drawn at random (its independent
            # sampler): the trial's record says so rather than naming the model
            name = "random"
        return name, out

    def _ask_waiting(
        self,
        c: Cached,
        t: SweepTx,
        sweep_id: str,
        row: Mapping[str, Any],
        user: str,
        host: str,
        now: float,
        request_id: str | None,
    ) -> SweepTrial:
        """Hand out an enqueued trial (a retry, whose values are fixed)."""
        number = min(c.by_kind["waiting"])
        _, sampler = self._sampler(c, number)
        c.study.sampler = sampler
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trial = c.study.ask()
            params = suggest(trial, c.spec)
        assert trial.number == number, (trial.number, number)
        if request_id is not None:
            c.study._storage.set_trial_system_attr(trial._trial_id, ASK_ATTR, request_id)
        c.study._storage.set_trial_system_attr(trial._trial_id, SAMPLER_ATTR, "retry")
        return self._start_run(c, t, sweep_id, row, number, params, "retry", user, host)

    def _start_run(
        self,
        c: Cached,
        t: SweepTx,
        sweep_id: str,
        row: Mapping[str, Any],
        number: int,
        params: Mapping[str, Any],
        sampler: str,
        user: str,
        host: str,
    ) -> SweepTrial:
        from ..ids import new_run_id

        now = t.now()
        run_id = new_run_id()
        config = spec_mod.nest({**spec_mod.fixed_values(c.spec), **params})
        t.create_run(
            RunSpec(
                id=run_id,
                project=c.project,
                name=f"{row['name']}-{number}",
                user=user,
                host=host,
                start_time=now,
                config=config,
                tags={"runtrack.sweep": sweep_id, "runtrack.trial": str(number)},
                group=sweep_id,
                parent_id=sweep_id,
            )
        )
        c.run_numbers[run_id] = number
        extra: dict[str, Any] = {"run_id": run_id, "sampler": sampler, "started_at": now}
        return trial_from_row(row_of(c, number, t, **extra), sweep_id)

    def _number_of(self, c: Cached, run_id: str) -> int:
        n = c.run_numbers.get(run_id)
        if n is None:
            raise RunNotFoundError(f"run {run_id!r} is not a trial of sweep {c.study.study_name}")
        return n

    def report(self, sweep_id: str, run_id: str, step: int, value: float) -> bool:
        """Record an intermediate objective value; whether the trial should stop."""

        def go(c: Cached, t: SweepTx) -> bool:
            number = self._number_of(c, run_id)
            fr = frozen_trial(c, number)
            if fr.state != TrialState.RUNNING:
                return fr.state == TrialState.PRUNED
            if PRUNE_ATTR in fr.system_attrs:
                return True
            trial = optuna.Trial(c.study, fr._trial_id)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a step reported twice is ignored
                trial.report(float(value), int(step))
            decision = bool(trial.should_prune())
            if decision:
                c.study._storage.set_trial_system_attr(fr._trial_id, PRUNE_ATTR, int(step))
            row_of(c, number, t)
            return decision

        return self._locked(sweep_id, "reporting a trial's progress", go)

    def pruning_enabled(self, spec: Mapping[str, Any]) -> bool:
        return spec["pruner"]["type"] != "none" and len(spec["metrics"]) == 1

    def tell(
        self,
        sweep_id: str,
        run_id: str,
        *,
        state: str,
        values: Sequence[float] | None = None,
        error: str | None = None,
        step: int | None = None,
    ) -> SweepTrial:
        """Finish a trial: ``complete`` with its objective values, ``pruned`` (its last
        value optional) or ``failed``. Telling a finished trial the same again is a no-op;
        telling it something else raises ``ConflictError``."""
        if state not in ("complete", "pruned", "failed"):
            raise ValidationError(f"state {state!r} must be complete, pruned or failed")

        if error is not None:
            error = clean_error(error)  # what is stored is what the caller gets back

        def go(c: Cached, t: SweepTx) -> SweepTrial:
            number = self._number_of(c, run_id)
            fr = frozen_trial(c, number)
            if fr.state.is_finished():
                told = NAME_OF[fr.state]
                again = None if values is None else check_values(c, state, values)
                # what this tell made of the trial the first time: a retry after a lost
                # answer must find the same outcome, not a conflict
                would = state
                if state == "complete" and PRUNE_ATTR in fr.system_attrs:
                    would = "pruned"
                elif state == "complete" and again and not all(map(math.isfinite, again)):
                    would = "failed"
                if told != would:
                    raise ConflictError(f"trial {number} of sweep {sweep_id} is already {told}")
                if would != state:
                    return trial_view(c, sweep_id, number)
                recorded: list[float] = list(fr.values or ())
                if state == "pruned" and fr.last_step is not None:
                    recorded = [fr.intermediate_values[fr.last_step]]
                finite = bool(again) and all(map(math.isfinite, again or ()))
                if finite and (state == "complete" or recorded) and recorded != again:
                    raise ConflictError(
                        f"trial {number} of sweep {sweep_id} is already {told} with "
                        f"{recorded}; it cannot be told {again}"
                    )
                return trial_view(c, sweep_id, number)
            vals = check_values(c, state, values)
            final, why = state, error
            if state == "complete" and PRUNE_ATTR in fr.system_attrs:
                # the pruner stopped it: however the loop ended, its value is a partial one
                final, vals = "pruned", None if not vals else vals[:1]
            if final == "complete" and vals is not None and not all(map(math.isfinite, vals)):
                # failed on the trial and on its run alike (finish_trial would fail the
                # trial; the run must not say complete)
                final, why, vals = "failed", f"objective value {vals} is not finite", None
            finish_trial(c, t, number, final, vals, why, step)
            record_on_run(c, t, run_id, final, vals, why)
            row = t.sweep_row()
            reason = exhausted(c, row, t.now())
            if reason is not None:
                maybe_finish(c, t, reason)
            return trial_view(c, sweep_id, number)

        return self._locked(sweep_id, "finishing a trial", go)

    def stop(self, sweep_id: str, reason: str) -> None:
        def go(c: Cached, t: SweepTx) -> None:
            row = t.sweep_row()
            if row["status"] == "running":
                t.update_sweep({"status": "stopped", "stop_reason": reason, "ended_at": t.now()})
                end_sweep_run(c, t, sweep_id, "finished")

        self._locked(sweep_id, "stopping a sweep", go)

    def resume(self, sweep_id: str, *, trials: int | None, seconds: float | None) -> None:
        """Hand out trials again: a stopped or finished sweep runs again, with ``trials``
        more trials than it used and ``seconds`` more from now if given (on a running
        sweep only the budget changes). A sweep that ended for lack of improvement drops
        its patience rule: more trials were asked for. Raises ``ConflictError`` when the
        budget would still be spent, ``ValidationError`` for ``trials`` on a grid."""

        def go(c: Cached, t: SweepTx) -> None:
            row = t.sweep_row()
            if c.spec["method"] == "grid" and trials is not None:
                raise ValidationError(
                    "trials: a grid sweep's grid is fixed when it is created (its levels "
                    "come from its budget); create a new sweep for another grid"
                )
            now = t.now()
            counted, _running, _waiting = counts(c)
            budget = spec_mod.extended_budget(
                c.spec["budget"],
                used=counted,
                elapsed=now - float(row["created_at"]),
                trials=trials,
                seconds=seconds,
            )
            if row["status"] == "running" and budget == c.spec["budget"]:
                return  # running, nothing to change: resuming again is a no-op
            old_spec = c.spec
            c.spec = {**old_spec, "budget": budget}
            try:
                reason = exhausted(c, row, now)
                if reason is not None and "patience" in budget:
                    lifted = {k: v for k, v in budget.items() if k != "patience"}
                    c.spec = {**old_spec, "budget": lifted}
                    if exhausted(c, row, now) is None:
                        reason = None  # the patience rule is what ended it: lifted
                if reason is not None:
                    raise ConflictError(
                        f"sweep {sweep_id} cannot run more trials: {reason}; give "
                        "trials=N for N more trials (runtrack sweep resume --trials N) or "
                        "seconds=S for S more seconds"
                    )
            except BaseException:
                c.spec = old_spec
                raise
            text = json.dumps(c.spec)
            c.spec_text, c.grid_keys = text, None
            c.seq += 1  # other processes' copies re-read the spec
            changes: dict[str, Any] = {"spec": text, "stop_reason": None}
            if row["status"] != "running":
                changes.update(status="running", ended_at=None)
                reopen_sweep_run(c, t, sweep_id)
            t.update_sweep(changes)

        self._locked(sweep_id, "resuming a sweep", go)

    # -- liveness, budget and the end of a sweep ------------------------------------------
    def settle(self, sweep_id: str) -> None:
        """What the next ask would do first, without asking: fail the trials whose run
        died (or retry them), and finish the sweep if that spent its budget. For reads of
        a sweep whose agents are all gone, which would otherwise show a dead agent's
        trial running for ever."""

        def go(c: Cached, t: SweepTx) -> None:
            row = t.sweep_row()
            if row["status"] != "running":
                return
            now = t.now()
            c.settled_at = float("-inf")  # asked for: not subject to SETTLE_EVERY
            settle_dead(c, t, now)
            reason = exhausted(c, row, now)
            if reason is not None:
                maybe_finish(c, t, reason)

        self._locked(sweep_id, "settling a sweep's trials", go)


_ENGINES_LOCK = threading.Lock()


def engine_of(store: SweepBackend) -> SweepEngine:
    """The engine of a store object (its in-memory studies live as long as the store)."""
    eng = getattr(store, "_sweep_engine", None)
    if eng is None:
        with _ENGINES_LOCK:
            eng = getattr(store, "_sweep_engine", None)
            if eng is None:
                eng = SweepEngine(store)
                store._sweep_engine = eng  # type: ignore[attr-defined]
    return eng
