"""Rows to frozen records, and the JSON documents kept in ``runs``."""

from __future__ import annotations

import json
import struct
from array import array
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Row, select
from sqlalchemy.engine import Connection

from ...entities import (
    ArtifactVersion,
    DatasetInput,
    FrozenMap,
    MetricsMap,
    RunRecord,
    utc_from_timestamp,
)
from .schema import artifact_aliases, artifact_versions, artifacts, projects, run_outputs, runs

RUN_COLUMNS = (
    runs.c.id,
    runs.c.project_id,
    runs.c.name,
    runs.c.status,
    runs.c.user,
    runs.c.host,
    runs.c.start_time,
    runs.c.end_time,
    runs.c.heartbeat,
    runs.c.parent_id,
    runs.c.grp,
    runs.c.notes,
    runs.c.error,
    runs.c.config,
    runs.c.tags,
    runs.c.metrics,
    runs.c.summary,
    runs.c.inputs,
)


_NAN = float("nan")


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def loads(text: str | None) -> Any:
    """JSON, decoded by orjson (4x faster) unless the document holds NaN/Infinity, which
    only the standard library reads (metric values keep them)."""
    if not text:
        return {}
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


_COUNTS = struct.Struct("<I")
EMPTY_METRICS = _COUNTS.pack(0)


def pack_metrics(doc: Mapping[str, Sequence[Any]]) -> bytes:
    """Per-key summaries ``{key: (last, min, max, count, last_step)}`` as bytes:
    n | keys joined by NUL (keys never hold control characters) | n x 3 float64 | n x 2
    int64. min/max None are stored as NaN (NaN is never a min or max). Decoding runs in C,
    several times faster than JSON for these float-heavy documents."""
    keys = sorted(doc)
    floats = array("d")
    ints = array("q")
    for k in keys:
        last, lo, hi, count, step = doc[k]
        floats.extend((last, _NAN if lo is None else lo, _NAN if hi is None else hi))
        ints.extend((count, step))
    text = "\x00".join(keys).encode()
    return b"".join(
        (_COUNTS.pack(len(keys)), _COUNTS.pack(len(text)), text, floats.tobytes(), ints.tobytes())
    )


def unpack_metrics(blob: bytes) -> dict[str, tuple[Any, ...]]:
    (n,) = _COUNTS.unpack_from(blob)
    if not n:
        return {}
    (size,) = _COUNTS.unpack_from(blob, 4)
    keys = bytes(blob[8 : 8 + size]).decode().split("\x00")
    floats = array("d")
    floats.frombytes(blob[8 + size : 8 + size + 24 * n])
    ints = array("q")
    ints.frombytes(blob[8 + size + 24 * n :])
    # min/max stay NaN here (meaning "none"); MetricsMap turns them into None per key
    lasts, lows, highs = floats[0::3], floats[1::3], floats[2::3]
    cols = zip(lasts, lows, highs, ints[0::2], ints[1::2], strict=True)
    return dict(zip(keys, cols, strict=True))


def effective_summary(
    metrics: Mapping[str, Sequence[Any]], user: Mapping[str, Any]
) -> dict[str, Any]:
    """Each metric's last value (system/* excluded), overridden by explicit summary values."""
    out: dict[str, Any] = {k: v[0] for k, v in metrics.items() if not k.startswith("system/")}
    out.update(user)
    return out


def project_names(conn: Connection) -> dict[int, str]:
    return {r.id: r.name for r in conn.execute(select(projects.c.id, projects.c.name))}


def to_record(
    row: Any,
    project: str,
    outputs: tuple[ArtifactVersion, ...] = (),
    provenance: dict[str, Any] | None = None,
) -> RunRecord:
    """A record from a ``runs`` row; ``provenance`` None means "not loaded" (listings).

    The JSON documents are decoded when first read, not here: a listing of 100,000 runs
    builds 100,000 small records, not millions of dicts nobody may look at."""
    (
        run_id,
        _,
        name,
        status,
        user,
        host,
        start,
        end,
        beat,
        parent_id,
        group,
        notes,
        error,
        config,
        tags,
        metrics,
        summary,
        inputs,
    ) = row  # one C-level unpack (RUN_COLUMNS order)
    metric_map = _PackedMetrics(load=metrics)
    return RunRecord(
        id=run_id,
        project=project,
        name=name,
        status=status,
        user=user,
        host=host,
        start_time=datetime.fromtimestamp(start, UTC),
        end_time=None if end is None else datetime.fromtimestamp(end, UTC),
        heartbeat_time=None if beat is None else datetime.fromtimestamp(beat, UTC),
        parent_id=parent_id,
        group=group,
        notes=notes,
        error=error,
        tags=_JsonMap(text=tags) if tags != "{}" else _EMPTY,
        config=_JsonMap(text=config) if config != "{}" else _EMPTY,
        metrics=metric_map,
        summary=_SummaryMap(metric_map, summary),
        provenance=None if provenance is None else FrozenMap(provenance),
        inputs=()
        if inputs == "[]"
        else tuple(DatasetInput.from_json(d) for d in json.loads(inputs)),
        outputs=outputs,
    )


_EMPTY = FrozenMap()


class _JsonMap(FrozenMap):
    """A FrozenMap over a JSON document, decoded (fast) on first read."""

    __slots__ = ()

    def _expand(self, load: Any) -> Any:
        return loads(load)


class _PackedMetrics(MetricsMap):
    """Metric summaries over the packed ``runs.metrics`` bytes, unpacked on first read."""

    __slots__ = ()

    def _expand(self, load: Any) -> Any:
        return unpack_metrics(load)


class _SummaryMap(FrozenMap):
    """The effective summary (last values overridden by explicit ones), built on first read."""

    __slots__ = ("_metrics",)

    def __init__(self, metrics: MetricsMap, user: str) -> None:
        super().__init__(text=user)
        self._metrics = metrics

    def _expand(self, load: Any) -> Any:
        return effective_summary(self._metrics._raw, loads(load) if load != "{}" else {})


def version_columns() -> tuple[Any, ...]:
    v, a = artifact_versions.c, artifacts.c
    return (
        v.id,
        v.idx,
        v.digest,
        v.size,
        v.file_count,
        v.metadata,
        v.created_by,
        v.created_at,
        a.id.label("artifact_id"),
        a.name,
        a.type,
        a.project_id,
    )


def to_version(row: Row[Any], project: str, aliases: Sequence[str]) -> ArtifactVersion:
    return ArtifactVersion(
        project=project,
        name=row.name,
        type=row.type,
        version=f"v{row.idx}",
        index=row.idx,
        digest=row.digest,
        size=row.size,
        file_count=row.file_count,
        created_by=row.created_by,
        created_at=utc_from_timestamp(row.created_at),  # type: ignore[arg-type]
        aliases=tuple(sorted(aliases)),
        metadata=FrozenMap(loads(row.metadata)),
    )


def aliases_of(conn: Connection, version_ids: Sequence[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    if not version_ids:
        return out
    al = artifact_aliases.c
    for i in range(0, len(version_ids), 400):
        part = list(version_ids[i : i + 400])
        for r in conn.execute(select(al.version_id, al.alias).where(al.version_id.in_(part))):
            out.setdefault(r.version_id, []).append(r.alias)
    return out


def outputs_of(
    conn: Connection, run_ids: Sequence[str] | None, names: Mapping[int, str]
) -> dict[str, tuple[ArtifactVersion, ...]]:
    """Artifact versions produced by the given runs (all runs when None)."""
    o = run_outputs.c
    query = (
        select(o.run_id, *version_columns())
        .select_from(
            run_outputs.join(artifact_versions, artifact_versions.c.id == o.version_id).join(
                artifacts, artifacts.c.id == artifact_versions.c.artifact_id
            )
        )
        .order_by(o.run_id, artifacts.c.name, artifact_versions.c.idx)
    )
    rows: list[Row[Any]] = []
    if run_ids is None:
        rows = list(conn.execute(query))
    else:
        ids = list(run_ids)
        for i in range(0, len(ids), 400):
            rows.extend(conn.execute(query.where(o.run_id.in_(ids[i : i + 400]))))
    if not rows:
        return {}
    aliases = aliases_of(conn, [r.id for r in rows])
    out: dict[str, list[ArtifactVersion]] = {}
    for r in rows:
        out.setdefault(r.run_id, []).append(
            to_version(r, names.get(r.project_id, "?"), aliases.get(r.id, []))
        )
    return {k: tuple(v) for k, v in out.items()}
