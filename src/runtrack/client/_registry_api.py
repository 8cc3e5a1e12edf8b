"""``Api``'s artifact catalogue, lineage and model registry methods, and ``ModelView``.

Artifact references are ``name``, ``name:vN``, ``name:alias`` in a project (the ``project``
argument, else ``RUNTRACK_PROJECT``; when the name exists in exactly one other project,
that one), or ``project/name:alias`` anywhere. Model references are ``name@alias``,
``name/3`` and ``name`` (the newest version); model names are unique on a store.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..entities import (
    AliasEvent,
    ArtifactFile,
    ArtifactInfo,
    ArtifactVersion,
    FrozenMap,
    Lineage,
    ModelDetail,
    ModelVersion,
    RegisteredModel,
)
from ..errors import ArtifactNotFoundError, ValidationError

if TYPE_CHECKING:
    from ..artifacts.base import ArtifactStore
    from ..store.base import TrackingStore
    from ._artifact_use import ArtifactHandle
    from .api import RunView


def actor() -> str:
    """Who is acting, for audit logs (a team server records its authenticated user)."""
    from .provenance.command import user

    return user() or "unknown"


class ModelView:
    """A registered model version with everything about it, from one store call:
    ``.name``, ``.version`` (number), ``.alias``, ``.artifact``, ``.run`` (a ``RunView``, or
    None if the run was deleted), ``.config``, ``.commit``, ``.metrics``, ``.datasets``,
    ``.lineage``; ``download()`` and ``load()`` fetch it (verified)."""

    def __init__(self, detail: ModelDetail, api: RegistryMethods) -> None:
        self._detail = detail
        self._api = api

    def __repr__(self) -> str:
        v = self._detail.version
        alias = f"@{self._detail.alias}" if self._detail.alias else ""
        return f"<ModelView {v.model}/{v.version}{alias} {v.artifact.full_ref}>"

    @property
    def detail(self) -> ModelDetail:
        return self._detail

    @property
    def name(self) -> str:
        return self._detail.version.model

    @property
    def version(self) -> int:
        return self._detail.version.version

    @property
    def model_version(self) -> ModelVersion:
        return self._detail.version

    @property
    def alias(self) -> str | None:
        return self._detail.alias

    @property
    def aliases(self) -> tuple[str, ...]:
        return self._detail.version.aliases

    @property
    def tags(self) -> Mapping[str, str]:
        return self._detail.version.tags

    @property
    def artifact(self) -> ArtifactVersion:
        return self._detail.version.artifact

    @property
    def run(self) -> RunView | None:
        from .api import RunView

        run = self._detail.run
        return None if run is None else RunView(run, self._api)  # type: ignore[arg-type]

    @property
    def config(self) -> FrozenMap:
        run = self._detail.run
        return run.config if run is not None else FrozenMap({})

    @property
    def metrics(self) -> FrozenMap:
        """The run's summary: each metric's final (or user-set) value."""
        run = self._detail.run
        return run.summary if run is not None else FrozenMap({})

    @property
    def commit(self) -> str | None:
        run = self._detail.run
        if run is None or run.provenance is None:
            return None
        git = run.provenance.get("git")
        return None if not isinstance(git, Mapping) else git.get("commit")

    @property
    def lineage(self) -> Lineage:
        return self._detail.lineage

    @property
    def datasets(self) -> list[dict[str, Any]]:
        """Every dataset and artifact upstream of the model: what it was trained on."""
        return [
            {"id": n.id, "kind": n.kind, "label": n.label, **dict(n.data)}
            for n in self._detail.lineage.nodes
            if n.kind == "dataset" or (n.kind == "artifact" and n.depth > 0)
        ]

    def download(self, root: str | Path | None = None) -> Path:
        """The model's files in a local directory (shared verified cache by default)."""
        return self._api.artifact_handle(self.artifact.full_ref).download(root)

    def load(self) -> Any:
        """The model object (see ``runtrack.load_model``: unpickling runs code)."""
        from ..models import load_model_dir

        return load_model_dir(self.download())


def _run_ref(store: TrackingStore, ref: str) -> str | None:
    """The run id when ``ref`` names a run (``run:<id>``, or a bare existing run id)."""
    from ..errors import NotFoundError

    if not isinstance(ref, str):
        return None
    if ref.startswith("run:"):
        return ref[4:]
    if ":" in ref or "/" in ref:
        return None
    try:
        store.run_project(ref)
    except (NotFoundError, ValidationError):
        return None
    return ref


class RegistryMethods(abc.ABC):
    """Mixed into ``Api``."""

    @property
    @abc.abstractmethod
    def store(self) -> TrackingStore: ...

    @abc.abstractmethod
    def _project(self, project: str | None) -> str: ...

    @abc.abstractmethod
    def _artifacts_of(self, project: str) -> ArtifactStore: ...

    @abc.abstractmethod
    def _cache_dir(self) -> Path: ...

    # -- artifacts ---------------------------------------------------------------------
    def _locate(self, ref: str, project: str | None) -> tuple[str, str]:
        """(project, ref within it) for an artifact reference."""
        if not isinstance(ref, str) or not ref:
            raise ValidationError(f"artifact reference {ref!r} must be 'name:alias' or 'name:vN'")
        head, sep, rest = ref.removeprefix("artifact:").partition("/")
        if sep:
            return head, rest
        if project is not None:
            return project, ref
        default = self._project(None)
        name = ref.partition(":")[0]
        try:
            self.store.get_artifact_version(default, name)
            return default, ref
        except ArtifactNotFoundError:
            holders = [
                p.name
                for p in self.store.list_projects()
                if p.name != default
                and any(a.name == name for a in self.store.list_artifacts(p.name))
            ]
        if len(holders) == 1:
            return holders[0], ref
        if not holders:
            raise ArtifactNotFoundError(f"no artifact {name!r} in any project")
        raise ValidationError(
            f"artifact {name!r} exists in projects {', '.join(sorted(holders))}: give "
            f"project= or write 'project/{ref}'"
        )

    def artifact(self, ref: str, project: str | None = None) -> ArtifactVersion:
        """An artifact version: ``name``, ``name:vN``, ``name:alias``, ``project/name:...``."""
        proj, rest = self._locate(ref, project)
        return self.store.get_artifact_version(proj, rest)

    def artifact_files(self, ref: str, project: str | None = None) -> tuple[ArtifactFile, ...]:
        proj, rest = self._locate(ref, project)
        return self.store.get_artifact_files(proj, rest)

    def artifact_handle(self, ref: str, project: str | None = None) -> ArtifactHandle:
        """A handle whose ``download()`` fills the shared verified cache (no lineage edge
        is recorded: use ``run.use_artifact`` inside a run for that)."""
        from ._artifact_use import ArtifactHandle

        proj, rest = self._locate(ref, project)
        version = self.store.get_artifact_version(proj, rest)
        files = self.store.get_artifact_files(proj, version.ref)
        return ArtifactHandle(version, files, lambda: self._artifacts_of(proj), self._cache_dir())

    def artifacts(self, project: str | None = None, type: str | None = None) -> list[ArtifactInfo]:
        """The artifacts of a project (of one ``type`` if given), by name."""
        return self.store.list_artifacts(self._project(project), type)

    def artifact_versions(self, name: str, project: str | None = None) -> list[ArtifactVersion]:
        proj, rest = self._locate(name, project)
        return self.store.list_artifact_versions(proj, rest.partition(":")[0])

    def set_artifact_alias(
        self,
        name: str,
        alias: str,
        version: str | None,
        *,
        project: str | None = None,
        reason: str | None = None,
    ) -> ArtifactVersion | None:
        """Point a custom alias of an artifact at ``version`` (None removes it); audited."""
        proj, rest = self._locate(name, project)
        return self.store.set_artifact_alias(
            proj, rest.partition(":")[0], alias, version, actor=actor(), reason=reason
        )

    def artifact_alias_history(
        self, name: str, alias: str | None = None, *, project: str | None = None
    ) -> list[AliasEvent]:
        proj, rest = self._locate(name, project)
        return self.store.artifact_alias_history(proj, rest.partition(":")[0], alias)

    def delete_artifact(
        self, ref: str, *, project: str | None = None, force: bool = False
    ) -> ArtifactVersion:
        """Delete an artifact version (refused while an alias or a registered model
        version points at it, unless ``force``). Its blobs go at the next ``gc``."""
        proj, rest = self._locate(ref, project)
        if ":" not in rest:
            raise ValidationError(f"name the version to delete, e.g. {rest}:v3")
        return self.store.delete_artifact_version(proj, rest, force=force, actor=actor())

    def delete_run(self, run_id: str, *, force: bool = False) -> None:
        """Delete a run and all it recorded (refused if it made a registered model
        version, unless ``force``); the artifact versions it produced stay."""
        self.store.delete_run(run_id, force=force)

    def lineage(
        self,
        ref: str,
        direction: str = "up",
        depth: int | None = None,
        *,
        project: str | None = None,
    ) -> Lineage:
        """Where ``ref`` came from (``up``) or what came of it (``down``), ``depth``
        edges at most (None: all). ``ref``: an artifact reference, a run id,
        ``dataset:<sha256>``, or a model reference (``churn@production``)."""
        if not isinstance(ref, str) or not ref:
            raise ValidationError("lineage needs a run id, an artifact or model reference")
        if re.fullmatch(r"[^/@:]+/[0-9]+", ref):  # name/3: a registered model's version
            from ..errors import ModelNotFoundError

            try:
                self.store.get_model(ref.partition("/")[0])
                ref = ref.replace("/", "@", 1)
            except ModelNotFoundError:
                pass
        if ref.startswith(("run:", "dataset:")) or "@" in ref:
            return self.store.lineage(ref, project=project, direction=direction, depth=depth)
        if ":" not in ref and "/" not in ref:  # a run id, or an artifact's latest version
            from ..errors import NotFoundError

            try:
                self.store.run_project(ref)
                return self.store.lineage(
                    f"run:{ref}", project=project, direction=direction, depth=depth
                )
            except (NotFoundError, ValidationError):
                pass
        proj, rest = self._locate(ref, project)
        return self.store.lineage(
            f"artifact:{proj}/{rest}", project=proj, direction=direction, depth=depth
        )

    # -- model registry ----------------------------------------------------------------
    def register_model(
        self,
        ref: str,
        name: str,
        *,
        project: str | None = None,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
    ) -> ModelVersion:
        """Register the artifact version ``ref`` (or a run's model artifact: ``run:<id>``)
        as a new version of model ``name`` (created on first use). Registering it again
        returns the same version."""
        run_id = _run_ref(self.store, ref)
        if run_id is not None:  # the run's model artifact
            record = self.store.get_run(run_id)
            found = [v for v in record.outputs if v.type == "model"]
            if len(found) != 1:
                names = ", ".join(v.ref for v in found) or "none"
                raise ValidationError(
                    f"run {run_id} logged {len(found)} model artifacts ({names}): name the "
                    "artifact version to register, e.g. churn-model:v3"
                )
            proj, rest = record.project, found[0].ref
        else:
            proj, rest = self._locate(ref, project)
        return self.store.register_model(
            name, proj, rest, actor=actor(), tags=tags, description=description
        )

    def models(self, project: str | None = None) -> list[RegisteredModel]:
        """Registered models (those owned by ``project`` if given), by name."""
        return self.store.list_models(project)

    def registered_model(self, name: str) -> RegisteredModel:
        return self.store.get_model(name)

    def model_versions(self, name: str) -> list[ModelVersion]:
        return self.store.list_model_versions(name)

    def model_version(self, ref: str) -> ModelVersion:
        """``churn@production``, ``churn/3``, ``churn`` (newest)."""
        return self.store.get_model_version(ref)

    def model(self, ref: str) -> ModelView:
        """The model version ``ref`` names with its run, config, commit, metrics and data
        lineage, in one call to the store."""
        return ModelView(self.store.model_detail(ref), self)

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int | None,
        reason: str | None = None,
    ) -> ModelVersion | None:
        """Point ``name@alias`` at ``version`` (None removes the alias). The model's
        promotion gates are checked first (``PromotionRefusedError`` lists what failed,
        nothing changes); the change is appended to the audit log with who and why."""
        return self.store.set_model_alias(name, alias, version, actor=actor(), reason=reason)

    def model_history(
        self, name: str, alias: str | None = None, at: datetime | float | None = None
    ) -> list[AliasEvent] | ModelVersion | None:
        """The audit log of the model's aliases (or of one alias), oldest first; with
        ``at`` (a datetime, naive = local time, or epoch seconds) and ``alias``: the
        version that alias named at that moment (None if it named none)."""
        if at is None:
            return self.store.model_alias_history(name, alias)
        if alias is None:
            raise ValidationError("model_history(at=...) needs alias=: which alias to look up")
        if isinstance(at, datetime):
            ts = at.timestamp()
        elif isinstance(at, int | float) and not isinstance(at, bool):
            ts = float(at)
        else:
            raise ValidationError(f"at {at!r} must be a datetime or epoch seconds")
        return self.store.model_version_at(name, alias, ts)

    def set_gates(self, name: str, gates: Sequence[Mapping[str, Any]]) -> RegisteredModel:
        """Promotion gates of a model, e.g. ``[{"aliases": ["production"], "tags":
        ["reviewed"], "metrics": {"auc": ">= 0.85"}}]``; ``[]`` removes them."""
        return self.store.set_model_gates(name, gates)

    def set_model_version_tags(
        self, name: str, version: int, tags: Mapping[str, str]
    ) -> ModelVersion:
        return self.store.set_model_version_tags(name, version, tags)
