"""The wire contract: ops, batches and records as plain data (dicts, lists, bytes).

Ops are used by the journal (on disk) and everything by the REST store and the server
(over HTTP, packed with msgpack; JSON for browsers via :func:`jsonable`), so one encoding
is tested once. Decoding validates the shape and raises ``ValidationError`` naming the
problem: a decoder may face an untrusted peer. Standard library only.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from .entities import (
    ArtifactFile,
    ArtifactOp,
    ArtifactSpec,
    ArtifactVersion,
    ConfigOp,
    ConsoleOp,
    DatasetInput,
    FrozenMap,
    InputOp,
    MetricSeries,
    MetricsMap,
    MetricsRecord,
    NewRun,
    NotesOp,
    Op,
    OpRecord,
    Project,
    ProvenanceOp,
    Record,
    RunBatch,
    RunRecord,
    RunSpec,
    StatusOp,
    SummaryOp,
    TagsOp,
    utc_from_timestamp,
)
from .errors import ValidationError

_LITTLE = sys.byteorder == "little"


def spec_to_json(spec: ArtifactSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "type": spec.type,
        "digest": spec.digest,
        "metadata": dict(spec.metadata),
        "aliases": list(spec.aliases),
        "files": [[f.path, f.digest, f.size] for f in spec.files],
    }


def spec_from_json(d: Mapping[str, Any]) -> ArtifactSpec:
    try:
        files = tuple(ArtifactFile(str(p), str(g), int(s)) for p, g, s in d["files"])
        return ArtifactSpec(
            name=d["name"],
            type=d["type"],
            files=files,
            digest=d["digest"],
            metadata=dict(d.get("metadata") or {}),
            aliases=tuple(d.get("aliases") or ()),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationError(f"malformed artifact spec: {exc!r}") from None


def op_to_json(op: Op) -> dict[str, Any]:
    kind = op.KIND
    if isinstance(op, ConfigOp | SummaryOp):
        return {"kind": kind, "values": dict(op.values)}
    if isinstance(op, TagsOp):
        return {"kind": kind, "tags": dict(op.tags)}
    if isinstance(op, NotesOp | ConsoleOp):
        return {"kind": kind, "text": op.text}
    if isinstance(op, StatusOp):
        return {"kind": kind, "status": op.status, "time": op.time, "error": op.error}
    if isinstance(op, ProvenanceOp):
        return {"kind": kind, "data": dict(op.data)}
    if isinstance(op, InputOp):
        return {"kind": kind, "dataset": op.dataset.to_json()}
    if isinstance(op, ArtifactOp):
        return {"kind": kind, "spec": spec_to_json(op.spec)}
    raise ValidationError(f"unknown op {type(op).__name__}")


def op_from_json(d: Any) -> Op:
    if not isinstance(d, Mapping) or not isinstance(d.get("kind"), str):
        raise ValidationError("an op must be an object with a 'kind'")
    kind = d["kind"]
    try:
        if kind == "config":
            return ConfigOp(_mapping(d["values"]))
        if kind == "summary":
            return SummaryOp(_mapping(d["values"]))
        if kind == "tags":
            return TagsOp(_mapping(d["tags"]))
        if kind == "notes":
            return NotesOp(d["text"])
        if kind == "console":
            return ConsoleOp(d["text"])
        if kind == "status":
            return StatusOp(d["status"], float(d["time"]), d.get("error"))
        if kind == "provenance":
            return ProvenanceOp(_mapping(d["data"]))
        if kind == "input":
            return InputOp(DatasetInput.from_json(_mapping(d["dataset"])))
        if kind == "artifact":
            return ArtifactOp(spec_from_json(_mapping(d["spec"])))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationError(f"malformed {kind!r} op: {exc!r}") from None
    raise ValidationError(f"unknown op kind {kind!r}")


def _mapping(v: Any) -> dict[str, Any]:
    if not isinstance(v, Mapping):
        raise TypeError(f"expected an object, got {type(v).__name__}")
    return dict(v)


# --------------------------------------------------------------------------------------
# Batches: what RestStore sends to POST /api/v1/runs/{id}/batches (as msgpack)
# --------------------------------------------------------------------------------------
_MAX_KEYSETS = 10_000


def batch_to_wire(batch: RunBatch) -> dict[str, Any]:
    """Compact form: each distinct key tuple once; metric values as little-endian float64
    bytes; ops as their JSON dicts.

    ``{"stream": s, "keysets": [[k, ...], ...], "records": [[0, seq, step, time, ks,
    values], [1, seq, op], ...]}``
    """
    keysets: dict[tuple[str, ...], int] = {}
    records: list[list[Any]] = []
    for rec in batch.records:
        if isinstance(rec, MetricsRecord):
            ks = keysets.get(rec.keys)
            if ks is None:
                ks = keysets[rec.keys] = len(keysets)
            vals = rec.values
            raw = vals.tobytes() if isinstance(vals, array) and _LITTLE else _f64(vals)
            records.append([0, rec.seq, rec.step, rec.time, ks, raw])
        else:
            records.append([1, rec.seq, op_to_json(rec.op)])
    return {"stream": batch.stream, "keysets": [list(k) for k in keysets], "records": records}


def batch_from_wire(run_id: str, d: Any, *, max_records: int) -> RunBatch:
    """Decode (and check the shape of) a batch from an untrusted peer."""
    if not isinstance(d, Mapping):
        raise ValidationError("a batch is an object with 'stream', 'keysets' and 'records'")
    stream, keysets_in, records_in = d.get("stream"), d.get("keysets"), d.get("records")
    if (
        not isinstance(stream, str)
        or not isinstance(keysets_in, list)
        or not isinstance(records_in, list)
    ):
        raise ValidationError("a batch needs 'stream' (string), 'keysets' and 'records' (lists)")
    if len(records_in) > max_records:
        raise ValidationError(f"a batch holds at most {max_records} records")
    if len(keysets_in) > _MAX_KEYSETS:
        raise ValidationError(f"a batch holds at most {_MAX_KEYSETS} key sets")
    keysets: list[tuple[str, ...]] = []
    for ks in keysets_in:
        if not isinstance(ks, list) or not all(isinstance(k, str) for k in ks):
            raise ValidationError("each key set is a list of strings")
        keysets.append(tuple(ks))
    records: list[Record] = []
    for rec in records_in:
        if not isinstance(rec, list) or not rec:
            raise ValidationError("each record is a list")
        try:
            if rec[0] == 0:
                _, seq, step, t, ks, raw = rec
                if not isinstance(raw, bytes) or len(raw) % 8:
                    raise ValidationError("metric values are float64 bytes")
                vals = array("d")
                vals.frombytes(raw)
                if not _LITTLE:
                    vals.byteswap()
                keys = keysets[ks] if isinstance(ks, int) and 0 <= ks < len(keysets) else None
                if keys is None:
                    raise ValidationError(f"record names key set {ks!r}, which is not in the batch")
                time = float(t) if isinstance(t, int | float) and not isinstance(t, bool) else t
                records.append(MetricsRecord(seq, step, time, keys, vals))
            elif rec[0] == 1:
                _, seq, op = rec
                records.append(OpRecord(seq, op_from_json(op)))
            else:
                raise ValidationError(f"unknown record type {rec[0]!r}")
        except (ValueError, TypeError) as exc:
            if isinstance(exc, ValidationError):
                raise
            raise ValidationError(f"malformed record: {exc}") from None
    return RunBatch(run_id, stream, tuple(records))


def new_runs_to_wire(items: Sequence[NewRun]) -> dict[str, Any]:
    """``{"runs": [{"spec": {...}, "batch": <batch_to_wire> | null}, ...]}``"""
    return {
        "runs": [
            {
                "spec": i.spec.to_json(),
                "batch": None if i.batch is None else batch_to_wire(i.batch),
            }
            for i in items
        ]
    }


def new_runs_from_wire(d: Any, *, max_runs: int, max_records: int) -> list[NewRun]:
    """Decode (and check the shape of) a bulk creation from an untrusted peer."""
    items = d.get("runs") if isinstance(d, Mapping) else None
    if not isinstance(items, list) or set(d) != {"runs"}:
        raise ValidationError('a bulk creation is {"runs": [{"spec": ..., "batch": ...}, ...]}')
    if len(items) > max_runs:
        raise ValidationError(f"at most {max_runs} runs per request")
    out: list[NewRun] = []
    records = 0
    for item in items:
        if not isinstance(item, Mapping) or not set(item) <= {"spec", "batch"}:
            raise ValidationError('each run is {"spec": {...}, "batch": {...} or null}')
        spec = spec_run_from_wire(item.get("spec"))
        raw = item.get("batch")
        batch = None
        if raw is not None:
            batch = batch_from_wire(spec.id, raw, max_records=max_records)
            records += len(batch.records)
            if records > max_records:
                raise ValidationError(f"a bulk creation holds at most {max_records} records")
        out.append(NewRun(spec, batch))
    return out


def _f64(values: Any) -> bytes:
    a = array("d", values)
    if not _LITTLE:
        a.byteswap()
    return a.tobytes()


# --------------------------------------------------------------------------------------
# Records the API returns (msgpack for RestStore, JSON for browsers)
# --------------------------------------------------------------------------------------
def spec_run_to_wire(spec: RunSpec) -> dict[str, Any]:
    return spec.to_json()


def spec_run_from_wire(d: Any) -> RunSpec:
    if not isinstance(d, Mapping):
        raise ValidationError("a run spec is an object")
    try:
        return RunSpec.from_json(d)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationError(f"malformed run spec: {exc!r}") from None


def project_to_wire(p: Project) -> dict[str, Any]:
    return {"name": p.name, "created_at": p.created_at.timestamp(), "run_count": p.run_count}


def project_from_wire(d: Mapping[str, Any]) -> Project:
    return Project(d["name"], utc_from_timestamp(d["created_at"]), d["run_count"])  # type: ignore[arg-type]


def version_to_wire(v: ArtifactVersion) -> dict[str, Any]:
    return {
        "project": v.project,
        "name": v.name,
        "type": v.type,
        "version": v.version,
        "index": v.index,
        "digest": v.digest,
        "size": v.size,
        "file_count": v.file_count,
        "created_by": v.created_by,
        "created_at": v.created_at.timestamp(),
        "aliases": list(v.aliases),
        "metadata": dict(v.metadata),
    }


def version_from_wire(d: Mapping[str, Any]) -> ArtifactVersion:
    return ArtifactVersion(
        project=d["project"],
        name=d["name"],
        type=d["type"],
        version=d["version"],
        index=d["index"],
        digest=d["digest"],
        size=d["size"],
        file_count=d["file_count"],
        created_by=d["created_by"],
        created_at=utc_from_timestamp(d["created_at"]),  # type: ignore[arg-type]
        aliases=tuple(d["aliases"]),
        metadata=FrozenMap(d["metadata"]),
    )


def _ts(dt: datetime | None) -> float | None:
    return None if dt is None else dt.timestamp()


def run_to_wire(r: RunRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "project": r.project,
        "name": r.name,
        "status": r.status,
        "user": r.user,
        "host": r.host,
        "start_time": _ts(r.start_time),
        "end_time": _ts(r.end_time),
        "heartbeat_time": _ts(r.heartbeat_time),
        "parent_id": r.parent_id,
        "group": r.group,
        "notes": r.notes,
        "error": r.error,
        "tags": dict(r.tags),
        "config": r.config.to_dict(),
        "metrics": {k: list(v) for k, v in _raw_metrics(r).items()},
        "summary": r.summary.to_dict(),
        "provenance": None if r.provenance is None else r.provenance.to_dict(),
        "inputs": [d.to_json() for d in r.inputs],
        "outputs": [version_to_wire(v) for v in r.outputs],
    }


def _raw_metrics(r: RunRecord) -> dict[str, tuple[Any, ...]]:
    return {k: (m.last, m.min, m.max, m.count, m.last_step) for k, m in r.metrics.items()}


def run_from_wire(d: Mapping[str, Any]) -> RunRecord:
    return RunRecord(
        id=d["id"],
        project=d["project"],
        name=d["name"],
        status=d["status"],
        user=d["user"],
        host=d["host"],
        start_time=utc_from_timestamp(d["start_time"]),  # type: ignore[arg-type]
        end_time=utc_from_timestamp(d["end_time"]),
        heartbeat_time=utc_from_timestamp(d["heartbeat_time"]),
        parent_id=d["parent_id"],
        group=d["group"],
        notes=d["notes"],
        error=d["error"],
        tags=FrozenMap(d["tags"]),
        config=FrozenMap(d["config"]),
        metrics=MetricsMap({k: tuple(v) for k, v in d["metrics"].items()}),
        summary=FrozenMap(d["summary"]),
        provenance=None if d["provenance"] is None else FrozenMap(d["provenance"]),
        inputs=tuple(DatasetInput.from_json(x) for x in d["inputs"]),
        outputs=tuple(version_from_wire(v) for v in d["outputs"]),
    )


def series_to_wire(s: MetricSeries) -> dict[str, Any]:
    """Columns as little-endian bytes; regular steps as [first, stride, n]."""
    step = s.step
    steps: Any
    steps = [step.start, step.step, len(step)] if isinstance(step, range) else _i64(step)
    return {"step": steps, "value": _f64(s.value), "time": _f64(s.time)}


def series_from_wire(key: str, d: Mapping[str, Any]) -> MetricSeries:
    st = d["step"]
    step: Any
    if isinstance(st, list):
        first, stride, n = st
        step = range(first, first + n * stride, stride) if stride else [first] * n
    else:
        step = array("q")
        step.frombytes(st)
        if not _LITTLE:
            step.byteswap()
    value, time = array("d"), array("d")
    value.frombytes(d["value"])
    time.frombytes(d["time"])
    if not _LITTLE:
        value.byteswap()
        time.byteswap()
    return MetricSeries(key, step, value, time)


def _i64(values: Any) -> bytes:
    a = array("q", values)
    if not _LITTLE:
        a.byteswap()
    return a.tobytes()


def jsonable(value: Any) -> Any:
    """For JSON responses: bytes never, non-finite floats as "NaN"/"Infinity"/"-Infinity"."""
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes):
        raise TypeError("bytes have no JSON form")
    return value
