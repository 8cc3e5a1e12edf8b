"""Applying a ``RunBatch``: validate everything, then write it in one transaction.

The run's row is locked first (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's write
transaction is already exclusive), so two writers of one run serialise. The stream's
position is read under that lock and records at or below it are skipped: a batch
replayed from a journal, or retried after a lost answer, is stored exactly once.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from ... import configdoc
from ...entities import (
    ArtifactOp,
    ArtifactSpec,
    ConfigOp,
    ConsoleOp,
    DatasetInput,
    InputOp,
    MetricsRecord,
    NotesOp,
    OpRecord,
    ProvenanceOp,
    Record,
    RunBatch,
    StatusOp,
    SummaryOp,
    TagsOp,
    WriteResult,
)
from ...errors import RunNotFoundError, ValidationError
from ...validation import (
    MAX_STEP,
    check_existing_run_id,
    check_json,
    check_key,
    check_notes,
    check_status,
    check_step,
    check_stream,
    check_summary,
    check_tags,
    check_timestamp,
)
from . import _metrics
from ._params import param_rows
from ._records import dumps, loads, pack_metrics, unpack_metrics
from .schema import (
    run_console,
    run_inputs,
    run_params,
    run_provenance,
    run_streams,
    run_tags,
    runs,
)

MAX_BATCH_RECORDS = 1_000_000


@dataclass
class RunState:
    """The run's JSON documents, changed op by op, written back once."""

    project_id: int
    config: dict[str, Any]
    tags: dict[str, str]
    summary: dict[str, Any]
    provenance: dict[str, Any]  # sections changed by this batch only
    inputs: list[dict[str, Any]]
    notes: str | None
    status: str
    end_time: float | None
    error: str | None
    changed: set[str] = field(default_factory=set)
    new_tags: dict[str, str] = field(default_factory=dict)
    new_inputs: list[DatasetInput] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    artifacts: list[ArtifactSpec] = field(default_factory=list)


def validate_records(records: Sequence[Record]) -> None:
    """Everything a store refuses, checked before anything is written."""
    if len(records) > MAX_BATCH_RECORDS:
        raise ValidationError(f"a batch holds at most {MAX_BATCH_RECORDS} records")
    seen_keys: set[int] = set()
    last = 0
    for rec in records:
        if isinstance(rec.seq, bool) or not isinstance(rec.seq, int) or rec.seq <= last:
            raise ValidationError("record seq numbers must be increasing integers >= 1")
        last = rec.seq
        if isinstance(rec, MetricsRecord):
            _validate_metrics(rec, seen_keys)
        elif isinstance(rec, OpRecord):
            _validate_op(rec.op)
        else:
            raise ValidationError(f"unknown record type {type(rec).__name__}")


def _validate_metrics(rec: MetricsRecord, seen_keys: set[int]) -> None:
    step, t, keys, vals = rec.step, rec.time, rec.keys, rec.values
    if type(step) is not int or not 0 <= step <= MAX_STEP:
        check_step(step)
    if (type(t) is not float or t - t != 0.0) and (  # inf - inf and nan - nan are nan
        isinstance(t, bool) or not isinstance(t, float | int) or not math.isfinite(t)
    ):
        raise ValidationError(f"metric record time {t!r} must be a finite number")
    if id(keys) not in seen_keys:
        if not isinstance(keys, tuple) or not keys:
            raise ValidationError("a metric record needs a non-empty tuple of keys")
        for k in keys:
            check_key(k)
        if len(set(keys)) != len(keys):
            raise ValidationError("a metric record names a key twice")
        seen_keys.add(id(keys))
    if type(vals) is array and vals.typecode == "d" and len(vals) == len(keys):
        return
    if len(vals) != len(keys):
        raise ValidationError("a metric record has a different number of keys and values")
    for k, v in zip(keys, vals, strict=True):
        if type(v) is not float:
            raise ValidationError(f"metric {k!r} has value {v!r}; values must be floats")


def _validate_op(op: object) -> None:
    if isinstance(op, ConfigOp):
        if not isinstance(op.values, Mapping):
            raise ValidationError("a config op carries a dict")
        check_json(op.values, "config")
        configdoc.flatten(op.values)
    elif isinstance(op, SummaryOp):
        check_summary(op.values)
        check_json(op.values, "summary")
    elif isinstance(op, TagsOp):
        check_tags(op.tags)
    elif isinstance(op, NotesOp):
        check_notes(op.text)
    elif isinstance(op, StatusOp):
        check_status(op.status)
        check_timestamp(op.time, "the time of a status change")
    elif isinstance(op, ProvenanceOp):
        if not isinstance(op.data, Mapping) or not all(
            isinstance(k, str) and 0 < len(k) <= 64 for k in op.data
        ):
            raise ValidationError(
                "a provenance op carries a dict with section names of 1-64 characters"
            )
        check_json(op.data, "provenance")
    elif isinstance(op, InputOp):
        d = op.dataset
        if not isinstance(d, DatasetInput) or len(d.digest) != 64:
            raise ValidationError("an input op carries a dataset with a sha256 digest")
    elif isinstance(op, ConsoleOp):
        if not isinstance(op.text, str):
            raise ValidationError("a console op carries text")
    elif isinstance(op, ArtifactOp):
        if not isinstance(op.spec, ArtifactSpec):
            raise ValidationError("an artifact op carries an artifact spec")
    else:
        raise ValidationError(f"unknown op {type(op).__name__}")


def apply_batch(
    conn: Connection,
    batch: RunBatch,
    *,
    now: float,
    console_max_bytes: int,
    log_artifact: Callable[[Connection, str, int, ArtifactSpec], object],
) -> WriteResult:
    check_existing_run_id(batch.run_id)
    check_stream(batch.stream)
    row = conn.execute(
        select(
            runs.c.project_id,
            runs.c.config,
            runs.c.tags,
            runs.c.summary,
            runs.c.inputs,
            runs.c.notes,
            runs.c.status,
            runs.c.end_time,
            runs.c.error,
            runs.c.metrics,
        )
        .where(runs.c.id == batch.run_id)
        .with_for_update()
    ).first()
    if row is None:
        raise RunNotFoundError(f"run {batch.run_id!r} does not exist")
    sc = run_streams.c
    position = conn.execute(
        select(sc.position).where(sc.run_id == batch.run_id, sc.stream == batch.stream)
    ).scalar()
    had_position = position is not None
    position = int(position or 0)
    todo = [r for r in batch.records if r.seq > position]
    skipped = len(batch.records) - len(todo)
    if not todo:
        return WriteResult(applied=0, skipped=skipped, position=position)
    validate_records(todo)

    state = RunState(
        project_id=row.project_id,
        config=loads(row.config),
        tags=loads(row.tags),
        summary=loads(row.summary),
        provenance={},
        inputs=loads(row.inputs) or [],
        notes=row.notes,
        status=row.status,
        end_time=row.end_time,
        error=row.error,
    )
    metric_records: list[MetricsRecord] = []
    for rec in todo:
        if isinstance(rec, MetricsRecord):
            metric_records.append(rec)
        else:
            apply_op(state, rec.op)

    run_id = batch.run_id
    metrics_doc: dict[str, tuple[Any, ...]] = unpack_metrics(row.metrics)
    summary_keys = set(state.summary) if "summary" in state.changed else set()
    columns = _metrics.transpose(metric_records) if metric_records else {}
    if columns or summary_keys:
        summaries = _metrics.load_summaries(conn, run_id, set(columns) | summary_keys)
        if columns:
            _metrics.append(conn, run_id, columns, summaries)
        _metrics.save_summaries(conn, run_id, state.project_id, summaries.values(), state.summary)
        for s in summaries.values():
            if s.count:
                metrics_doc[s.key] = (s.last, s.min, s.max, s.count, s.last_step)
        state.changed.add("metrics")

    _write_state(conn, run_id, state, metrics_doc, now, console_max_bytes)
    for spec in state.artifacts:
        log_artifact(conn, run_id, state.project_id, spec)

    last = todo[-1].seq
    if had_position:
        conn.execute(
            update(run_streams)
            .where(sc.run_id == run_id, sc.stream == batch.stream)
            .values(position=last)
        )
    else:
        conn.execute(insert(run_streams).values(run_id=run_id, stream=batch.stream, position=last))
    return WriteResult(applied=len(todo), skipped=skipped, position=last)


def apply_op(state: RunState, op: object) -> None:
    if isinstance(op, ConfigOp):
        state.config = configdoc.merge(state.config, op.values)
        state.changed.add("config")
    elif isinstance(op, SummaryOp):
        state.summary.update(op.values)
        state.changed.add("summary")
    elif isinstance(op, TagsOp):
        tags = check_tags(op.tags)
        state.tags.update(tags)
        state.new_tags.update(tags)
        state.changed.add("tags")
    elif isinstance(op, NotesOp):
        state.notes = op.text
        state.changed.add("notes")
    elif isinstance(op, StatusOp):
        if op.status == "crashed" and state.status not in ("running", "crashed"):
            return  # a late crash report never overrides how a run really ended
        state.status = op.status
        if op.status == "running":
            state.end_time, state.error = None, None
        else:
            state.end_time, state.error = float(op.time), op.error
        state.changed.add("status")
    elif isinstance(op, ProvenanceOp):
        state.provenance.update(op.data)
        state.changed.add("provenance")
    elif isinstance(op, InputOp):
        doc = op.dataset.to_json()
        if doc not in state.inputs:
            state.inputs.append(doc)
            state.new_inputs.append(op.dataset)
            state.changed.add("inputs")
    elif isinstance(op, ConsoleOp):
        state.console.append(op.text)
    elif isinstance(op, ArtifactOp):
        state.artifacts.append(op.spec)


def _write_state(
    conn: Connection,
    run_id: str,
    state: RunState,
    metrics_doc: Mapping[str, Any],
    now: float,
    console_max_bytes: int,
) -> None:
    values: dict[str, Any] = {}
    ch = state.changed
    if "config" in ch:
        old = {
            r.key
            for r in conn.execute(select(run_params.c.key).where(run_params.c.run_id == run_id))
        }
        rows = [r for r in param_rows(run_id, state.config) if r["key"] not in old]
        if rows:
            conn.execute(insert(run_params), rows)
        values["config"] = dumps(state.config)
    if "tags" in ch:
        conn.execute(
            delete(run_tags).where(
                run_tags.c.run_id == run_id, run_tags.c.key.in_(list(state.new_tags))
            )
        )
        conn.execute(
            insert(run_tags),
            [{"run_id": run_id, "key": k, "value": v} for k, v in state.new_tags.items()],
        )
        values["tags"] = dumps(state.tags)
    if "summary" in ch:
        values["summary"] = dumps(state.summary)
    if "metrics" in ch:
        values["metrics"] = pack_metrics(metrics_doc)
    if "provenance" in ch:
        pv = run_provenance.c
        sections = list(state.provenance)
        conn.execute(delete(run_provenance).where(pv.run_id == run_id, pv.section.in_(sections)))
        conn.execute(
            insert(run_provenance),
            [
                {"run_id": run_id, "section": k, "doc": dumps(v)}
                for k, v in state.provenance.items()
            ],
        )
    if "notes" in ch:
        values["notes"] = state.notes
    if "inputs" in ch:
        values["inputs"] = dumps(state.inputs)
        have = {
            r.digest
            for r in conn.execute(select(run_inputs.c.digest).where(run_inputs.c.run_id == run_id))
        }
        rows_in = {
            d.digest: {"run_id": run_id, "digest": d.digest, "path": d.path}
            for d in state.new_inputs
            if d.digest not in have
        }
        if rows_in:
            conn.execute(insert(run_inputs), list(rows_in.values()))
    if "status" in ch:
        values.update(status=state.status, end_time=state.end_time, error=state.error)
        if state.status == "running":
            values["heartbeat"] = now
    if values:
        conn.execute(update(runs).where(runs.c.id == run_id).values(**values))
    if state.console:
        _append_console(conn, run_id, "".join(state.console), console_max_bytes)


def console_row(
    run_id: str, text: str, cap: int, size: int = 0, dropped: int = 0
) -> dict[str, Any]:
    """The console row after appending ``text`` to ``size`` bytes kept so far: what does
    not fit under ``cap`` is counted as dropped."""
    data = text.encode("utf-8", "replace")
    keep = data[: max(cap - size, 0)].decode("utf-8", "ignore")
    kept = len(keep.encode("utf-8"))
    return {
        "run_id": run_id,
        "text": keep,
        "size": size + kept,
        "dropped": dropped + len(data) - kept,
    }


def _append_console(conn: Connection, run_id: str, text: str, cap: int) -> None:
    c = run_console.c
    row = conn.execute(select(c.size, c.dropped).where(c.run_id == run_id)).first()
    if row is None:
        conn.execute(insert(run_console).values(**console_row(run_id, text, cap)))
        return
    new = console_row(run_id, text, cap, row.size, row.dropped)
    if new["size"] != row.size or new["dropped"] != row.dropped:
        conn.execute(
            update(run_console)
            .where(c.run_id == run_id)
            .values(text=c.text + new["text"], size=new["size"], dropped=new["dropped"])
        )
