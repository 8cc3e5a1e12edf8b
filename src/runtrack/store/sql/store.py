"""``SqlStore``: the ``TrackingStore`` contract on SQLite or PostgreSQL (SQLAlchemy Core).

Durability: a method returns after its transaction committed. On SQLite (WAL,
``synchronous=NORMAL``) a commit survives a crash of the process; the last commits may be
lost on power failure. On PostgreSQL a commit is durable.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Engine, func, select, update
from sqlalchemy import exc as sqlalchemy_exc
from sqlalchemy.engine import Connection

from ..._bulk import bulk_objects
from ...entities import (
    ArtifactFile,
    ArtifactSpec,
    ArtifactVersion,
    FrozenMap,
    MetricSeries,
    MetricsMap,
    NewRun,
    Project,
    RunBatch,
    RunRecord,
    RunSpec,
    WriteResult,
    utc_from_timestamp,
)
from ...errors import (
    ProjectNotFoundError,
    RunNotFoundError,
    StoreError,
    ValidationError,
)
from ...validation import (
    check_existing_run_id,
    check_project,
    check_stream,
)
from .. import base
from ..downsample import DownsampledSeries, XAxis
from . import _artifacts, _gc, _metrics, _query
from ._analyze import Analyzer
from ._catalog import CatalogMethods
from ._create import Checked, check_new_runs, check_spec, create_runs
from ._engine import (
    DatabaseClock,
    insert_if_absent,
    is_sqlite,
    make_engine,
    translate_errors,
    with_retries,
)
from ._migrate import ensure_schema
from ._records import (
    RUN_COLUMNS,
    loads,
    outputs_of,
    project_names,
    to_record,
)
from ._sweeps import SweepMethods
from ._write import apply_batch
from .schema import (
    projects,
    run_console,
    run_outputs,
    run_provenance,
    run_streams,
    runs,
)

T = TypeVar("T")


class SqlStore(CatalogMethods, SweepMethods, base.TrackingStore):
    """Runs in a SQL database. ``url``: ``sqlite:///path`` or ``postgresql://...``.

    ``crash_after``: seconds without a heartbeat after which a running run is crashed,
    judged by the database's clock on PostgreSQL (shared by servers on several machines)
    and the local clock on SQLite. ``auto_upgrade``: migrate an outdated schema on open (the
    embedded default does; a shared server database should be upgraded explicitly with
    ``runtrack db upgrade``). ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        url: str,
        *,
        crash_after: float = 90.0,
        auto_upgrade: bool = False,
        console_max_bytes: int = 10_000_000,
        clock: Callable[[], float] | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.url = url
        self.crash_after = crash_after
        self.console_max_bytes = console_max_bytes
        with translate_errors(f"opening {url}"):
            self.engine = engine or make_engine(url)
            ensure_schema(self.engine, auto_upgrade=auto_upgrade)
        self._sqlite = is_sqlite(self.engine)
        if clock is None:  # PostgreSQL may be shared by servers on several machines
            clock = time.time if self._sqlite else DatabaseClock(self.engine)
        self._clock = clock
        self._last_sweep = float("-inf")
        self._id_of_project: dict[str, int] = {}
        self._analyzer = None if self._sqlite else Analyzer(self.engine)

    @property
    def concurrent_writers(self) -> int:
        """How many write transactions can usefully run at once: 1 on SQLite (one
        writer at a time), a few on PostgreSQL."""
        return 1 if self._sqlite else 4

    def __repr__(self) -> str:
        return f"SqlStore({self.engine.url.render_as_string(hide_password=True)!r})"

    # -- transactions ------------------------------------------------------------------
    def _write(self, what: str, fn: Callable[[Connection], T]) -> T:
        def tx() -> T:
            with self.engine.connect() as conn:
                if self._sqlite:
                    conn = conn.execution_options(sqlite_begin="IMMEDIATE")
                with conn.begin():
                    return fn(conn)

        return with_retries(tx, what=what)

    def _read(self, what: str, fn: Callable[[Connection], T]) -> T:
        def tx() -> T:
            with self.engine.connect() as conn, conn.begin():
                return fn(conn)

        return with_retries(tx, what=what)

    # -- projects ----------------------------------------------------------------------
    def list_projects(self) -> list[Project]:
        def go(conn: Connection) -> list[Project]:
            counts: dict[int, int] = {
                r[0]: r[1]
                for r in conn.execute(
                    select(runs.c.project_id, func.count()).group_by(runs.c.project_id)
                )
            }
            rows = conn.execute(select(projects).order_by(projects.c.name))
            return [
                Project(
                    r.name,
                    utc_from_timestamp(r.created_at),  # type: ignore[arg-type]
                    counts.get(r.id, 0),
                )
                for r in rows
            ]

        return self._read("listing projects", go)

    def get_project(self, name: str) -> Project:
        check_project(name)

        def go(conn: Connection) -> Project:
            r = conn.execute(select(projects).where(projects.c.name == name)).first()
            if r is None:
                raise ProjectNotFoundError(f"project {name!r} does not exist")
            n = conn.execute(
                select(func.count()).select_from(runs).where(runs.c.project_id == r.id)
            ).scalar_one()
            return Project(r.name, utc_from_timestamp(r.created_at), n)  # type: ignore[arg-type]

        return self._read("reading a project", go)

    def _project_id(self, conn: Connection, name: str, create: bool) -> int | None:
        """A project's id. Ids read from the database are remembered (a project is never
        deleted or renamed); one inserted by this transaction is not, as it may roll back."""
        pid = self._id_of_project.get(name)
        if pid is not None:
            return pid
        pid = conn.execute(select(projects.c.id).where(projects.c.name == name)).scalar()
        if pid is not None:
            if len(self._id_of_project) > 10_000:
                self._id_of_project.clear()
            self._id_of_project[name] = pid = int(pid)
            return pid
        if not create:
            return None
        return insert_if_absent(
            conn, projects, {"name": name, "created_at": self._clock()}, ("name",)
        )

    # -- runs: writes ------------------------------------------------------------------
    def create_run(self, spec: RunSpec) -> RunRecord:
        checked = [check_spec(spec)]
        config, tags = checked[0]

        def go(conn: Connection) -> float:
            now = self._clock()
            self._create_tx(conn, [NewRun(spec)], checked, strict=True, now=now)
            return now

        now = self._write("creating a run", go)
        if self._analyzer is not None:
            self._analyzer.created(1)
        return RunRecord(  # what was just written; no need to read it back
            id=spec.id,
            project=spec.project,
            name=spec.name,
            status="running",
            user=spec.user,
            host=spec.host,
            start_time=utc_from_timestamp(spec.start_time),  # type: ignore[arg-type]
            end_time=None,
            heartbeat_time=utc_from_timestamp(now),
            parent_id=spec.parent_id,
            group=spec.group,
            notes=spec.notes,
            error=None,
            tags=FrozenMap(tags),
            config=FrozenMap(config),
            metrics=MetricsMap({}),
            summary=FrozenMap(),
            provenance=FrozenMap(),
        )

    def create_runs(self, runs: Sequence[NewRun]) -> list[WriteResult]:
        checked = check_new_runs(runs)
        if not runs:
            return []

        def go(conn: Connection) -> list[WriteResult]:
            return self._create_tx(conn, runs, checked, strict=False, now=self._clock())

        try:
            out = self._write("creating runs", go)
        except StoreError as e:
            if not isinstance(e.__cause__, sqlalchemy_exc.IntegrityError):
                raise
            # another writer created one of these runs meanwhile: now it exists, and its
            # records take the idempotent path
            out = self._write("creating runs", go)
        if self._analyzer is not None:
            self._analyzer.created(len(runs))
        return out

    def _create_tx(
        self,
        conn: Connection,
        items: Sequence[NewRun],
        checked: Sequence[Checked],
        *,
        strict: bool,
        now: float,
    ) -> list[WriteResult]:
        def project_id(c: Connection, name: str) -> int:
            pid = self._project_id(c, name, create=True)
            assert pid is not None
            return pid

        def apply(c: Connection, item: NewRun) -> WriteResult:
            assert item.batch is not None
            return apply_batch(
                c,
                item.batch,
                now=now,
                console_max_bytes=self.console_max_bytes,
                log_artifact=self._log_artifact_tx,
            )

        return create_runs(
            conn,
            items,
            checked,
            now=now,
            console_max_bytes=self.console_max_bytes,
            project_id=project_id,
            apply=apply,
            log_artifact=self._log_artifact_tx,
            strict=strict,
        )

    def write(self, batch: RunBatch) -> WriteResult:
        return self._write("writing to a run", lambda conn: self._apply_tx(conn, batch))

    def _apply_tx(self, conn: Connection, batch: RunBatch) -> WriteResult:
        return apply_batch(
            conn,
            batch,
            now=self._clock(),
            console_max_bytes=self.console_max_bytes,
            log_artifact=self._log_artifact_tx,
        )

    def stream_position(self, run_id: str, stream: str) -> int:
        check_existing_run_id(run_id)
        check_stream(stream)
        sc = run_streams.c

        def go(conn: Connection) -> int:
            if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                raise RunNotFoundError(f"run {run_id!r} does not exist")
            pos = conn.execute(
                select(sc.position).where(sc.run_id == run_id, sc.stream == stream)
            ).scalar()
            return int(pos or 0)

        return self._read("reading a stream position", go)

    def heartbeat(self, run_id: str) -> None:
        check_existing_run_id(run_id)

        def go(conn: Connection) -> None:
            now = self._clock()
            row = conn.execute(select(runs.c.status).where(runs.c.id == run_id)).first()
            if row is None:
                raise RunNotFoundError(f"run {run_id!r} does not exist")
            values: dict[str, Any] = {"heartbeat": now}
            if row.status == "crashed":
                values.update(status="running", end_time=None, error=None)
            if row.status in ("running", "crashed"):
                conn.execute(update(runs).where(runs.c.id == run_id).values(**values))

        self._write("recording a heartbeat", go)

    def mark_stale_runs_crashed(self) -> list[str]:
        def find(conn: Connection) -> list[str]:
            cutoff = self._clock() - self.crash_after
            return list(
                conn.execute(
                    select(runs.c.id).where(runs.c.status == "running", runs.c.heartbeat < cutoff)
                ).scalars()
            )

        if not self._read("finding stale runs", find):
            return []

        def go(conn: Connection) -> list[str]:
            cutoff = self._clock() - self.crash_after
            stale = conn.execute(
                select(runs.c.id, runs.c.heartbeat).where(
                    runs.c.status == "running", runs.c.heartbeat < cutoff
                )
            ).all()
            for r in stale:
                conn.execute(
                    update(runs)
                    .where(runs.c.id == r.id, runs.c.status == "running")
                    .values(
                        status="crashed",
                        end_time=r.heartbeat,
                        error=f"no heartbeat for more than {self.crash_after:g} s; "
                        "the process ended without finishing the run",
                    )
                )
            return [r.id for r in stale]

        return self._write("marking crashed runs", go)

    def _sweep_stale(self) -> None:
        """Before a read: persist ``crashed`` for runs gone silent. Runs at most every
        ``crash_after / 4`` seconds (capped at 1 s) per store object: a run is crashed
        ``crash_after`` seconds after its last beat, give or take that much."""
        now = self._clock()
        if now - self._last_sweep >= min(1.0, self.crash_after / 4):
            self._last_sweep = now
            self.mark_stale_runs_crashed()

    def _has_outputs(self, conn: Connection) -> bool:
        return conn.execute(select(run_outputs.c.run_id).limit(1)).first() is not None

    # -- runs: reads -------------------------------------------------------------------
    def _get(self, conn: Connection, run_id: str) -> RunRecord:
        row = conn.execute(select(*RUN_COLUMNS).where(runs.c.id == run_id)).first()
        if row is None:
            raise RunNotFoundError(f"run {run_id!r} does not exist")
        name = conn.execute(
            select(projects.c.name).where(projects.c.id == row.project_id)
        ).scalar_one()
        outputs = outputs_of(conn, [run_id], {row.project_id: name}).get(run_id, ())
        pv = run_provenance.c
        provenance = {
            r.section: loads(r.doc)
            for r in conn.execute(
                select(pv.section, pv.doc).where(pv.run_id == run_id).order_by(pv.section)
            )
        }
        record = to_record(row, name, outputs, provenance)
        used = _artifacts.used_by(conn, [run_id]).get(run_id)
        return record if used is None else dataclasses.replace(record, used=used)

    def get_run(self, run_id: str) -> RunRecord:
        check_existing_run_id(run_id)
        self._sweep_stale()
        return self._read("reading a run", lambda conn: self._get(conn, run_id))

    def run_project(self, run_id: str) -> str:
        check_existing_run_id(run_id)

        def go(conn: Connection) -> str:
            name = conn.execute(
                select(projects.c.name)
                .select_from(runs.join(projects, projects.c.id == runs.c.project_id))
                .where(runs.c.id == run_id)
            ).scalar()
            if name is None:
                raise RunNotFoundError(f"run {run_id!r} does not exist")
            return str(name)

        return self._read("reading a run's project", go)

    def _project_ids(
        self, conn: Connection, project: str | Sequence[str] | None
    ) -> int | list[int] | None:
        """None: all projects; else the ids of those that exist (maybe none)."""
        if project is None:
            return None
        if isinstance(project, str):
            pid = self._project_id(conn, project, create=False)
            return [] if pid is None else pid
        names = list(project)
        if not names:
            return []
        return list(conn.execute(select(projects.c.id).where(projects.c.name.in_(names))).scalars())

    def search_runs(
        self,
        project: str | Sequence[str] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] = (),
        limit: int | None = None,
        offset: int = 0,
    ) -> list[RunRecord]:
        _check_page(limit, offset)
        _check_projects(project)
        self._sweep_stale()

        def go(conn: Connection) -> list[RunRecord]:
            pid = self._project_ids(conn, project)
            q = _query.select_runs(
                RUN_COLUMNS,
                project_id=pid,
                filter=filter,
                order_by=order_by,
                limit=limit,
                offset=offset,
                now=self._clock(),
            )
            if pid == []:
                return []
            with bulk_objects():  # 100,000 records: no collector passes over them
                rows = conn.execute(q).all()
                names = project_names(conn)
                ids = None if len(rows) > 2000 else [r.id for r in rows]
                outputs = outputs_of(conn, ids, names) if self._has_outputs(conn) else {}
                return [to_record(r, names[r.project_id], outputs.get(r.id, ())) for r in rows]

        return self._read("searching runs", go)

    def count_runs(
        self, project: str | Sequence[str] | None = None, filter: str | None = None
    ) -> int:
        _check_projects(project)
        self._sweep_stale()

        def go(conn: Connection) -> int:
            pid = self._project_ids(conn, project)
            q = _query.count_runs(project_id=pid, filter=filter, now=self._clock())
            if pid == []:
                return 0
            return int(conn.execute(q).scalar_one())

        return self._read("counting runs", go)

    def get_history(
        self, run_id: str, keys: Sequence[str] | None = None
    ) -> dict[str, MetricSeries]:
        check_existing_run_id(run_id)
        if isinstance(keys, str):
            keys = [keys]

        def go(conn: Connection) -> dict[str, MetricSeries]:
            if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                raise RunNotFoundError(f"run {run_id!r} does not exist")
            return _metrics.read_history(conn, run_id, keys)

        return self._read("reading metric history", go)

    def get_history_downsampled(
        self,
        run_id: str,
        keys: Sequence[str],
        points: int = 2000,
        x: XAxis = "step",
        start: float | None = None,
        end: float | None = None,
    ) -> dict[str, DownsampledSeries]:
        """From per-chunk envelopes, cached by this store and kept in the database
        (``_downsample``)."""
        from ..downsample import check_points
        from ._downsample import EnvelopeCache, Unsaved, read_downsampled, save_envelopes

        check_existing_run_id(run_id)
        check_points(points)
        cache = self.__dict__.get("_envelopes")
        if cache is None:
            cache = self.__dict__.setdefault("_envelopes", EnvelopeCache())

        unsaved = Unsaved()  # what to keep in the database after the read

        def go(conn: Connection) -> dict[str, DownsampledSeries]:
            unsaved.clear()
            if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                raise RunNotFoundError(f"run {run_id!r} does not exist")
            return read_downsampled(conn, run_id, keys, points, x, start, end, cache, unsaved)

        out = self._read("reading metric history", go)
        save_envelopes(self.engine, unsaved)
        return out

    def get_console(self, run_id: str) -> str:
        check_existing_run_id(run_id)

        def go(conn: Connection) -> str:
            if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                raise RunNotFoundError(f"run {run_id!r} does not exist")
            row = conn.execute(
                select(run_console.c.text, run_console.c.dropped).where(
                    run_console.c.run_id == run_id
                )
            ).first()
            if row is None:
                return ""
            tail = (
                f"\n[runtrack: {row.dropped} bytes of output not stored]\n" if row.dropped else ""
            )
            return str(row.text) + tail

        return self._read("reading the console log", go)

    # -- artifacts ---------------------------------------------------------------------
    def _log_artifact_tx(
        self, conn: Connection, run_id: str, project_id: int, spec: ArtifactSpec
    ) -> ArtifactVersion:
        name = conn.execute(select(projects.c.name).where(projects.c.id == project_id)).scalar_one()
        return _artifacts.log_version(conn, run_id, project_id, name, spec, self._clock())

    def log_artifact(self, run_id: str, spec: ArtifactSpec) -> ArtifactVersion:
        check_existing_run_id(run_id)
        _artifacts.validate_spec(spec)

        def go(conn: Connection) -> ArtifactVersion:
            pid = conn.execute(
                select(runs.c.project_id).where(runs.c.id == run_id).with_for_update()
            ).scalar()
            if pid is None:
                raise RunNotFoundError(f"run {run_id!r} does not exist")
            return self._log_artifact_tx(conn, run_id, int(pid), spec)

        return self._write("recording an artifact", go)

    def get_artifact_version(self, project: str, ref: str) -> ArtifactVersion:
        check_project(project)
        _artifacts.parse_ref(ref)
        return self._read(
            "reading an artifact",
            lambda conn: _artifacts.get_version(
                conn, self._project_id(conn, project, create=False), project, ref
            ),
        )

    def get_artifact_files(self, project: str, ref: str) -> tuple[ArtifactFile, ...]:
        check_project(project)
        _artifacts.parse_ref(ref)
        return self._read(
            "reading an artifact manifest",
            lambda conn: _artifacts.get_files(
                conn, self._project_id(conn, project, create=False), project, ref
            ),
        )

    def referenced_digests(self) -> set[str]:
        return self._read("listing referenced blobs", _artifacts.referenced_digests)

    # -- gc rounds (the protocol: runtrack.store.gc) -----------------------------------
    def referenced_among(self, digests: Iterable[str]) -> set[str]:
        return self._read("finding referenced blobs", lambda c: _gc.referenced_among(c, digests))

    def begin_gc_round(self, lease: float) -> int:
        return self._write("beginning a gc round", lambda c: _gc.begin(c, self._clock(), lease))

    def renew_gc_round(self, round_id: int, lease: float) -> None:
        self._write("renewing a gc round", lambda c: _gc.renew(c, round_id, self._clock(), lease))

    def finish_gc_round(self, round_id: int) -> None:
        self._write("finishing a gc round", lambda c: _gc.finish(c, round_id, self._clock()))

    def gc_mark(self) -> int | None:
        return self._read("reading gc rounds", lambda c: _gc.mark(c, self._clock()))

    def wait_for_gc_rounds(self, since: int | None = None) -> bool:
        return _gc.wait(self._read, self._clock, since)

    def close(self) -> None:
        self.engine.dispose()


def _check_projects(project: object) -> None:
    if project is None:
        return
    if isinstance(project, str):
        check_project(project)
        return
    if not isinstance(project, list | tuple):
        raise ValidationError("project must be a name, a list of names or None")
    for name in project:
        check_project(name)


def _check_page(limit: int | None, offset: int) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValidationError(f"limit {limit!r} must be an integer >= 0 or None")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValidationError(f"offset {offset!r} must be an integer >= 0")
