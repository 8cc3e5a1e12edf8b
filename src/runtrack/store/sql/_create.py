"""Creating runs together with their first records, many runs per transaction.

A run that does not exist yet has no state to read back: its row, params, tags, metric
chunks and summaries, provenance, inputs, console and stream position are computed in
memory from the spec and the records, and each table gets one multi-row ``INSERT`` for
every run of the call. Creating a run with its data then costs a handful of statements
whether the call holds one run or five hundred (``runtrack sync`` of many offline runs,
a sweep's finished trials, a client's run and its first batch in one request).

Runs of the call that already exist (a retried call whose answer was lost, a sync that
already sent part of a run) take the ordinary write path: their batch is applied with
the stream's idempotency, so every record is stored once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.engine import Connection

from ... import configdoc
from ...entities import ArtifactSpec, MetricsRecord, NewRun, RunSpec, WriteResult
from ...errors import RunExistsError, RunNotFoundError, ValidationError
from ...validation import (
    check_existing_run_id,
    check_group,
    check_json,
    check_notes,
    check_project,
    check_run_id,
    check_run_name,
    check_stream,
    check_tags,
    check_timestamp,
)
from ..base import MAX_NEW_RUNS
from . import _downsample, _metrics
from ._params import param_rows
from ._records import EMPTY_METRICS, dumps, pack_metrics
from ._write import MAX_BATCH_RECORDS, RunState, apply_op, console_row, validate_records
from .schema import (
    metric_chunks,
    metric_summaries,
    run_console,
    run_inputs,
    run_params,
    run_provenance,
    run_streams,
    run_tags,
    runs,
)

_COPY_FROM = 8  # rows; fewer go through an ordinary INSERT

# built once: a statement's cache key is memoised on the object
_INSERT = {
    t.name: insert(t)
    for t in (runs, run_params, run_tags, run_provenance, run_inputs, run_console, run_streams)
}


Checked = tuple[dict[str, Any], dict[str, str]]  # a spec's config and tags, as stored


def check_spec(spec: RunSpec) -> Checked:
    """Everything a store refuses in a run spec; the config and tags to store."""
    if not isinstance(spec, RunSpec):
        raise ValidationError(f"expected a RunSpec, got {type(spec).__name__}")
    check_run_id(spec.id)
    check_project(spec.project)
    check_run_name(spec.name)
    tags = check_tags(spec.tags)
    check_notes(spec.notes)
    check_group(spec.group)
    check_timestamp(spec.start_time, "start_time")
    if spec.parent_id is not None:
        check_existing_run_id(spec.parent_id)
    config = dict(spec.config)
    check_json(config, "config")
    configdoc.flatten(config)  # validates the config's shape
    return config, tags


def check_new_runs(items: Sequence[NewRun]) -> list[Checked]:
    """Validate a whole call before anything is written; each spec's config and tags."""
    if not isinstance(items, Sequence) or isinstance(items, str | bytes):
        raise ValidationError("create_runs takes a list of NewRun")
    if len(items) > MAX_NEW_RUNS:
        raise ValidationError(f"at most {MAX_NEW_RUNS} runs per call")
    seen: set[str] = set()
    records = 0
    checked: list[Checked] = []
    for item in items:
        if not isinstance(item, NewRun):
            raise ValidationError(f"expected a NewRun, got {type(item).__name__}")
        checked.append(check_spec(item.spec))
        if item.spec.id in seen:
            raise ValidationError(f"run {item.spec.id!r} appears twice in one call")
        seen.add(item.spec.id)
        b = item.batch
        if b is None:
            continue
        if b.run_id != item.spec.id:
            raise ValidationError(
                f"the batch of run {item.spec.id!r} names run {b.run_id!r}; they must agree"
            )
        check_stream(b.stream)
        records += len(b.records)
        if records > MAX_BATCH_RECORDS:
            raise ValidationError(f"a call holds at most {MAX_BATCH_RECORDS} records")
        validate_records(b.records)
    return checked


@dataclass
class _Rows:
    """Rows of every new run of a call, by table, inserted together."""

    tables: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {name: [] for name in _INSERT}
    )
    chunks: list[dict[str, Any]] = field(default_factory=list)
    summaries: list[dict[str, Any]] = field(default_factory=list)
    artifacts: list[tuple[str, int, ArtifactSpec]] = field(default_factory=list)
    memo: _metrics.Memo = field(default_factory=_metrics.Memo)
    # the full chunks of each run, for their chart envelopes (when numpy is loaded)
    full: dict[str, list[_downsample.FullChunk]] = field(default_factory=dict)


def _new_run(
    rows: _Rows,
    item: NewRun,
    checked: Checked,
    project_id: int,
    now: float,
    console_max_bytes: int,
) -> WriteResult:
    spec = item.spec
    config, tags = checked
    state = RunState(
        project_id=project_id,
        config=config,
        tags=tags,
        summary={},
        provenance={},
        inputs=[],
        notes=spec.notes,
        status="running",
        end_time=None,
        error=None,
    )
    records = item.batch.records if item.batch is not None else ()
    metric_records: list[MetricsRecord] = []
    for rec in records:
        if isinstance(rec, MetricsRecord):
            metric_records.append(rec)
        else:
            apply_op(state, rec.op)
    rid = spec.id
    t = rows.tables
    metrics_blob = EMPTY_METRICS
    columns = _metrics.transpose(metric_records) if metric_records else {}
    if columns or state.summary:
        summaries = {
            k: _metrics.SummaryRow(k, False, None, None, None, None, 0, None, [], 0)
            for k in (*columns, *(k for k in state.summary if k not in columns))
        }
        plans, _ = _metrics.plan_append(columns, summaries)
        full: list[_downsample.FullChunk] | None = (
            rows.full.setdefault(rid, []) if _downsample.envelopes_at_write() else None
        )
        rows.chunks += _metrics.chunk_rows(rid, plans, summaries, {}, rows.memo, full=full)
        new, _ = _metrics.summary_rows(rid, project_id, summaries.values(), state.summary)
        rows.summaries += new
        metrics_blob = pack_metrics(
            {
                s.key: (s.last, s.min, s.max, s.count, s.last_step)
                for s in summaries.values()
                if s.count
            }
        )
    t["runs"].append(
        {
            "id": rid,
            "project_id": project_id,
            "name": spec.name,
            "status": state.status,
            "user": spec.user,
            "host": spec.host,
            "start_time": spec.start_time,
            "end_time": state.end_time,
            "heartbeat": now,
            "parent_id": spec.parent_id,
            "grp": spec.group,
            "notes": state.notes,
            "error": state.error,
            "config": dumps(state.config),
            "tags": dumps(state.tags),
            "metrics": metrics_blob,
            "summary": dumps(state.summary),
            "inputs": dumps(state.inputs),
        }
    )
    t["run_params"] += param_rows(rid, state.config)
    t["run_tags"] += [{"run_id": rid, "key": k, "value": v} for k, v in state.tags.items()]
    t["run_provenance"] += [
        {"run_id": rid, "section": k, "doc": dumps(v)} for k, v in state.provenance.items()
    ]
    t["run_inputs"] += list(
        {
            d.digest: {"run_id": rid, "digest": d.digest, "path": d.path} for d in state.new_inputs
        }.values()
    )
    if state.console:
        t["run_console"].append(console_row(rid, "".join(state.console), console_max_bytes))
    rows.artifacts += [(rid, project_id, a) for a in state.artifacts]
    if not records:
        return WriteResult(applied=0, skipped=0, position=0)
    last = records[-1].seq
    assert item.batch is not None
    t["run_streams"].append({"run_id": rid, "stream": item.batch.stream, "position": last})
    return WriteResult(applied=len(records), skipped=0, position=last)


def _insert(conn: Connection, table: Table, stmt: Any, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys). On PostgreSQL with ``COPY``: psycopg
    streams the rows in C, where an executemany pays Python overhead per row and per
    parameter (a run with 20 params, 5 tags and 10 metrics is ~50 rows)."""
    if not rows:
        return
    if conn.dialect.name != "postgresql" or len(rows) < _COPY_FROM:
        conn.execute(stmt, rows)
        return
    cols = list(rows[0])
    names = ", ".join(f'"{c}"' for c in cols)
    raw: Any = conn.connection.driver_connection  # psycopg's, in this transaction
    with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([row[c] for c in cols])


def create_runs(
    conn: Connection,
    items: Sequence[NewRun],
    checked: Sequence[Checked],
    *,
    now: float,
    console_max_bytes: int,
    project_id: Callable[[Connection, str], int],
    apply: Callable[[Connection, NewRun], WriteResult],
    log_artifact: Callable[[Connection, str, int, ArtifactSpec], object],
    strict: bool = False,
) -> list[WriteResult]:
    """Create the runs of ``items`` (``checked``: what ``check_new_runs`` returned for
    them) that do not exist and write every item's records, in the caller's transaction.
    An existing run in the same project is taken as this one (a retry) and its batch
    applied by ``apply``; with ``strict`` it is refused instead."""
    ids = [i.spec.id for i in items]
    existing: dict[str, int] = {}
    for k in range(0, len(ids), 400):
        q = select(runs.c.id, runs.c.project_id).where(runs.c.id.in_(ids[k : k + 400]))
        existing.update({r.id: r.project_id for r in conn.execute(q)})
    if strict and existing:
        raise RunExistsError(f"run {next(iter(existing))!r} already exists")
    parents = {
        i.spec.parent_id
        for i in items
        if i.spec.parent_id is not None and i.spec.parent_id not in existing
    } - set(ids)
    if parents:
        found = set(conn.scalars(select(runs.c.id).where(runs.c.id.in_(sorted(parents)))))
        missing = sorted(parents - found)
        if missing:
            raise RunNotFoundError(f"parent run {missing[0]!r} does not exist")
    pids: dict[str, int] = {}
    rows = _Rows()
    out: list[WriteResult | None] = []
    for item, item_checked in zip(items, checked, strict=True):
        name = item.spec.project
        pid = pids.get(name)
        if pid is None:
            pid = pids[name] = project_id(conn, name)
        have = existing.get(item.spec.id)
        if have is None:
            out.append(_new_run(rows, item, item_checked, pid, now, console_max_bytes))
        elif have != pid:
            raise RunExistsError(f"run {item.spec.id!r} already exists in another project")
        else:
            out.append(None)  # applied below, once the new runs exist
    for name, stmt in _INSERT.items():
        _insert(conn, stmt.table, stmt, rows.tables[name])  # type: ignore[arg-type]
    _insert(conn, metric_chunks, _metrics.INSERT_CHUNKS, rows.chunks)
    for rid, full in rows.full.items():
        if full:
            _downsample.write_envelopes(conn, rid, full)
    _insert(conn, metric_summaries, _metrics.INSERT_SUMMARIES, rows.summaries)
    for rid, pid, spec in rows.artifacts:
        log_artifact(conn, rid, pid, spec)
    results: list[WriteResult] = []
    for item, res in zip(items, out, strict=True):
        if res is None:
            res = apply(conn, item) if item.batch is not None else WriteResult(0, 0, 0)
        results.append(res)
    return results
