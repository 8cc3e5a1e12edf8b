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
"""

from __future__ import annotations

import json
import logging
import math
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
    json_to_distribution,
)
from optuna.storages import InMemoryStorage
from optuna.trial import FrozenTrial, TrialState

from ..entities import RunBatch, RunSpec, SweepTrial
from ..errors import ConflictError, RunNotFoundError, ValidationError
from . import spec as spec_mod
from ._auto import SamplerContext, make_sampler
from ._pruners import make_pruner
from .records import trial_from_row

if TYPE_CHECKING:
    pass

optuna.logging.set_verbosity(optuna.logging.WARNING)
logger = logging.getLogger("runtrack.sweeps")
T = TypeVar("T")

# samplers whose suggestion takes long enough (GP: 0.1-2 s) that other agents must not
# wait for it: their trial is reserved under the lock and suggested outside it
SLOW_SAMPLERS = frozenset({"gp"})
RESERVE_TIMEOUT = 600.0  # s: a reserved trial whose run was never created is failed
SETTLE_EVERY = 1.0  # s: how often an asking process looks for trials whose run died
FINISHED_GRACE = 60.0  # s: a trial whose run ended this long ago without a tell is settled
_STATE_OF = {
    "waiting": TrialState.WAITING,
    "running": TrialState.RUNNING,
    "complete": TrialState.COMPLETE,
    "pruned": TrialState.PRUNED,
    "failed": TrialState.FAIL,
}
_NAME_OF = {v: k for k, v in _STATE_OF.items()}
PRUNE_ATTR = "runtrack:prune_step"
_META_COLUMNS = (
    "run_id",
    "warm",
    "sampler",
    "error",
    "retry_of",
    "retried",
    "started_at",
    "ended_at",
)
SAMPLER_ATTR = "runtrack:sampler"
ASK_ATTR = "runtrack:request"  # the id of the ask that handed the trial out
RETRIED_ATTR = "runtrack:retried"  # a failed trial run again: its retry takes its budget slot


class SweepTx(Protocol):
    """What the engine needs from a store inside one locked transaction."""

    def sweep_row(self) -> dict[str, Any]:
        """The sweep's row (locked until the transaction ends)."""
        ...

    def trial_rows(self, since_seq: int) -> list[dict[str, Any]]:
        """Trial rows changed after ``since_seq``, by number."""
        ...

    def put_trial(self, row: Mapping[str, Any], *, new: bool = False) -> None:
        """Insert (``new``) or replace a trial row (keyed by sweep and number)."""
        ...

    def update_sweep(self, values: Mapping[str, Any]) -> None: ...

    def create_run(self, spec: RunSpec) -> None: ...

    def write_run(self, batch: RunBatch) -> None: ...

    def runs_state(self, run_ids: Sequence[str], keys: Sequence[str]) -> dict[str, RunState]:
        """Status, end time and the last value of ``keys`` of each run that exists."""
        ...

    def now(self) -> float: ...


@dataclass(frozen=True)
class RunState:
    status: str
    end_time: float | None
    values: Mapping[str, float]  # objective key -> last value (summary)


class SweepBackend(Protocol):
    """A store that can run a function in a locked sweep transaction."""

    def _sweep_tx(self, sweep_id: str, fn: Callable[[SweepTx], T], what: str) -> T: ...

    def _sweep_stale(self) -> None: ...


@dataclass
class _Cached:
    study: optuna.Study
    spec: dict[str, Any]
    project: str
    seq: int
    run_numbers: dict[str, int] = field(default_factory=dict)
    meta: dict[int, dict[str, Any]] = field(default_factory=dict)  # row columns not in Optuna
    attrs_text: str | None = None
    settled_at: float = float("-inf")
    # trial number -> "skip" (warm-started, or failed and retried), "running", "waiting"
    # or "done"; kept up to date on every change, so budgets cost nothing per ask
    kind: dict[int, str] = field(default_factory=dict)
    suggested: set[tuple[tuple[str, Any], ...]] = field(default_factory=set)  # params seen
    by_kind: dict[str, set[int]] = field(
        default_factory=lambda: {"skip": set(), "running": set(), "waiting": set(), "done": set()}
    )
    lock: threading.Lock = field(default_factory=threading.Lock)


def distributions(spec: Mapping[str, Any]) -> dict[str, BaseDistribution]:
    """Optuna distributions of the searched parameters, in suggestion order."""
    out: dict[str, BaseDistribution] = {}
    for name, p in spec["parameters"].items():
        if "value" in p:
            continue
        if "values" in p:
            out[name] = CategoricalDistribution(p["values"])
        elif p["distribution"] == "int":
            out[name] = IntDistribution(p["min"], p["max"], log=p["log"], step=p["step"])
        else:
            out[name] = FloatDistribution(
                p["min"],
                p["max"],
                log=p["distribution"] == "log_uniform",
                step=p.get("step"),
            )
    return out


def suggest(trial: optuna.Trial, spec: Mapping[str, Any]) -> dict[str, Any]:
    """Suggest every active parameter in order (define-by-run: a conditional parameter
    only when its condition holds). Returns the searched values chosen."""
    chosen: dict[str, Any] = {}
    dists = distributions(spec)
    for name, p in spec["parameters"].items():
        if "value" in p:
            chosen[name] = p["value"]
            continue
        if not spec_mod.is_active(p, chosen):
            continue
        d = dists[name]
        if isinstance(d, CategoricalDistribution):
            chosen[name] = trial.suggest_categorical(name, d.choices)
        elif isinstance(d, IntDistribution):
            chosen[name] = trial.suggest_int(name, d.low, d.high, step=d.step, log=d.log)
        else:
            assert isinstance(d, FloatDistribution)
            chosen[name] = trial.suggest_float(name, d.low, d.high, step=d.step, log=d.log)
    return {k: v for k, v in chosen.items() if k in dists}


def _params_key(params: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, repr(v)) for k, v in params.items()))


def _mix(c: _Cached, number: int) -> int:
    return (int(c.spec["seed"]) * 1_000_003 + number * 7919 + 17) % (2**32)


def _run_seq(c: _Cached) -> int:
    """A record number for the engine's writes to a run ("sweep-engine" stream): above
    every earlier one, as the sweep's change number only grows (3 records per batch)."""
    return c.seq * 4 + 1


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def _frozen_from_row(row: Mapping[str, Any]) -> FrozenTrial:
    dists = {k: json_to_distribution(v) for k, v in json.loads(row["distributions"]).items()}
    params = json.loads(row["params"])
    vals = json.loads(row["vals"]) if row.get("vals") else None
    state = _STATE_OF[row["state"]]
    inter = {int(s): float(v) for s, v in json.loads(row["intermediate"])}
    started = _dt(row.get("started_at"))
    ended = _dt(row.get("ended_at"))
    return FrozenTrial(
        number=int(row["number"]),
        state=state,
        value=None,
        values=vals if state in (TrialState.COMPLETE, TrialState.PRUNED) else None,
        datetime_start=None if started is None else started.replace(tzinfo=None),
        datetime_complete=None if ended is None else ended.replace(tzinfo=None),
        params={k: params[k] for k in dists if k in params},
        distributions={k: d for k, d in dists.items() if k in params},
        user_attrs=json.loads(row["user_attrs"]),
        system_attrs=json.loads(row["system_attrs"]),
        intermediate_values=inter,
        trial_id=-1,
    )


class SweepEngine:
    """Ask, report and tell for the sweeps of one store (one per store object)."""

    def __init__(self, store: SweepBackend) -> None:
        self._store = store
        self._cache: dict[str, _Cached] = {}
        self._guard = threading.Lock()

    # -- the in-memory study -------------------------------------------------------------
    def _locked(self, sweep_id: str, what: str, fn: Callable[[_Cached, SweepTx], T]) -> T:
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
    ) -> _Cached:
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
            cached = _Cached(study=study, spec=spec, project=row["project"], seq=0, lock=lock)
        for r in t.trial_rows(cached.seq):
            self._apply_row(cached, r)
        cached.seq = int(row["seq"])
        with self._guard:
            self._cache[sweep_id] = cached
        return cached

    def _apply_row(self, c: _Cached, row: Mapping[str, Any]) -> None:
        storage = c.study._storage
        sid = c.study._study_id
        number = int(row["number"])
        n_trials = len(c.kind)
        frozen = _frozen_from_row(row)
        c.meta[number] = {k: row.get(k) for k in _META_COLUMNS}
        if row.get("run_id") and not row.get("warm"):
            c.run_numbers[row["run_id"]] = number
        if number >= n_trials:
            if number != n_trials:
                raise ValidationError(f"sweep trial rows are not contiguous at {number}")
            storage.create_new_trial(sid, template_trial=frozen)
            self._note(c, number)
            return
        have = self._frozen(c, number)
        tid = have._trial_id
        if have.state.is_finished():
            return  # finished is final; this process already has it
        for name, value in frozen.params.items():
            if name not in have.params:
                d = frozen.distributions[name]
                storage.set_trial_param(tid, name, d.to_internal_repr(value), d)
        for step, v in frozen.intermediate_values.items():
            if step not in have.intermediate_values:
                storage.set_trial_intermediate_value(tid, step, v)
        for k, v in frozen.system_attrs.items():
            if have.system_attrs.get(k) != v:
                storage.set_trial_system_attr(tid, k, v)
        for k, v in frozen.user_attrs.items():
            if have.user_attrs.get(k) != v:
                storage.set_trial_user_attr(tid, k, v)
        if frozen.state != have.state:
            values = frozen.values if frozen.state == TrialState.COMPLETE else None
            if frozen.state == TrialState.PRUNED and frozen.values:
                values = frozen.values
            storage.set_trial_state_values(tid, frozen.state, values)
        self._note(c, number)

    def _note(self, c: _Cached, number: int) -> None:
        """Record trial ``number``'s current kind (see ``_Cached.kind``) and its values."""
        fr = self._frozen(c, number)
        if fr.params:
            c.suggested.add(_params_key(fr.params))
        if fr.user_attrs.get("runtrack:warm") or fr.system_attrs.get(RETRIED_ATTR):
            kind = "skip"
        elif fr.state == TrialState.RUNNING:
            kind = "running"
        elif fr.state == TrialState.WAITING:
            kind = "waiting"
        else:
            kind = "done"
        old = c.kind.get(number)
        if old != kind:
            if old is not None:
                c.by_kind[old].discard(number)
            c.by_kind[kind].add(number)
            c.kind[number] = kind

    def _row_of(self, c: _Cached, number: int, t: SweepTx, **extra: Any) -> dict[str, Any]:
        """Write trial ``number`` as the in-memory study has it (plus ``extra`` columns)
        with the next change number; the full row."""
        fr = self._frozen(c, number)
        meta = c.meta.setdefault(
            number,
            {
                "run_id": None,
                "warm": False,
                "sampler": None,
                "error": None,
                "retry_of": None,
                "retried": False,
                "started_at": None,
                "ended_at": None,
            },
        )
        meta.update(extra)
        c.seq += 1
        row: dict[str, Any] = {
            "number": number,
            "state": _NAME_OF[fr.state],
            "params": json.dumps(fr.params),
            "distributions": json.dumps(
                {k: distribution_to_json(d) for k, d in fr.distributions.items()}
            ),
            "vals": None if fr.values is None else json.dumps(list(fr.values)),
            "intermediate": json.dumps(sorted(fr.intermediate_values.items())),
            "system_attrs": json.dumps(fr.system_attrs),
            "user_attrs": json.dumps(fr.user_attrs),
            "seq": c.seq,
            **meta,
        }
        t.put_trial(row, new=number not in c.kind)
        self._save_study_attrs(c, t)
        self._note(c, number)
        return row

    def _save_study_attrs(self, c: _Cached, t: SweepTx) -> None:
        attrs = c.study._storage.get_study_system_attrs(c.study._study_id)
        text = json.dumps(attrs, sort_keys=True)
        if c.attrs_text is None:
            c.attrs_text = json.dumps(json.loads(t.sweep_row()["study_attrs"]), sort_keys=True)
        if c.attrs_text != text:
            t.update_sweep({"study_attrs": text})
            c.attrs_text = text

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

        def reserve(c: _Cached, t: SweepTx) -> SweepTrial | int | None:
            row = t.sweep_row()
            if request_id is not None:  # a retried ask whose answer was lost
                for n in c.by_kind["running"]:
                    attrs = self._frozen(c, n).system_attrs
                    if attrs.get(ASK_ATTR) == request_id and c.meta.get(n, {}).get("run_id"):
                        return self._trial(c, sweep_id, n)
            if row["status"] != "running":
                return None
            now = t.now()
            self._settle_dead(c, t, now)
            reason = self._exhausted(c, row, now)
            if reason is not None:
                self._maybe_finish(c, t, reason)
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
            self._row_of(c, number, t, started_at=now)
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

        def record(c: _Cached, t: SweepTx) -> SweepTrial:
            return self._record(c, t, sweep_id, number, name, params, user, host)

        return self._locked(sweep_id, "recording a trial", record)

    def _record(
        self,
        c: _Cached,
        t: SweepTx,
        sweep_id: str,
        number: int,
        name: str,
        params: Mapping[str, Any],
        user: str,
        host: str,
    ) -> SweepTrial:
        """Record a reserved trial's suggested parameters and create its run."""
        fr = self._frozen(c, number)
        if fr.state != TrialState.RUNNING or c.meta.get(number, {}).get("run_id"):
            raise ConflictError(
                f"trial {number} of sweep {sweep_id} was settled while it was being "
                "suggested (its agent was presumed dead); ask again"
            )
        if _params_key(params) in c.suggested:
            # suggested outside the lock at the same moment as another trial, and the
            # same values: suggest again now that the other one is known (Optuna's
            # samplers account for running trials), at random if that repeats too
            name, params = self._sample(c, sweep_id, number)
            if _params_key(params) in c.suggested:
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

    def _sampler(self, c: _Cached, number: int) -> tuple[str, optuna.samplers.BaseSampler]:
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
        self, c: _Cached, sweep_id: str, number: int, *, fallback: bool = False
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
            name, sampler = "random", optuna.samplers.RandomSampler(seed=_mix(c, number))
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
            chosen: dict[str, Any] = {}
            out: dict[str, Any] = {}
            for pname, p in c.spec["parameters"].items():
                if "value" in p:
                    chosen[pname] = p["value"]
                    continue
                if not spec_mod.is_active(p, chosen):
                    continue
                d = dists[pname]
                if pname in frozen.params:  # fixed by an enqueued trial
                    v = frozen.params[pname]
                elif pname in relative and pname in space and space[pname] == d:
                    v = relative[pname]
                else:
                    v = sampler.sample_independent(handle, frozen, pname, d)
                v = d.to_external_repr(d.to_internal_repr(v))
                chosen[pname] = out[pname] = v
        return name, out

    def _ask_waiting(
        self,
        c: _Cached,
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
        c: _Cached,
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
        return trial_from_row(self._row_of(c, number, t, **extra), sweep_id)

    def _frozen(self, c: _Cached, number: int) -> FrozenTrial:
        storage = c.study._storage
        tid = storage.get_trial_id_from_study_id_trial_number(c.study._study_id, number)
        return storage.get_trial(tid)

    def _number_of(self, c: _Cached, run_id: str) -> int:
        n = c.run_numbers.get(run_id)
        if n is None:
            raise RunNotFoundError(f"run {run_id!r} is not a trial of sweep {c.study.study_name}")
        return n

    def report(self, sweep_id: str, run_id: str, step: int, value: float) -> bool:
        """Record an intermediate objective value; whether the trial should stop."""

        def go(c: _Cached, t: SweepTx) -> bool:
            number = self._number_of(c, run_id)
            fr = self._frozen(c, number)
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
            self._row_of(c, number, t)
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

        def go(c: _Cached, t: SweepTx) -> SweepTrial:
            number = self._number_of(c, run_id)
            fr = self._frozen(c, number)
            if fr.state.is_finished():
                if _NAME_OF[fr.state] != state:
                    raise ConflictError(
                        f"trial {number} of sweep {sweep_id} is already {_NAME_OF[fr.state]}"
                    )
                return self._trial(c, sweep_id, number)
            vals = self._check_values(c, state, values)
            final = state
            if state == "complete" and PRUNE_ATTR in fr.system_attrs:
                # the pruner stopped it: however the loop ended, its value is a partial one
                final, vals = "pruned", None if not vals else vals[:1]
            self._finish_trial(c, t, number, final, vals, error, step)
            self._record_on_run(c, t, run_id, final, vals, error)
            row = t.sweep_row()
            reason = self._exhausted(c, row, t.now())
            if reason is not None:
                self._maybe_finish(c, t, reason)
            return self._trial(c, sweep_id, number)

        return self._locked(sweep_id, "finishing a trial", go)

    def _check_values(
        self, c: _Cached, state: str, values: Sequence[float] | None
    ) -> list[float] | None:
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

    def _finish_trial(
        self,
        c: _Cached,
        t: SweepTx,
        number: int,
        state: str,
        values: list[float] | None,
        error: str | None,
        step: int | None = None,
    ) -> None:
        fr = self._frozen(c, number)
        if state == "complete" and values is not None and not all(map(math.isfinite, values)):
            state, error = "failed", f"objective value {values} is not finite"
            values = None
        retried = state == "failed" and self._retry_left(c, number)
        if retried:  # marked while it can still be changed: its retry takes its budget slot
            c.study._storage.set_trial_system_attr(fr._trial_id, RETRIED_ATTR, True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if state == "pruned" and values:
                last = fr.last_step
                s = step if step is not None else (0 if last is None else last + 1)
                if s not in fr.intermediate_values and math.isfinite(values[0]):
                    c.study._storage.set_trial_intermediate_value(fr._trial_id, s, values[0])
            c.study.tell(
                number,
                values if state == "complete" else None,
                state=_STATE_OF[state],
                skip_if_finished=True,
            )
        if retried:
            params = dict(self._frozen(c, number).params)
            c.study.enqueue_trial(
                params, user_attrs={"runtrack:retry_of": number}, skip_if_exists=False
            )
        self._row_of(c, number, t, ended_at=t.now(), error=error, retried=retried)
        if retried:
            new = len(c.kind)  # the enqueued trial, not noted yet
            self._row_of(c, new, t, retry_of=number, sampler="retry")

    def _retry_left(self, c: _Cached, number: int) -> bool:
        allowed = int(c.spec.get("retries", 0))
        depth, n = 0, number
        while True:
            prev = self._frozen(c, n).user_attrs.get("runtrack:retry_of")
            if prev is None:
                break
            depth, n = depth + 1, int(prev)
        return depth < allowed

    def _record_on_run(
        self,
        c: _Cached,
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
        q = _run_seq(c)
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

    def _trial(self, c: _Cached, sweep_id: str, number: int) -> SweepTrial:
        fr = self._frozen(c, number)
        meta = c.meta.get(number, {})
        return SweepTrial(
            sweep_id=sweep_id,
            number=number,
            run_id=meta.get("run_id"),
            state=_NAME_OF[fr.state],  # type: ignore[arg-type]
            params=dict(fr.params),
            values=None if fr.values is None else tuple(fr.values),
            intermediate=tuple(sorted(fr.intermediate_values.items())),
            sampler=meta.get("sampler"),
            started_at=_dt(meta.get("started_at")),
            ended_at=_dt(meta.get("ended_at")),
            warm=bool(meta.get("warm")),
            error=meta.get("error"),
            retry_of=meta.get("retry_of"),
            retried=bool(meta.get("retried")),
        )

    def stop(self, sweep_id: str, reason: str) -> None:
        def go(c: _Cached, t: SweepTx) -> None:
            row = t.sweep_row()
            if row["status"] == "running":
                t.update_sweep({"status": "stopped", "stop_reason": reason, "ended_at": t.now()})
                self._end_sweep_run(c, t, sweep_id, "finished")

        self._locked(sweep_id, "stopping a sweep", go)

    # -- liveness, budget and the end of a sweep ------------------------------------------
    def _settle_dead(self, c: _Cached, t: SweepTx, now: float) -> None:
        """Trials whose run died (crashed, failed, killed, deleted) fail; a run that
        finished long ago without a tell (its agent died in between) is settled from the
        values it logged."""
        if not c.by_kind["running"] or now - c.settled_at < SETTLE_EVERY:
            return
        c.settled_at = now
        running = {n: self._frozen(c, n) for n in c.by_kind["running"]}
        by_run = {c.meta[n]["run_id"]: n for n in running if c.meta.get(n, {}).get("run_id")}
        for n in sorted(set(running) - set(by_run.values())):  # reserved, never started
            started = c.meta.get(n, {}).get("started_at") or now
            if now - started > RESERVE_TIMEOUT:
                why = "the agent that asked for it stopped before starting it"
                self._finish_trial(c, t, n, "failed", None, why)
        names = spec_mod.objective_names(c.spec)
        states = t.runs_state(list(by_run), names)
        for run_id, number in sorted(by_run.items(), key=lambda kv: kv[1]):
            st = states.get(run_id)
            if st is None:
                self._finish_trial(c, t, number, "failed", None, "the trial's run was deleted")
            elif st.status in ("crashed", "failed", "killed"):
                pruned = PRUNE_ATTR in running[number].system_attrs
                if pruned:
                    self._finish_trial(c, t, number, "pruned", None, None)
                else:
                    why = {
                        "crashed": "its agent stopped beating (died or lost the store)",
                        "failed": "its run failed",
                        "killed": "its run was killed",
                    }[st.status]
                    self._finish_trial(c, t, number, "failed", None, why)
                self._tag_run(c, t, run_id, "pruned" if pruned else "failed")
            elif st.status == "finished" and st.end_time is not None:
                if now - st.end_time < FINISHED_GRACE:
                    continue
                if PRUNE_ATTR in running[number].system_attrs:
                    self._finish_trial(c, t, number, "pruned", None, None)
                    self._tag_run(c, t, run_id, "pruned")
                elif all(k in st.values for k in names):
                    vals = [st.values[k] for k in names]
                    self._finish_trial(c, t, number, "complete", vals, None)
                    self._tag_run(c, t, run_id, "complete")
                else:
                    self._finish_trial(
                        c, t, number, "failed", None, "the run finished without the objective"
                    )
                    self._tag_run(c, t, run_id, "failed")

    def _tag_run(self, c: _Cached, t: SweepTx, run_id: str, state: str) -> None:
        from ..entities import OpRecord, TagsOp

        op = OpRecord(_run_seq(c), TagsOp({"runtrack.trial_state": state}))
        t.write_run(RunBatch(run_id, "sweep-engine", (op,)))

    def _counts(self, c: _Cached) -> tuple[int, int, int]:
        """(trials counted against the budget, running, waiting)."""
        k = c.by_kind  # a retry takes the budget slot of the trial it repeats
        counted = len(c.kind) - len(k["skip"])
        return counted, len(k["running"]), len(k["waiting"])

    def _exhausted(self, c: _Cached, row: Mapping[str, Any], now: float) -> str | None:
        budget = c.spec["budget"]
        counted, _running, waiting = self._counts(c)
        if "trials" in budget and counted >= budget["trials"] and not waiting:
            return f"budget of {budget['trials']} trials spent"
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

    def _maybe_finish(self, c: _Cached, t: SweepTx, reason: str) -> None:
        _counted, running, _waiting = self._counts(c)
        row = t.sweep_row()
        if running or row["status"] != "running":
            if row.get("stop_reason") != reason and row["status"] == "running":
                t.update_sweep({"stop_reason": reason})
            return
        t.update_sweep({"status": "finished", "stop_reason": reason, "ended_at": t.now()})
        self._end_sweep_run(c, t, str(row["id"]), "finished")

    def _end_sweep_run(self, c: _Cached, t: SweepTx, sweep_id: str, status: str) -> None:
        from ..entities import OpRecord, StatusOp

        st = t.runs_state([sweep_id], ()).get(sweep_id)
        if st is not None and st.status == "running":
            op = OpRecord(_run_seq(c), StatusOp(status, t.now()))  # type: ignore[arg-type]
            t.write_run(RunBatch(sweep_id, "sweep-engine", (op,)))


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
