"""``SqlStore``'s sweeps: the rows, the locked transaction the engine works in, and the
reads (which need no Optuna: a sweep can be shown by any client).

The search itself (Optuna's ask/tell, pruning, budgets, dead trials) is
``runtrack.sweeps.engine``, imported when a sweep is first asked or told.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import insert, or_, select, update
from sqlalchemy.engine import Connection

from ...entities import (
    FrozenMap,
    NewRun,
    RunBatch,
    RunSpec,
    Sweep,
    SweepTrial,
    utc_from_timestamp,
)
from ...errors import StoreError, SweepNotFoundError, ValidationError
from ...sweeps.records import clean_error
from ...validation import (
    check_existing_run_id,
    check_metric_value,
    check_project,
    check_step,
    check_sweep_id,
    check_text,
)
from ._create import check_spec
from ._facade import SqlFacade
from ._records import effective_summary, loads, unpack_metrics
from .schema import projects, runs, sweep_trials, sweeps

log = logging.getLogger("runtrack")

#: a trial's run in one of these states has no agent left to tell its outcome
_DEAD_RUN_STATES = ("crashed", "failed", "killed")

if TYPE_CHECKING:
    from ...sweeps.engine import RunState

T = TypeVar("T")


def _check_actor(actor: object, what: str = "actor") -> str:
    if not isinstance(actor, str) or not actor.strip() or len(actor) > 250:
        raise ValidationError(f"{what} must be a non-empty name of at most 250 characters")
    return check_text(actor, what, 250)


class _SqlSweepTx:
    """The engine's view of one locked sweep transaction (``runtrack.sweeps.engine.SweepTx``)."""

    def __init__(self, store: SweepMethods, conn: Connection, sweep_id: str) -> None:
        self._store = store
        self._conn = conn
        self._id = sweep_id
        self._row: dict[str, Any] | None = None

    def sweep_row(self) -> dict[str, Any]:
        if self._row is None:
            q = (
                select(sweeps, projects.c.name.label("project"), runs.c.name.label("name"))
                .join(projects, projects.c.id == sweeps.c.project_id)
                .join(runs, runs.c.id == sweeps.c.id)
                .where(sweeps.c.id == self._id)
            )
            if self._conn.dialect.name == "postgresql":
                lock = select(sweeps.c.id).where(sweeps.c.id == self._id).with_for_update()
                self._conn.execute(lock)
            r = self._conn.execute(q).mappings().first()
            if r is None:
                raise SweepNotFoundError(f"sweep {self._id!r} does not exist")
            self._row = dict(r)
        return self._row

    def trial_rows(self, since_seq: int) -> list[dict[str, Any]]:
        q = (
            select(sweep_trials)
            .where(sweep_trials.c.sweep_id == self._id, sweep_trials.c.seq > since_seq)
            .order_by(sweep_trials.c.number)
        )
        return [dict(r) for r in self._conn.execute(q).mappings()]

    def put_trial(self, row: Mapping[str, Any], *, new: bool = False) -> None:
        values = dict(row)
        values["sweep_id"] = self._id
        if values.get("error"):
            values["error"] = clean_error(values["error"])
        if new:
            self._conn.execute(insert(sweep_trials).values(**values))
            return
        c = sweep_trials.c
        done = self._conn.execute(
            update(sweep_trials)
            .where(c.sweep_id == self._id, c.number == values["number"])
            .values(**{k: v for k, v in values.items() if k not in ("sweep_id", "number")})
        )
        if done.rowcount == 0:
            self._conn.execute(insert(sweep_trials).values(**values))

    def update_sweep(self, values: Mapping[str, Any]) -> None:
        self._conn.execute(update(sweeps).where(sweeps.c.id == self._id).values(**values))
        if self._row is not None:
            self._row.update(values)

    def create_run(self, spec: RunSpec) -> None:
        self._store._create_tx(
            self._conn, [NewRun(spec)], [check_spec(spec)], strict=True, now=self.now()
        )

    def write_run(self, batch: RunBatch) -> None:
        self._store._apply_tx(self._conn, batch)

    def drop_heartbeat(self, run_id: str) -> None:
        self._conn.execute(update(runs).where(runs.c.id == run_id).values(heartbeat=None))

    def runs_state(self, run_ids: Sequence[str], keys: Sequence[str]) -> dict[str, RunState]:
        from ...sweeps.engine import RunState

        out: dict[str, RunState] = {}
        ids = list(run_ids)
        for k in range(0, len(ids), 400):
            q = select(
                runs.c.id, runs.c.status, runs.c.end_time, runs.c.metrics, runs.c.summary
            ).where(runs.c.id.in_(ids[k : k + 400]))
            for r in self._conn.execute(q):
                summary = effective_summary(unpack_metrics(r.metrics), loads(r.summary))
                vals = {
                    key: float(summary[key])
                    for key in keys
                    if isinstance(summary.get(key), int | float)
                    and not isinstance(summary.get(key), bool)
                }
                out[r.id] = RunState(r.status, r.end_time, vals)
        return out

    def now(self) -> float:
        return self._store._clock()


class SweepMethods(SqlFacade):
    """Sweeps on top of the facade's transaction helpers (a mixin of ``SqlStore``)."""

    # -- the engine's transaction ---------------------------------------------------------
    def _sweep_tx(self, sweep_id: str, fn: Callable[[Any], T], what: str) -> T:
        def go(conn: Connection) -> T:
            t = _SqlSweepTx(self, conn, sweep_id)
            t.sweep_row()  # lock it first (and fail early for an unknown sweep)
            return fn(t)

        return self._write(what, go)

    # -- creating ---------------------------------------------------------------------------
    def create_sweep(
        self, project: str, spec: Mapping[str, Any], *, actor: str, host: str = ""
    ) -> Sweep:
        from ...ids import new_run_id, new_run_name
        from ...sweeps.spec import normalize
        from ...sweeps.warm import warm_trials

        check_project(project)
        _check_actor(actor)
        check_text(host, "host", 250)
        norm = normalize(spec)
        sweep_id = new_run_id()
        name = norm["name"] or f"sweep-{new_run_name()}"
        warm = warm_trials(self, project, norm, exclude=set())  # type: ignore[arg-type]
        run_spec = RunSpec(
            id=sweep_id,
            project=project,
            name=name,
            user=actor,
            host=host or "-",
            start_time=self._clock(),
            config={
                "method": norm["method"],
                "metrics": {m["name"]: m["goal"] for m in norm["metrics"]},
                "budget": norm["budget"],
                "seed": norm["seed"],
            },
            tags={"runtrack.kind": "sweep"},
            notes=norm["description"],
        )
        checked = [check_spec(run_spec)]

        def go(conn: Connection) -> None:
            now = self._clock()
            self._create_tx(conn, [NewRun(run_spec)], checked, strict=True, now=now)
            # no process beats for a sweep's own run: it never turns "crashed"
            conn.execute(update(runs).where(runs.c.id == sweep_id).values(heartbeat=None))
            pid = self._project_id(conn, project, create=False)
            conn.execute(
                insert(sweeps).values(
                    id=sweep_id,
                    project_id=pid,
                    spec=json.dumps(norm),
                    status="running",
                    stop_reason=None,
                    study_attrs="{}",
                    seq=len(warm),
                    created_by=actor,
                    created_at=now,
                    ended_at=None,
                )
            )
            for i, row in enumerate(warm):
                conn.execute(
                    insert(sweep_trials).values(sweep_id=sweep_id, number=i, seq=i + 1, **row)
                )

        self._write("creating a sweep", go)
        return self.get_sweep(sweep_id)

    # -- reads ------------------------------------------------------------------------------
    def _sweep_rows(self, conn: Connection, where: Any) -> list[dict[str, Any]]:
        q = (
            select(
                sweeps,
                projects.c.name.label("project"),
                runs.c.name.label("name"),
                runs.c.user.label("user"),
            )
            .join(projects, projects.c.id == sweeps.c.project_id)
            .join(runs, runs.c.id == sweeps.c.id)
            .where(where)
            .order_by(sweeps.c.created_at.desc())
        )
        return [dict(r) for r in conn.execute(q).mappings()]

    def _trials_of(self, conn: Connection, sweep_id: str) -> list[SweepTrial]:
        from ...sweeps.records import trial_from_row

        q = (
            select(sweep_trials)
            .where(sweep_trials.c.sweep_id == sweep_id)
            .order_by(sweep_trials.c.number)
        )
        return [trial_from_row(dict(r), sweep_id) for r in conn.execute(q).mappings()]

    def _settle_dead_trials(self, sweep_id: str) -> None:
        """Before a read: trials whose run died (crashed, failed, killed, deleted) are
        settled as the next ask would settle them, so a sweep whose agents are all gone
        does not show a dead agent's trial running for ever. One indexed query when no
        trial needs it."""
        from ...sweeps.engine import engine_of

        self._sweep_stale()  # runs gone silent are crashed first

        def dead(conn: Connection) -> bool:
            st = sweep_trials.c
            q = (
                select(st.number)
                .select_from(sweep_trials.outerjoin(runs, runs.c.id == st.run_id))
                .where(st.sweep_id == sweep_id, st.state == "running", st.run_id.is_not(None))
                .where(or_(runs.c.id.is_(None), runs.c.status.in_(_DEAD_RUN_STATES)))
                .limit(1)
            )
            return conn.execute(q).first() is not None

        if self._read("reading a sweep", dead):
            try:
                engine_of(self).settle(sweep_id)
            except StoreError as exc:  # the read the caller asked for still answers
                log.warning("runtrack: could not settle sweep %s's dead trials: %s", sweep_id, exc)

    def get_sweep(self, sweep_id: str) -> Sweep:
        check_sweep_id(sweep_id)
        self._settle_dead_trials(sweep_id)

        def go(conn: Connection) -> Sweep:
            rows = self._sweep_rows(conn, sweeps.c.id == sweep_id)
            if not rows:
                raise SweepNotFoundError(f"sweep {sweep_id!r} does not exist")
            return _sweep_record(rows[0], self._trials_of(conn, sweep_id))

        return self._read("reading a sweep", go)

    def list_sweeps(self, project: str | None = None) -> list[Sweep]:
        if project is not None:
            check_project(project)

        def go(conn: Connection) -> list[Sweep]:
            if project is None:
                rows = self._sweep_rows(conn, sweeps.c.id.is_not(None))
            else:
                pid = self._project_id(conn, project, create=False)
                if pid is None:
                    return []
                rows = self._sweep_rows(conn, sweeps.c.project_id == pid)
            return [_sweep_record(r, self._trials_of(conn, r["id"])) for r in rows]

        return self._read("listing sweeps", go)

    def sweep_trials(self, sweep_id: str) -> list[SweepTrial]:
        check_sweep_id(sweep_id)
        self._settle_dead_trials(sweep_id)

        def go(conn: Connection) -> list[SweepTrial]:
            if conn.execute(select(sweeps.c.id).where(sweeps.c.id == sweep_id)).first() is None:
                raise SweepNotFoundError(f"sweep {sweep_id!r} does not exist")
            return self._trials_of(conn, sweep_id)

        return self._read("reading a sweep's trials", go)

    def sweep_project(self, sweep_id: str) -> str:
        check_sweep_id(sweep_id)

        def go(conn: Connection) -> str:
            name = conn.execute(
                select(projects.c.name)
                .join(sweeps, sweeps.c.project_id == projects.c.id)
                .where(sweeps.c.id == sweep_id)
            ).scalar()
            if name is None:
                raise SweepNotFoundError(f"sweep {sweep_id!r} does not exist")
            return str(name)

        return self._read("reading a sweep", go)

    # -- the search (store side) ------------------------------------------------------------
    def sweep_ask(
        self, sweep_id: str, *, user: str, host: str, request_id: str | None = None
    ) -> SweepTrial | None:
        from ...sweeps.engine import engine_of

        check_sweep_id(sweep_id)
        _check_actor(user, "user")
        check_text(host, "host", 250)
        if request_id is not None and (
            not isinstance(request_id, str) or not 8 <= len(request_id) <= 64
        ):
            raise ValidationError("request_id must be a string of 8 to 64 characters")
        return engine_of(self).ask(sweep_id, user=user, host=host or "-", request_id=request_id)

    def sweep_report(self, sweep_id: str, run_id: str, step: int, value: float) -> bool:
        from ...sweeps.engine import engine_of

        check_sweep_id(sweep_id)
        check_existing_run_id(run_id)
        step = check_step(step)
        if isinstance(value, bool):  # as tell refuses it: True is no objective value
            raise ValidationError(f"objective value {value!r} is not a number")
        v = check_metric_value("objective", value)
        return engine_of(self).report(sweep_id, run_id, step, v)

    def sweep_tell(
        self,
        sweep_id: str,
        run_id: str,
        *,
        state: str = "complete",
        values: Sequence[float] | None = None,
        error: str | None = None,
    ) -> SweepTrial:
        from ...sweeps.engine import engine_of

        check_sweep_id(sweep_id)
        check_existing_run_id(run_id)
        if error is not None and not isinstance(error, str):
            raise ValidationError("error must be a string")
        if values is not None:
            if isinstance(values, str | bytes) or not isinstance(values, Sequence):
                raise ValidationError("values must be a list of numbers")
            for v in values:
                if isinstance(v, bool):  # as report refuses it: True is no objective value
                    raise ValidationError(f"objective value {v!r} is not a number")
            values = [check_metric_value("objective", v) for v in values]
        return engine_of(self).tell(sweep_id, run_id, state=state, values=values, error=error)

    def stop_sweep(self, sweep_id: str, *, reason: str | None = None) -> Sweep:
        from ...sweeps.engine import engine_of

        check_sweep_id(sweep_id)
        if reason is not None:
            check_text(reason, "reason", 1000)
        engine_of(self).stop(sweep_id, reason or "stopped by request")
        return self.get_sweep(sweep_id)

    def resume_sweep(
        self, sweep_id: str, *, trials: int | None = None, seconds: float | None = None
    ) -> Sweep:
        from ...sweeps.engine import engine_of
        from ...sweeps.spec import check_extension

        check_sweep_id(sweep_id)
        more, secs = check_extension(trials, seconds)
        engine_of(self).resume(sweep_id, trials=more, seconds=secs)
        return self.get_sweep(sweep_id)

    def sweep_analysis(self, sweep_id: str, *, importance: str = "ped_anova") -> dict[str, Any]:
        from ...sweeps.analysis import analyse

        sw = self.get_sweep(sweep_id)
        return analyse(sw, self.sweep_trials(sweep_id), importance=importance)


def _sweep_record(row: Mapping[str, Any], trials: Sequence[SweepTrial]) -> Sweep:
    from ...sweeps.records import best_trial, pareto_front

    spec = json.loads(row["spec"])
    counts: dict[str, int] = {}
    used = 0
    for t in trials:
        key = "warm" if t.warm else t.state
        counts[key] = counts.get(key, 0) + 1
        if not t.warm and t.state != "waiting" and not t.retried:
            used += 1
    goals = [m["goal"] for m in spec["metrics"]]
    best = best_trial(trials, goals[0]) if len(goals) == 1 else None
    front = tuple(pareto_front(trials, goals)) if len(goals) > 1 else ()
    return Sweep(
        id=row["id"],
        project=row["project"],
        name=row["name"],
        spec=FrozenMap(spec),
        status=row["status"],
        user=row["created_by"],
        created_at=utc_from_timestamp(row["created_at"]),  # type: ignore[arg-type]
        ended_at=utc_from_timestamp(row["ended_at"]),
        counts=counts,
        budget_used=used,
        best=best,
        pareto=front,
        stop_reason=row["stop_reason"],
    )
