"""Artifact versions in SQL: manifests, version numbers, aliases (with their audit log),
outputs and inputs of runs, the catalogue, deletion."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection

from ...artifacts.base import validate_digest
from ...artifacts.manifest import (
    manifest_digest,
    validate_alias,
    validate_artifact_name,
    validate_artifact_type,
    validate_manifest,
)
from ...entities import (
    AliasEvent,
    ArtifactFile,
    ArtifactInfo,
    ArtifactSpec,
    ArtifactVersion,
    FrozenMap,
    utc_from_timestamp,
)
from ...errors import ArtifactNotFoundError, ConflictError, ValidationError
from ...validation import check_project
from ._engine import insert_if_absent
from ._records import aliases_of, dumps, to_version, version_columns
from .schema import (
    artifact_alias_events,
    artifact_aliases,
    artifact_files,
    artifact_versions,
    artifacts,
    model_versions,
    projects,
    registered_models,
    run_outputs,
    run_uses,
    runs,
)

_VERSION = re.compile(r"^v(\d{1,9})\Z")


def split_project(ref: object, default: str | None) -> tuple[str | None, str]:
    """``project/name:sel`` -> (project, "name:sel"); without a project -> (default, ref)."""
    if not isinstance(ref, str) or not ref:
        raise ValidationError(
            f"artifact reference {ref!r} must be 'name', 'name:vN', 'name:alias' or "
            "'project/name:alias'"
        )
    project, sep, rest = ref.partition("/")
    if not sep:
        return default, ref
    check_project(project)
    return project, rest


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


def _plain(m: Any) -> dict[str, Any]:
    return m.to_dict() if isinstance(m, FrozenMap) else dict(m)


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
        select(a.id, a.type, a.next_idx)
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
        idx = art.next_idx
        if idx is None:
            idx = conn.execute(
                select(func.coalesce(func.max(v.idx) + 1, 0)).where(v.artifact_id == art_id)
            ).scalar_one()
        conn.execute(update(artifacts).where(a.id == art_id).values(next_idx=idx + 1))
        version_id = conn.execute(
            insert(artifact_versions)
            .values(
                artifact_id=art_id,
                idx=idx,
                digest=spec.digest,
                size=spec.size,
                file_count=len(spec.files),
                metadata=dumps(_plain(spec.metadata)),
                created_by=run_id,
                created_at=now,
            )
            .returning(v.id)
        ).scalar_one()
        conn.execute(
            insert(artifact_files),
            [
                {
                    "version_id": version_id,
                    "path": f.path,
                    "digest": f.digest,
                    "size": f.size,
                    "ref": f.ref,
                    "etag": f.etag,
                }
                for f in spec.files
            ],
        )
    else:
        version_id = existing
    actor = conn.execute(select(runs.c.user).where(runs.c.id == run_id)).scalar() or "unknown"
    for alias in ("latest", *spec.aliases):
        _move_alias(conn, art_id, alias, version_id, actor=actor, reason=None, now=now)
    o = run_outputs.c
    if (
        conn.execute(select(o.run_id).where(o.run_id == run_id, o.version_id == version_id)).first()
        is None
    ):
        conn.execute(insert(run_outputs).values(run_id=run_id, version_id=version_id))
    return _version_by_id(conn, version_id, project)


def _move_alias(
    conn: Connection,
    artifact_id: int,
    alias: str,
    version_id: int | None,
    *,
    actor: str,
    reason: str | None,
    now: float,
) -> bool:
    """Point ``alias`` at ``version_id`` (None: remove it); audit every change of a custom
    alias (``latest`` follows the versions themselves). False if nothing changed."""
    al, v = artifact_aliases.c, artifact_versions.c
    current = conn.execute(
        select(al.version_id).where(al.artifact_id == artifact_id, al.alias == alias)
    ).scalar()
    if current == version_id:
        return False
    conn.execute(delete(artifact_aliases).where(al.artifact_id == artifact_id, al.alias == alias))
    if version_id is not None:
        conn.execute(
            insert(artifact_aliases).values(
                artifact_id=artifact_id, alias=alias, version_id=version_id
            )
        )
    if alias != "latest":
        idx = {
            r.id: r.idx
            for r in conn.execute(
                select(v.id, v.idx).where(v.id.in_([x for x in (current, version_id) if x]))
            )
        }
        conn.execute(
            insert(artifact_alias_events).values(
                artifact_id=artifact_id,
                alias=alias,
                from_version=idx.get(current),
                to_version=idx.get(version_id),
                actor=actor,
                reason=reason,
                at=round(now, 6),  # microseconds: what a datetime read back can hold
            )
        )
    return True


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
        select(f.path, f.digest, f.size, f.ref, f.etag).where(f.version_id == vid).order_by(f.path)
    )
    return tuple(ArtifactFile(r.path, r.digest, r.size, r.ref, r.etag) for r in rows)


def referenced_digests(conn: Connection) -> set[str]:
    f = artifact_files.c
    return set(conn.execute(select(f.digest).where(f.ref.is_(None)).distinct()).scalars())


# --------------------------------------------------------------------------------------
# Inputs of runs
# --------------------------------------------------------------------------------------
def record_use(conn: Connection, run_id: str, version_id: int, now: float) -> None:
    """The run used this version (lineage: version -> run). Recorded once per pair."""
    u = run_uses.c
    found = conn.execute(
        select(u.run_id).where(u.run_id == run_id, u.version_id == version_id)
    ).first()
    if found is None:
        conn.execute(insert(run_uses).values(run_id=run_id, version_id=version_id, used_at=now))


def versions_by_id(
    conn: Connection, version_ids: list[int], names: dict[int, str]
) -> dict[int, ArtifactVersion]:
    """Versions by id; ``names`` maps project ids to names (read when missing)."""
    out: dict[int, ArtifactVersion] = {}
    if not version_ids:
        return out
    rows: list[Any] = []
    for i in range(0, len(version_ids), 400):
        part = version_ids[i : i + 400]
        rows.extend(conn.execute(_base_query().where(artifact_versions.c.id.in_(part))))
    missing = {r.project_id for r in rows} - names.keys()
    if missing:
        p = projects.c
        names.update(
            {r.id: r.name for r in conn.execute(select(p.id, p.name).where(p.id.in_(missing)))}
        )
    aliases = aliases_of(conn, [r.id for r in rows])
    for r in rows:
        out[r.id] = to_version(r, names[r.project_id], aliases.get(r.id, []))
    return out


def used_by(conn: Connection, run_ids: list[str]) -> dict[str, tuple[ArtifactVersion, ...]]:
    """The versions each run used, by name then version."""
    u = run_uses.c
    pairs: list[tuple[str, int]] = []
    for i in range(0, len(run_ids), 400):
        part = run_ids[i : i + 400]
        pairs.extend(
            (r.run_id, r.version_id)
            for r in conn.execute(select(u.run_id, u.version_id).where(u.run_id.in_(part)))
        )
    if not pairs:
        return {}
    versions = versions_by_id(conn, sorted({v for _, v in pairs}), {})
    out: dict[str, list[ArtifactVersion]] = {}
    for run_id, vid in pairs:
        out.setdefault(run_id, []).append(versions[vid])
    return {k: tuple(sorted(v, key=lambda x: (x.project, x.name, x.index))) for k, v in out.items()}


# --------------------------------------------------------------------------------------
# The catalogue
# --------------------------------------------------------------------------------------
def list_artifacts(
    conn: Connection, project_id: int | None, project: str, type: str | None
) -> list[ArtifactInfo]:
    if project_id is None:
        return []
    a, v, al = artifacts.c, artifact_versions.c, artifact_aliases.c
    query = (
        select(
            a.id,
            a.name,
            a.type,
            a.created_at,
            func.count(v.id).label("n"),
            func.max(v.idx).label("top"),
            func.coalesce(func.sum(v.size), 0).label("size"),
        )
        .select_from(artifacts.outerjoin(artifact_versions, v.artifact_id == a.id))
        .where(a.project_id == project_id)
        .group_by(a.id, a.name, a.type, a.created_at)
        .order_by(a.name)
    )
    if type is not None:
        query = query.where(a.type == validate_artifact_type(type))
    rows = list(conn.execute(query))
    aliases: dict[int, dict[str, str]] = {}
    for r in conn.execute(
        select(al.artifact_id, al.alias, v.idx)
        .select_from(artifact_aliases.join(artifact_versions, v.id == al.version_id))
        .where(al.artifact_id.in_([r.id for r in rows] or [-1]))
    ):
        aliases.setdefault(r.artifact_id, {})[r.alias] = f"v{r.idx}"
    return [
        ArtifactInfo(
            project=project,
            name=r.name,
            type=r.type,
            created_at=utc_from_timestamp(r.created_at),  # type: ignore[arg-type]
            version_count=int(r.n),
            latest=aliases.get(r.id, {}).get("latest"),
            aliases=FrozenMap(dict(sorted(aliases.get(r.id, {}).items()))),
            size=int(r.size),
        )
        for r in rows
    ]


def _artifact_id(conn: Connection, project_id: int | None, project: str, name: str) -> int:
    validate_artifact_name(name)
    a = artifacts.c
    art_id = (
        None
        if project_id is None
        else conn.execute(select(a.id).where(a.project_id == project_id, a.name == name)).scalar()
    )
    if art_id is None:
        raise ArtifactNotFoundError(f"no artifact {name!r} in project {project!r}")
    return int(art_id)


def list_versions(
    conn: Connection, project_id: int | None, project: str, name: str
) -> list[ArtifactVersion]:
    art_id = _artifact_id(conn, project_id, project, name)
    v = artifact_versions.c
    rows = list(conn.execute(_base_query().where(v.artifact_id == art_id).order_by(v.idx)))
    aliases = aliases_of(conn, [r.id for r in rows])
    return [to_version(r, project, aliases.get(r.id, [])) for r in rows]


def set_alias(
    conn: Connection,
    project_id: int | None,
    project: str,
    name: str,
    alias: str,
    version: str | None,
    *,
    actor: str,
    reason: str | None,
    now: float,
) -> ArtifactVersion | None:
    """Move (or, ``version`` None, remove) a custom alias, audited."""
    validate_alias(alias)
    if alias == "latest":
        raise ValidationError("'latest' follows the newest version by itself; it cannot be set")
    art_id = _artifact_id(conn, project_id, project, name)
    conn.execute(select(artifacts.c.id).where(artifacts.c.id == art_id).with_for_update())
    vid = None if version is None else resolve(conn, project_id, project, f"{name}:{version}")
    _move_alias(conn, art_id, alias, vid, actor=actor, reason=reason, now=now)
    return None if vid is None else _version_by_id(conn, vid, project)


def alias_history(
    conn: Connection, project_id: int | None, project: str, name: str, alias: str | None
) -> list[AliasEvent]:
    art_id = _artifact_id(conn, project_id, project, name)
    e = artifact_alias_events.c
    query = select(artifact_alias_events).where(e.artifact_id == art_id).order_by(e.at, e.id)
    if alias is not None:
        query = query.where(e.alias == validate_alias(alias))
    return [
        AliasEvent(
            subject=name,
            alias=r.alias,
            from_version=None if r.from_version is None else f"v{r.from_version}",
            to_version=None if r.to_version is None else f"v{r.to_version}",
            actor=r.actor,
            reason=r.reason,
            at=utc_from_timestamp(r.at),  # type: ignore[arg-type]
        )
        for r in conn.execute(query)
    ]


# --------------------------------------------------------------------------------------
# Deletion
# --------------------------------------------------------------------------------------
def protections(conn: Connection, version_id: int) -> list[str]:
    """Why deleting this version needs ``force``: custom aliases and model versions."""
    al, mv, rm = artifact_aliases.c, model_versions.c, registered_models.c
    why = [
        f"alias {r.alias!r} points at it"
        for r in conn.execute(
            select(al.alias).where(al.version_id == version_id, al.alias != "latest")
        )
    ]
    why += [
        f"it is version {r.version} of registered model {r.name!r}"
        for r in conn.execute(
            select(rm.name, mv.version)
            .select_from(model_versions.join(registered_models, rm.id == mv.model_id))
            .where(mv.artifact_version_id == version_id)
        )
    ]
    return why


def delete_version(
    conn: Connection,
    project_id: int | None,
    project: str,
    ref: str,
    *,
    force: bool,
    actor: str,
    now: float,
) -> ArtifactVersion:
    """Delete a version (its blobs are left to ``gc``). Refused while a custom alias or a
    registered model version points at it, unless ``force``: then those aliases are
    removed (audited) and the model versions deleted with it."""
    from ._registry import drop_model_versions_of

    vid = resolve(conn, project_id, project, ref)
    version = _version_by_id(conn, vid, project)
    art_id = conn.execute(
        select(artifact_versions.c.artifact_id).where(artifact_versions.c.id == vid)
    ).scalar_one()
    conn.execute(select(artifacts.c.id).where(artifacts.c.id == art_id).with_for_update())
    why = protections(conn, vid)
    if why and not force:
        raise ConflictError(
            f"artifact version {version.ref} in project {project!r} is protected: "
            + "; ".join(why)
            + ". Move the alias or pass force=True (--force) to delete it anyway"
        )
    drop_model_versions_of(conn, vid, actor=actor, now=now)
    al = artifact_aliases.c
    for alias in conn.execute(select(al.alias).where(al.version_id == vid)).scalars().all():
        if alias != "latest":
            _move_alias(
                conn, art_id, alias, None, actor=actor, reason=f"{version.ref} deleted", now=now
            )
    conn.execute(delete(artifact_aliases).where(al.version_id == vid))
    conn.execute(delete(run_outputs).where(run_outputs.c.version_id == vid))
    conn.execute(delete(run_uses).where(run_uses.c.version_id == vid))
    conn.execute(delete(artifact_files).where(artifact_files.c.version_id == vid))
    conn.execute(delete(artifact_versions).where(artifact_versions.c.id == vid))
    v = artifact_versions.c
    newest = conn.execute(
        select(v.id).where(v.artifact_id == art_id).order_by(v.idx.desc()).limit(1)
    ).scalar()
    if newest is not None:
        _move_alias(conn, art_id, "latest", newest, actor=actor, reason=None, now=now)
    return version
