"""Artifact versions in SQL: manifests, version numbers, aliases, outputs of runs."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Connection

from ...artifacts.base import validate_digest
from ...artifacts.manifest import (
    manifest_digest,
    validate_alias,
    validate_artifact_name,
    validate_artifact_type,
    validate_manifest,
)
from ...entities import ArtifactFile, ArtifactSpec, ArtifactVersion
from ...errors import ArtifactNotFoundError, ValidationError
from ._engine import insert_if_absent
from ._records import aliases_of, dumps, to_version, version_columns
from .schema import artifact_aliases, artifact_files, artifact_versions, artifacts, run_outputs

_VERSION = re.compile(r"^v(\d{1,9})$")


def parse_ref(ref: str) -> tuple[str, str]:
    """``name`` -> (name, "latest"); ``name:v3`` / ``name:alias`` -> (name, selector)."""
    if not isinstance(ref, str) or not ref:
        raise ValidationError(
            f"artifact reference {ref!r} must be 'name', 'name:vN' or 'name:alias'"
        )
    name, sep, sel = ref.rpartition(":")
    if not sep:
        name, sel = ref, "latest"
    validate_artifact_name(name)
    if not _VERSION.match(sel):
        validate_alias(sel)
    return name, sel


def validate_spec(spec: ArtifactSpec) -> None:
    validate_artifact_name(spec.name)
    validate_artifact_type(spec.type)
    validate_digest(spec.digest)
    for alias in spec.aliases:
        validate_alias(alias)
    if not spec.files:
        raise ValidationError(f"artifact {spec.name!r} has no files")
    validate_manifest(spec.files)
    if manifest_digest(spec.files) != spec.digest:
        raise ValidationError(
            f"artifact {spec.name!r}: the manifest digest does not match its files"
        )


def log_version(
    conn: Connection,
    run_id: str,
    project_id: int,
    project: str,
    spec: ArtifactSpec,
    now: float,
) -> ArtifactVersion:
    """Record (or find) the version of ``spec`` and make it an output of the run."""
    validate_spec(spec)
    a, v = artifacts.c, artifact_versions.c
    # the artifact's row (made if absent, also when another process makes it at the
    # same moment), then locked: versions of one artifact are numbered one at a time
    insert_if_absent(
        conn,
        artifacts,
        {"project_id": project_id, "name": spec.name, "type": spec.type, "created_at": now},
        ("project_id", "name"),
    )
    art = conn.execute(
        select(a.id, a.type)
        .where(a.project_id == project_id, a.name == spec.name)
        .with_for_update()
    ).one()
    art_id = art.id
    if art.type != spec.type:
        raise ValidationError(
            f"artifact {spec.name!r} has type {art.type!r}; cannot log a "
            f"version of type {spec.type!r}"
        )
    existing = conn.execute(
        select(v.id).where(v.artifact_id == art_id, v.digest == spec.digest)
    ).scalar()
    if existing is None:
        idx = conn.execute(
            select(func.coalesce(func.max(v.idx) + 1, 0)).where(v.artifact_id == art_id)
        ).scalar_one()
        version_id = conn.execute(
            insert(artifact_versions)
            .values(
                artifact_id=art_id,
                idx=idx,
                digest=spec.digest,
                size=spec.size,
                file_count=len(spec.files),
                metadata=dumps(dict(spec.metadata)),
                created_by=run_id,
                created_at=now,
            )
            .returning(v.id)
        ).scalar_one()
        conn.execute(
            insert(artifact_files),
            [
                {"version_id": version_id, "path": f.path, "digest": f.digest, "size": f.size}
                for f in spec.files
            ],
        )
    else:
        version_id = existing
    for alias in ("latest", *spec.aliases):
        _move_alias(conn, art_id, alias, version_id)
    o = run_outputs.c
    if (
        conn.execute(select(o.run_id).where(o.run_id == run_id, o.version_id == version_id)).first()
        is None
    ):
        conn.execute(insert(run_outputs).values(run_id=run_id, version_id=version_id))
    return _version_by_id(conn, version_id, project)


def _move_alias(conn: Connection, artifact_id: int, alias: str, version_id: int) -> None:
    al = artifact_aliases.c
    conn.execute(delete(artifact_aliases).where(al.artifact_id == artifact_id, al.alias == alias))
    conn.execute(
        insert(artifact_aliases).values(artifact_id=artifact_id, alias=alias, version_id=version_id)
    )


def _base_query() -> Any:
    return select(*version_columns()).select_from(
        artifact_versions.join(artifacts, artifacts.c.id == artifact_versions.c.artifact_id)
    )


def _version_by_id(conn: Connection, version_id: int, project: str) -> ArtifactVersion:
    row = conn.execute(_base_query().where(artifact_versions.c.id == version_id)).one()
    return to_version(row, project, aliases_of(conn, [version_id]).get(version_id, []))


def resolve(conn: Connection, project_id: int | None, project: str, ref: str) -> int:
    """The version id a reference names in a project."""
    name, sel = parse_ref(ref)
    a, v, al = artifacts.c, artifact_versions.c, artifact_aliases.c
    art_id = (
        None
        if project_id is None
        else conn.execute(select(a.id).where(a.project_id == project_id, a.name == name)).scalar()
    )
    if art_id is None:
        raise ArtifactNotFoundError(f"no artifact {name!r} in project {project!r}")
    m = _VERSION.match(sel)
    if m:
        vid = conn.execute(
            select(v.id).where(v.artifact_id == art_id, v.idx == int(m.group(1)))
        ).scalar()
    else:
        vid = conn.execute(
            select(al.version_id).where(al.artifact_id == art_id, al.alias == sel)
        ).scalar()
    if vid is None:
        raise ArtifactNotFoundError(
            f"artifact {name!r} in project {project!r} has no version {sel!r}"
        )
    return int(vid)


def get_version(
    conn: Connection, project_id: int | None, project: str, ref: str
) -> ArtifactVersion:
    return _version_by_id(conn, resolve(conn, project_id, project, ref), project)


def get_files(
    conn: Connection, project_id: int | None, project: str, ref: str
) -> tuple[ArtifactFile, ...]:
    vid = resolve(conn, project_id, project, ref)
    f = artifact_files.c
    rows = conn.execute(
        select(f.path, f.digest, f.size).where(f.version_id == vid).order_by(f.path)
    )
    return tuple(ArtifactFile(r.path, r.digest, r.size) for r in rows)


def referenced_digests(conn: Connection) -> set[str]:
    return set(conn.execute(select(artifact_files.c.digest).distinct()).scalars())
