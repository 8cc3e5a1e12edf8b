"""The in-memory copy of a sweep's study and how it maps to runtrack's rows.

A process serving sweeps keeps, per sweep, an Optuna study in Optuna's in-memory storage
(:class:`Cached`), brought up to date from the ``sweep_trials`` rows it has not seen
(:func:`apply_row`) and written back row by row (:func:`row_of`). The engine
(``engine.py``) does this under the sweep's lock; ``_outcomes.py`` ends trials and sweeps.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
    json_to_distribution,
)
from optuna.trial import FrozenTrial, TrialState

from ..entities import RunBatch, RunSpec, SweepTrial, utc_from_timestamp
from ..errors import ValidationError
from . import spec as spec_mod

T = TypeVar("T")

STATE_OF = {
    "waiting": TrialState.WAITING,
    "running": TrialState.RUNNING,
    "complete": TrialState.COMPLETE,
    "pruned": TrialState.PRUNED,
    "failed": TrialState.FAIL,
}
NAME_OF = {v: k for k, v in STATE_OF.items()}
PRUNE_ATTR = "runtrack:prune_step"
META_COLUMNS = (
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

    def drop_heartbeat(self, run_id: str) -> None:
        """The run keeps no heartbeat (a sweep's own run never turns "crashed")."""
        ...

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
class Cached:
    study: optuna.Study
    spec: dict[str, Any]
    project: str
    seq: int
    spec_text: str = ""  # the stored spec as read: a resume elsewhere changes it
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
    # method grid: the params_key of every point of the grid (computed on first use)
    grid_keys: frozenset[tuple[tuple[str, Any], ...]] | None = None


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
    dists = distributions(spec)

    def pick(name: str) -> Any:
        d = dists[name]
        if isinstance(d, CategoricalDistribution):
            return trial.suggest_categorical(name, d.choices)
        if isinstance(d, IntDistribution):
            return trial.suggest_int(name, d.low, d.high, step=d.step, log=d.log)
        assert isinstance(d, FloatDistribution)
        return trial.suggest_float(name, d.low, d.high, step=d.step, log=d.log)

    return spec_mod.choose(spec, pick)


def params_key(params: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, repr(v)) for k, v in params.items()))


def fallback_seed(c: Cached, number: int) -> int:
    return (int(c.spec["seed"]) * 1_000_003 + number * 7919 + 17) % (2**32)


def run_seq(c: Cached) -> int:
    """A record number for the engine's writes to a run ("sweep-engine" stream): above
    every earlier one, as the sweep's change number only grows (3 records per batch)."""
    return c.seq * 4 + 1


def frozen_from_row(row: Mapping[str, Any]) -> FrozenTrial:
    dists = {k: json_to_distribution(v) for k, v in json.loads(row["distributions"]).items()}
    params = json.loads(row["params"])
    vals = json.loads(row["vals"]) if row.get("vals") else None
    state = STATE_OF[row["state"]]
    inter = {int(s): float(v) for s, v in json.loads(row["intermediate"])}
    started = utc_from_timestamp(row.get("started_at"))
    ended = utc_from_timestamp(row.get("ended_at"))
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


def apply_row(c: Cached, row: Mapping[str, Any]) -> None:
    storage = c.study._storage
    sid = c.study._study_id
    number = int(row["number"])
    n_trials = len(c.kind)
    frozen = frozen_from_row(row)
    c.meta[number] = {k: row.get(k) for k in META_COLUMNS}
    if row.get("run_id") and not row.get("warm"):
        c.run_numbers[row["run_id"]] = number
    if number >= n_trials:
        if number != n_trials:
            raise ValidationError(f"sweep trial rows are not contiguous at {number}")
        storage.create_new_trial(sid, template_trial=frozen)
        note(c, number)
        return
    have = frozen_trial(c, number)
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
    note(c, number)


def note(c: Cached, number: int) -> None:
    """Record trial ``number``'s current kind (see ``Cached.kind``) and its values."""
    fr = frozen_trial(c, number)
    if fr.params:
        c.suggested.add(params_key(fr.params))
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


def row_of(c: Cached, number: int, t: SweepTx, **extra: Any) -> dict[str, Any]:
    """Write trial ``number`` as the in-memory study has it (plus ``extra`` columns)
    with the next change number; the full row."""
    fr = frozen_trial(c, number)
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
        "state": NAME_OF[fr.state],
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
    save_study_attrs(c, t)
    note(c, number)
    return row


def save_study_attrs(c: Cached, t: SweepTx) -> None:
    attrs = c.study._storage.get_study_system_attrs(c.study._study_id)
    text = json.dumps(attrs, sort_keys=True)
    if c.attrs_text is None:
        c.attrs_text = json.dumps(json.loads(t.sweep_row()["study_attrs"]), sort_keys=True)
    if c.attrs_text != text:
        t.update_sweep({"study_attrs": text})
        c.attrs_text = text


def frozen_trial(c: Cached, number: int) -> FrozenTrial:
    storage = c.study._storage
    tid = storage.get_trial_id_from_study_id_trial_number(c.study._study_id, number)
    return storage.get_trial(tid)


def trial_view(c: Cached, sweep_id: str, number: int) -> SweepTrial:
    fr = frozen_trial(c, number)
    meta = c.meta.get(number, {})
    return SweepTrial(
        sweep_id=sweep_id,
        number=number,
        run_id=meta.get("run_id"),
        state=NAME_OF[fr.state],  # type: ignore[arg-type]
        params=dict(fr.params),
        values=None if fr.values is None else tuple(fr.values),
        intermediate=tuple(sorted(fr.intermediate_values.items())),
        sampler=meta.get("sampler"),
        started_at=utc_from_timestamp(meta.get("started_at")),
        ended_at=utc_from_timestamp(meta.get("ended_at")),
        warm=bool(meta.get("warm")),
        error=meta.get("error"),
        retry_of=meta.get("retry_of"),
        retried=bool(meta.get("retried")),
    )
