"""Rows to frozen records, and the JSON documents kept in ``runs``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.engine import Connection

from ...entities import (
    ArtifactVersion,
    DatasetInput,
    FrozenMap,
    MetricSummary,
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
    runs.c.provenance,
    runs.c.inputs,
)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def loads(text: str | None) -> Any:
    return json.loads(text) if text else {}


def metric_doc(metrics: Mapping[str, Sequence[Any]]) -> dict[str, MetricSummary]:
    return {
        k: MetricSummary(last=v[0], min=v[1], max=v[2], count=v[3], last_step=v[4])
        for k, v in metrics.items()
    }


def effective_summary(
    metrics: Mapping[str, Sequence[Any]], user: Mapping[str, Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {k: v[0] for k, v in metrics.items()}
    out.update(user)
    return out


def project_names(conn: Connection) -> dict[int, str]:
    return {r.id: r.name for r in conn.execute(select(projects.c.id, projects.c.name))}


def to_record(row: Any, project: str, outputs: tuple[ArtifactVersion, ...] = ()) -> RunRecord:
    metrics = loads(row.metrics)
    user_summary = loads(row.summary)
    return RunRecord(
        id=row.id,
        project=project,
        name=row.name,
        status=row.status,
        user=row.user,
        host=row.host,
        start_time=utc_from_timestamp(row.start_time),  # type: ignore[arg-type]
        end_time=utc_from_timestamp(row.end_time),
        heartbeat_time=utc_from_timestamp(row.heartbeat),
        parent_id=row.parent_id,
        group=row.grp,
        notes=row.notes,
        error=row.error,
        tags=FrozenMap(loads(row.tags)),
        config=FrozenMap(loads(row.config)),
        metrics=FrozenMap(metric_doc(metrics)),
        summary=FrozenMap(effective_summary(metrics, user_summary)),
        provenance=FrozenMap(loads(row.provenance)),
        inputs=tuple(DatasetInput.from_json(d) for d in (json.loads(row.inputs) or [])),
        outputs=outputs,
    )


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
