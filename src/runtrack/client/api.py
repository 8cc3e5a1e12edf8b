"""``runtrack.Api``: query what was recorded, from any process.

``Api()`` resolves the store exactly like ``init`` (``RUNTRACK_URL`` / ``RUNTRACK_DIR``),
or takes one explicitly (``Api(store=...)``). It returns ``RunView`` objects: the frozen
record of a run plus methods that read more of it (history, console log, artifacts).
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import settings as settings_mod
from .._bulk import bulk_objects
from ..entities import FrozenMap, Project, RunRecord
from ..errors import ArtifactNotFoundError, ValidationError
from ._audit_api import AuditMethods
from ._compare_api import CompareMethods
from ._registry_api import RegistryMethods
from ._reproduce_api import ReproduceMethods
from ._state import STATE
from ._sweep_api import SweepMethods

if TYPE_CHECKING:
    from ..artifacts.base import ArtifactStore
    from ..store.base import TrackingStore


class RunView:
    """A recorded run: every field of ``RunRecord`` plus readers of its data."""

    __slots__ = ("_api", "_record")

    def __init__(self, record: RunRecord, api: Api) -> None:
        self._record = record
        self._api = api

    def __getattr__(self, name: str) -> Any:
        return getattr(self._record, name)

    def __repr__(self) -> str:
        r = self._record
        return f"<RunView {r.id} {r.name!r} project={r.project!r} {r.status}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunView) and other._record == self._record

    __hash__ = None  # type: ignore[assignment]

    @property
    def record(self) -> RunRecord:
        return self._record

    @property
    def provenance(self) -> FrozenMap:
        """git, command, environment, seeds, hydra. Runs listed by ``Api.runs`` load it on
        first access (it can weigh megabytes: a dirty tree's diff, the package list)."""
        if self._record.provenance is None:
            self._record = self._api.store.get_run(self._record.id)
        assert self._record.provenance is not None
        return self._record.provenance

    def history(
        self, keys: str | Sequence[str] | None = None, *, format: str = "list"
    ) -> dict[str, dict[str, Any]]:
        """``{"loss": {"step": [...], "value": [...], "time": [...]}}`` for the given keys
        (all metrics, system metrics included, when None), in logged order. ``time`` is
        epoch seconds.

        ``format="array"`` returns the columns without making a Python object per point:
        ``value``/``time`` as ``array('d')`` and ``step`` as a ``range`` (when steps are
        regular) or ``array('q')``; ``numpy.asarray`` takes them without copying. Several
        times faster for long series.
        """
        if format not in ("list", "array"):
            raise ValidationError(f"format {format!r} must be 'list' or 'array'")
        if isinstance(keys, str):
            keys = [keys]
        series = self._api.store.get_history(self._record.id, keys)
        if format == "array":
            return {
                k: {
                    "step": s.step if isinstance(s.step, range | array) else array("q", s.step),
                    "value": s.value,
                    "time": s.time,
                }
                for k, s in series.items()
            }
        return {k: s.to_dict() for k, s in series.items()}

    def console(self) -> str:
        """The captured stdout/stderr of the run."""
        return self._api.store.get_console(self._record.id)

    def download_artifact(self, name: str, dest: str | Path) -> Path:
        """Download an artifact this run produced (``name`` or ``name:vN``) into ``dest``."""
        base = name.split(":", 1)[0]
        for v in self._record.outputs:
            if v.name == base and (":" not in name or v.version == name.split(":", 1)[1]):
                return self._api.download_artifact(v.ref, dest, project=self._record.project)
        raise ArtifactNotFoundError(f"run {self._record.id} produced no artifact {name!r}")


class Api(RegistryMethods, AuditMethods, CompareMethods, ReproduceMethods, SweepMethods):
    """Read access to runs. ``Api(url=...)`` picks a database; default like ``init``."""

    def __init__(
        self,
        url: str | None = None,
        *,
        store: TrackingStore | None = None,
        artifacts: ArtifactStore | None = None,
    ) -> None:
        self._settings = settings_mod.load(db=url) if store is None or artifacts is None else None
        self._store = store
        self._artifacts = artifacts

    @property
    def store(self) -> TrackingStore:
        if self._store is None:
            assert self._settings is not None
            self._store = STATE.store(self._settings)
        return self._store

    @property
    def artifact_store(self) -> ArtifactStore:
        if self._artifacts is None:
            assert self._settings is not None
            self._artifacts = STATE.artifact_store(self._settings)
        return self._artifacts

    def _artifacts_of(self, project: str) -> ArtifactStore:
        """The blobs of ``project``: its store on a team server, else the local one."""
        if self._artifacts is None and self._settings is not None and self._settings.url:
            return STATE.artifact_store(self._settings, project)
        return self.artifact_store

    def projects(self) -> list[Project]:
        return self.store.list_projects()

    def runs(
        self,
        project: str | None = None,
        filter: str | None = None,
        order_by: str | Sequence[str] = (),
        limit: int | None = None,
        offset: int = 0,
    ) -> list[RunView]:
        """Runs of ``project`` (all projects when None) matching ``filter`` (the run query
        language; see docs), sorted by ``order_by`` (newest first by default)."""
        if isinstance(order_by, str):
            order_by = [order_by]
        _live_runs_created()
        with bulk_objects():
            return [
                RunView(r, self)
                for r in self.store.search_runs(
                    project, filter=filter, order_by=list(order_by), limit=limit, offset=offset
                )
            ]

    def count(self, project: str | None = None, filter: str | None = None) -> int:
        _live_runs_created()
        return self.store.count_runs(project, filter)

    def run(self, run_id: str) -> RunView:
        """Raises ``RunNotFoundError``."""
        _live_runs_created(run_id)
        return RunView(self.store.get_run(run_id), self)

    def download_artifact(self, ref: str, dest: str | Path, project: str | None = None) -> Path:
        """Write the artifact version's files under ``dest`` (verified against their
        content hashes); returns ``dest``."""
        handle = self.artifact_handle(ref, project)
        return handle.download(Path(dest))

    def _cache_dir(self) -> Path:
        return (self._settings or settings_mod.load()).cache_dir

    def _project(self, project: str | None) -> str:
        if project is not None:
            return project
        s = self._settings or settings_mod.load()
        if not s.project:
            raise ValidationError("no project given and RUNTRACK_PROJECT is empty")
        return s.project


def _live_runs_created(run_id: str | None = None) -> None:
    """A live run of this process may be created on a server by its first shipment (see
    ``init``): have it (or every live run) created before the store is asked about it, so
    a run is visible from the moment ``init`` returns, as with the embedded store."""
    with STATE.lock:
        live = [r for r in STATE.runs if run_id is None or r.id == run_id]
    for run in live:
        run._sink.ensure_created()
