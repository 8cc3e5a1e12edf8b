"""``SqlStore``'s artifact catalogue, lineage, deletion and model registry methods (a
mixin: the facade stays readable; the work lives in ``_artifacts``, ``_lineage`` and
``_registry``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection

from ...entities import (
    AliasEvent,
    ArtifactInfo,
    ArtifactVersion,
    Lineage,
    ModelDetail,
    ModelVersion,
    RegisteredModel,
    RunRecord,
)
from ...errors import ConflictError, RunNotFoundError, ValidationError
from ...validation import check_existing_run_id, check_project, check_tags
from . import _artifacts, _lineage, _registry
from ._facade import SqlFacade
from .schema import projects, runs


def _check_actor(actor: object) -> str:
    if not isinstance(actor, str) or not actor.strip() or len(actor) > 250:
        raise ValidationError("actor must be a non-empty name of at most 250 characters")
    return actor


def _check_version_number(version: object) -> int:
    if isinstance(version, str) and version.lstrip("v").isdigit():
        version = int(version.lstrip("v"))
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValidationError(f"model version {version!r} must be an integer >= 1")
    return version


class CatalogMethods(SqlFacade):
    """Implemented on top of the facade's transaction helpers."""

    def _load_run(self, conn: Connection, run_id: str) -> RunRecord | None:
        try:
            return self._get(conn, run_id)
        except RunNotFoundError:
            return None

    def _version_id(self, conn: Connection, project: str | None, ref: str) -> tuple[int, str]:
        proj, rest = _artifacts.split_project(ref, project)
        if proj is None:
            raise ValidationError(
                f"artifact reference {ref!r} names no project: give project= or write "
                "'project/name:alias'"
            )
        check_project(proj)
        pid = self._project_id(conn, proj, create=False)
        return _artifacts.resolve(conn, pid, proj, rest), proj

    # -- inputs ------------------------------------------------------------------------
    def use_artifact(self, run_id: str, ref: str) -> ArtifactVersion:
        check_existing_run_id(run_id)
        _artifacts.split_project(ref, None)

        def go(conn: Connection) -> ArtifactVersion:
            row = conn.execute(
                select(runs.c.project_id).where(runs.c.id == run_id).with_for_update()
            ).first()
            if row is None:
                raise RunNotFoundError(f"run {run_id!r} does not exist")
            run_project = conn.execute(
                select(projects.c.name).where(projects.c.id == row.project_id)
            ).scalar_one()
            vid, _ = self._version_id(conn, run_project, ref)
            _artifacts.record_use(conn, run_id, vid, self._clock())
            return _artifacts.versions_by_id(conn, [vid], {})[vid]

        return self._write("recording an artifact input", go)

    # -- catalogue ---------------------------------------------------------------------
    def list_artifacts(self, project: str, type: str | None = None) -> list[ArtifactInfo]:
        check_project(project)
        return self._read(
            "listing artifacts",
            lambda conn: _artifacts.list_artifacts(
                conn, self._project_id(conn, project, create=False), project, type
            ),
        )

    def list_artifact_versions(self, project: str, name: str) -> list[ArtifactVersion]:
        check_project(project)
        return self._read(
            "listing artifact versions",
            lambda conn: _artifacts.list_versions(
                conn, self._project_id(conn, project, create=False), project, name
            ),
        )

    def set_artifact_alias(
        self,
        project: str,
        name: str,
        alias: str,
        version: str | None,
        *,
        actor: str,
        reason: str | None = None,
    ) -> ArtifactVersion | None:
        check_project(project)
        _check_actor(actor)
        reason = _registry.check_reason(reason)
        if version is not None and not isinstance(version, str):
            raise ValidationError(f"version {version!r} must be 'vN', an alias or None")
        return self._write(
            "moving an artifact alias",
            lambda conn: _artifacts.set_alias(
                conn,
                self._project_id(conn, project, create=False),
                project,
                name,
                alias,
                version,
                actor=actor,
                reason=reason,
                now=self._clock(),
            ),
        )

    def artifact_alias_history(
        self, project: str, name: str, alias: str | None = None
    ) -> list[AliasEvent]:
        check_project(project)
        return self._read(
            "reading an artifact's alias log",
            lambda conn: _artifacts.alias_history(
                conn, self._project_id(conn, project, create=False), project, name, alias
            ),
        )

    def delete_artifact_version(
        self, project: str, ref: str, *, force: bool = False, actor: str
    ) -> ArtifactVersion:
        check_project(project)
        _check_actor(actor)
        _artifacts.parse_ref(ref)
        return self._write(
            "deleting an artifact version",
            lambda conn: _artifacts.delete_version(
                conn,
                self._project_id(conn, project, create=False),
                project,
                ref,
                force=bool(force),
                actor=actor,
                now=self._clock(),
            ),
        )

    def delete_run(self, run_id: str, *, force: bool = False) -> None:
        check_existing_run_id(run_id)

        def go(conn: Connection) -> None:
            if (
                conn.execute(select(runs.c.id).where(runs.c.id == run_id).with_for_update()).first()
                is None
            ):
                raise RunNotFoundError(f"run {run_id!r} does not exist")
            made = _registry.versions_of_run(conn, run_id)
            if made and not force:
                raise ConflictError(
                    f"run {run_id} made registered model version(s) {', '.join(made)}; "
                    "pass force=True (--force) to delete it anyway (the model versions stay, "
                    "without their run)"
                )
            conn.execute(update(runs).where(runs.c.parent_id == run_id).values(parent_id=None))
            conn.execute(delete(runs).where(runs.c.id == run_id))

        self._write("deleting a run", go)

    # -- lineage -----------------------------------------------------------------------
    def _lineage_root(
        self, conn: Connection, root: str, project: str | None
    ) -> tuple[str, str | int]:
        if not isinstance(root, str) or not root:
            raise ValidationError("a lineage root is a run id, an artifact or model reference")
        if root.startswith("run:"):
            run_id = root[4:]
            if not _lineage.run_exists(conn, run_id):
                raise RunNotFoundError(f"run {run_id!r} does not exist")
            return "run", run_id
        if root.startswith("dataset:"):
            digest = root[8:]
            from ...artifacts.base import validate_digest

            return "dataset", validate_digest(digest)
        if root.startswith("artifact:"):
            return "artifact", self._version_id(conn, project, root[9:])[0]
        if "@" in root:
            return "artifact", _registry.get_version_with_id(conn, root)[2]
        if ":" not in root and "/" not in root:
            try:
                if _lineage.run_exists(conn, root):
                    return "run", root
            except ValidationError:
                pass
        return "artifact", self._version_id(conn, project, root)[0]

    def lineage(
        self,
        root: str,
        *,
        project: str | None = None,
        direction: str = "up",
        depth: int | None = None,
    ) -> Lineage:
        d = _lineage.check_direction(direction)
        depth = _lineage.check_depth(depth)
        if project is not None:
            check_project(project)

        def go(conn: Connection) -> Lineage:
            return _lineage.walk(conn, self._lineage_root(conn, root, project), d, depth)

        return self._read("walking lineage", go)

    # -- model registry ----------------------------------------------------------------
    def register_model(
        self,
        name: str,
        project: str,
        ref: str,
        *,
        actor: str,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
    ) -> ModelVersion:
        _registry.validate_model_name(name)
        check_project(project)
        _check_actor(actor)
        checked_tags = check_tags(tags)
        description = _registry.check_description(description)

        def go(conn: Connection) -> ModelVersion:
            vid, proj = self._version_id(conn, project, ref)
            version = _artifacts.versions_by_id(conn, [vid], {})[vid]
            pid = self._project_id(conn, proj, create=False)
            assert pid is not None
            return _registry.register(
                conn,
                name,
                vid,
                run_id=version.created_by,
                project_id=pid,
                actor=actor,
                tags=checked_tags,
                description=description,
                now=self._clock(),
            )

        return self._write("registering a model version", go)

    def list_models(self, project: str | None = None) -> list[RegisteredModel]:
        if project is not None:
            check_project(project)

        def go(conn: Connection) -> list[RegisteredModel]:
            if project is None:
                return _registry.list_models(conn, None)
            pid = self._project_id(conn, project, create=False)
            return _registry.list_models(conn, [] if pid is None else [pid])

        return self._read("listing registered models", go)

    def get_model(self, name: str) -> RegisteredModel:
        return self._read("reading a registered model", lambda c: _registry.get_model(c, name))

    def model_project(self, name: str) -> str:
        """The project owning a registered model (permission checks on a server)."""
        return self._read("reading a registered model", lambda c: _registry.model_project(c, name))

    def list_model_versions(self, name: str) -> list[ModelVersion]:
        return self._read("listing model versions", lambda c: _registry.list_versions(c, name))

    def get_model_version(self, ref: str) -> ModelVersion:
        _registry.parse_model_ref(ref)
        return self._read("reading a model version", lambda c: _registry.get_version(c, ref)[0])

    def model_detail(self, ref: str) -> ModelDetail:
        _registry.parse_model_ref(ref)

        def go(conn: Connection) -> ModelDetail:
            version, alias, vid = _registry.get_version_with_id(conn, ref)
            run = None if version.run_id is None else self._load_run(conn, version.run_id)
            graph = _lineage.walk(conn, ("artifact", vid), "up", None)
            return ModelDetail(version=version, run=run, lineage=graph, alias=alias)

        return self._read("reading a model version", go)

    def set_model_alias(
        self,
        name: str,
        alias: str,
        version: int | None,
        *,
        actor: str,
        reason: str | None = None,
    ) -> ModelVersion | None:
        _check_actor(actor)
        reason = _registry.check_reason(reason)
        number = None if version is None else _check_version_number(version)
        return self._write(
            "moving a model alias",
            lambda conn: _registry.set_alias(
                conn,
                name,
                alias,
                number,
                actor=actor,
                reason=reason,
                now=self._clock(),
                load_run=self._load_run,
            ),
        )

    def model_alias_history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        return self._read(
            "reading a model's alias log", lambda c: _registry.history(c, name, alias)
        )

    def model_version_at(self, name: str, alias: str, at: float) -> ModelVersion | None:
        if isinstance(at, bool) or not isinstance(at, int | float):
            raise ValidationError(f"at {at!r} must be a time (epoch seconds)")
        return self._read(
            "reading a model's alias log",
            lambda c: _registry.version_at(c, name, alias, float(at)),
        )

    def set_model_gates(self, name: str, gates: Sequence[Mapping[str, Any]]) -> RegisteredModel:
        checked = _registry.check_gates(gates)
        return self._write(
            "setting promotion gates", lambda c: _registry.set_gates(c, name, checked)
        )

    def set_model_version_tags(
        self, name: str, version: int, tags: Mapping[str, str]
    ) -> ModelVersion:
        number = _check_version_number(version)
        checked = check_tags(tags)
        return self._write(
            "tagging a model version",
            lambda c: _registry.set_version_tags(c, name, number, checked),
        )
