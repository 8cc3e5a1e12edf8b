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
    AliasEvent,
    ArtifactFile,
    ArtifactInfo,
    ArtifactOp,
    ArtifactSpec,
    ArtifactVersion,
    ConfigOp,
    ConsoleOp,
    DatasetInput,
    FrozenMap,
    InputOp,
    Lineage,
    LineageEdge,
    LineageNode,
    MetricSeries,
    MetricsMap,
    MetricsRecord,
    ModelDetail,
    ModelVersion,
    NewRun,
    NotesOp,
    Op,
    OpRecord,
    Project,
    ProvenanceOp,
    Record,
    RegisteredModel,
    RunBatch,
    RunRecord,
    RunSpec,
    StatusOp,
    SummaryOp,
    Sweep,
    SweepTrial,
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
        "metadata": _plain(spec.metadata),
        "aliases": list(spec.aliases),
        "files": [file_to_wire(f) for f in spec.files],
    }


def file_to_wire(f: ArtifactFile) -> list[Any]:
    """``[path, digest, size]``, and ``ref, etag`` for a reference file."""
    if f.ref is None:
        return [f.path, f.digest, f.size]
    return [f.path, f.digest, f.size, f.ref, f.etag]


def file_from_wire(item: Sequence[Any]) -> ArtifactFile:
    if len(item) == 3:
        p, g, s = item
        return ArtifactFile(str(p), str(g), int(s))
    p, g, s, ref, etag = item
    return ArtifactFile(
        str(p),
        str(g),
        int(s),
        None if ref is None else str(ref),
        None if etag is None else str(etag),
    )


def spec_from_json(d: Mapping[str, Any]) -> ArtifactSpec:
    try:
        files = tuple(file_from_wire(item) for item in d["files"])
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
        "metadata": _plain(v.metadata),
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


def run_attributes_to_wire(r: RunRecord) -> dict[str, Any]:
    """A run's own attributes (no tags, config, metrics or documents) on the wire."""
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
    }


def run_to_wire(r: RunRecord) -> dict[str, Any]:
    return {
        **run_attributes_to_wire(r),
        "tags": dict(r.tags),
        "config": r.config.to_dict(),
        "metrics": {k: list(v) for k, v in _raw_metrics(r).items()},
        "summary": r.summary.to_dict(),
        "provenance": None if r.provenance is None else r.provenance.to_dict(),
        "inputs": [d.to_json() for d in r.inputs],
        "outputs": [version_to_wire(v) for v in r.outputs],
        "used": [version_to_wire(v) for v in r.used],
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
        used=tuple(version_from_wire(v) for v in d.get("used", ())),
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


# --------------------------------------------------------------------------------------
# Artifact catalogue, lineage and the model registry
# --------------------------------------------------------------------------------------
def _plain(m: Mapping[str, Any]) -> dict[str, Any]:
    return m.to_dict() if isinstance(m, FrozenMap) else dict(m)


def artifact_info_to_wire(a: ArtifactInfo) -> dict[str, Any]:
    return {
        "project": a.project,
        "name": a.name,
        "type": a.type,
        "created_at": a.created_at.timestamp(),
        "version_count": a.version_count,
        "latest": a.latest,
        "aliases": dict(a.aliases),
        "size": a.size,
    }


def artifact_info_from_wire(d: Mapping[str, Any]) -> ArtifactInfo:
    return ArtifactInfo(
        project=d["project"],
        name=d["name"],
        type=d["type"],
        created_at=utc_from_timestamp(d["created_at"]),  # type: ignore[arg-type]
        version_count=d["version_count"],
        latest=d["latest"],
        aliases=FrozenMap(d["aliases"]),
        size=d["size"],
    )


def alias_event_to_wire(e: AliasEvent) -> dict[str, Any]:
    return {
        "subject": e.subject,
        "alias": e.alias,
        "from_version": e.from_version,
        "to_version": e.to_version,
        "actor": e.actor,
        "reason": e.reason,
        "at": e.at.timestamp(),
    }


def alias_event_from_wire(d: Mapping[str, Any]) -> AliasEvent:
    return AliasEvent(
        subject=d["subject"],
        alias=d["alias"],
        from_version=d["from_version"],
        to_version=d["to_version"],
        actor=d["actor"],
        reason=d["reason"],
        at=utc_from_timestamp(d["at"]),  # type: ignore[arg-type]
    )


def model_version_to_wire(m: ModelVersion) -> dict[str, Any]:
    return {
        "model": m.model,
        "version": m.version,
        "artifact": version_to_wire(m.artifact),
        "run_id": m.run_id,
        "tags": dict(m.tags),
        "description": m.description,
        "created_by": m.created_by,
        "created_at": m.created_at.timestamp(),
        "aliases": list(m.aliases),
    }


def model_version_from_wire(d: Mapping[str, Any]) -> ModelVersion:
    return ModelVersion(
        model=d["model"],
        version=d["version"],
        artifact=version_from_wire(d["artifact"]),
        run_id=d["run_id"],
        tags=FrozenMap(d["tags"]),
        description=d["description"],
        created_by=d["created_by"],
        created_at=utc_from_timestamp(d["created_at"]),  # type: ignore[arg-type]
        aliases=tuple(d["aliases"]),
    )


def registered_model_to_wire(m: RegisteredModel) -> dict[str, Any]:
    return {
        "name": m.name,
        "project": m.project,
        "description": m.description,
        "created_by": m.created_by,
        "created_at": m.created_at.timestamp(),
        "latest_version": m.latest_version,
        "version_count": m.version_count,
        "aliases": dict(m.aliases),
        "gates": [_plain(g) for g in m.gates],
    }


def registered_model_from_wire(d: Mapping[str, Any]) -> RegisteredModel:
    return RegisteredModel(
        name=d["name"],
        project=d["project"],
        description=d["description"],
        created_by=d["created_by"],
        created_at=utc_from_timestamp(d["created_at"]),  # type: ignore[arg-type]
        latest_version=d["latest_version"],
        version_count=d["version_count"],
        aliases=FrozenMap(d["aliases"]),
        gates=tuple(FrozenMap(g) for g in d["gates"]),
    )


def lineage_to_wire(g: Lineage) -> dict[str, Any]:
    return {
        "root": g.root,
        "direction": g.direction,
        "depth": g.depth,
        "truncated": g.truncated,
        "nodes": [
            {
                "id": n.id,
                "kind": n.kind,
                "label": n.label,
                "project": n.project,
                "depth": n.depth,
                "data": _plain(n.data),
            }
            for n in g.nodes
        ],
        "edges": [[e.source, e.target, e.kind] for e in g.edges],
    }


def lineage_from_wire(d: Mapping[str, Any]) -> Lineage:
    return Lineage(
        root=d["root"],
        direction=d["direction"],
        depth=d["depth"],
        truncated=d["truncated"],
        nodes=tuple(
            LineageNode(
                id=n["id"],
                kind=n["kind"],
                label=n["label"],
                project=n["project"],
                depth=n["depth"],
                data=FrozenMap(n["data"]),
            )
            for n in d["nodes"]
        ),
        edges=tuple(LineageEdge(s, t, k) for s, t, k in d["edges"]),
    )


def model_detail_to_wire(m: ModelDetail) -> dict[str, Any]:
    return {
        "version": model_version_to_wire(m.version),
        "run": None if m.run is None else run_to_wire(m.run),
        "lineage": lineage_to_wire(m.lineage),
        "alias": m.alias,
    }


def model_detail_from_wire(d: Mapping[str, Any]) -> ModelDetail:
    return ModelDetail(
        version=model_version_from_wire(d["version"]),
        run=None if d["run"] is None else run_from_wire(d["run"]),
        lineage=lineage_from_wire(d["lineage"]),
        alias=d["alias"],
    )


def trial_to_wire(t: SweepTrial) -> dict[str, Any]:
    return {
        "sweep_id": t.sweep_id,
        "number": t.number,
        "run_id": t.run_id,
        "state": t.state,
        "params": dict(t.params),
        "values": None if t.values is None else list(t.values),
        "intermediate": [[s, v] for s, v in t.intermediate],
        "sampler": t.sampler,
        "started_at": _ts(t.started_at),
        "ended_at": _ts(t.ended_at),
        "warm": t.warm,
        "error": t.error,
        "retry_of": t.retry_of,
        "retried": t.retried,
    }


def trial_from_wire(d: Mapping[str, Any]) -> SweepTrial:
    vals = d["values"]
    return SweepTrial(
        sweep_id=d["sweep_id"],
        number=int(d["number"]),
        run_id=d["run_id"],
        state=d["state"],
        params=dict(d["params"]),
        values=None if vals is None else tuple(float(v) for v in vals),
        intermediate=tuple((int(s), float(v)) for s, v in d["intermediate"]),
        sampler=d["sampler"],
        started_at=utc_from_timestamp(d["started_at"]),
        ended_at=utc_from_timestamp(d["ended_at"]),
        warm=bool(d["warm"]),
        error=d["error"],
        retry_of=d["retry_of"],
        retried=bool(d.get("retried", False)),
    )


def sweep_to_wire(s: Sweep) -> dict[str, Any]:
    return {
        "id": s.id,
        "project": s.project,
        "name": s.name,
        "spec": _plain(s.spec),
        "status": s.status,
        "user": s.user,
        "created_at": s.created_at.timestamp(),
        "ended_at": _ts(s.ended_at),
        "counts": dict(s.counts),
        "budget_used": s.budget_used,
        "best": None if s.best is None else trial_to_wire(s.best),
        "pareto": [trial_to_wire(t) for t in s.pareto],
        "stop_reason": s.stop_reason,
    }


def sweep_from_wire(d: Mapping[str, Any]) -> Sweep:
    return Sweep(
        id=d["id"],
        project=d["project"],
        name=d["name"],
        spec=FrozenMap(d["spec"]),
        status=d["status"],
        user=d["user"],
        created_at=utc_from_timestamp(d["created_at"]),  # type: ignore[arg-type]
        ended_at=utc_from_timestamp(d["ended_at"]),
        counts=dict(d["counts"]),
        budget_used=int(d["budget_used"]),
        best=None if d["best"] is None else trial_from_wire(d["best"]),
        pareto=tuple(trial_from_wire(t) for t in d["pareto"]),
        stop_reason=d["stop_reason"],
    )
