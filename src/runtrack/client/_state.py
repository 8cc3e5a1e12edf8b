"""The process-wide state of the SDK: the runs in progress and opened stores.

Kept in one object created on first use (not at import) so tests can reset it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import NoActiveRunError

if TYPE_CHECKING:
    from ..artifacts.base import ArtifactStore
    from ..settings import Settings
    from ..store.base import TrackingStore
    from .run import Run


@dataclass
class ProcessState:
    runs: list[Run] = field(default_factory=list)  # innermost (current) last
    seeds: dict[str, Any] = field(default_factory=dict)
    stores: dict[str, TrackingStore] = field(default_factory=dict)
    artifact_stores: dict[str, ArtifactStore] = field(default_factory=dict)
    recovered: set[str] = field(default_factory=set)
    # (server, project) where this process created a run: later runs there are created
    # by their first shipment (one request), not by a round trip in init()
    created_in: set[tuple[str, str]] = field(default_factory=set)
    direct_client: Any = None  # httpx2.Client for presigned URLs, made on first use
    # while a sweep agent runs trials in this process: the git / environment / Hydra
    # provenance of its first trial, reused by the next ones (the code every trial runs is
    # what this process loaded; capturing git costs ~20 ms of CPU in child processes)
    shared_provenance: dict[str, Any] | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)

    def current(self) -> Run:
        with self.lock:
            if not self.runs:
                raise NoActiveRunError("no active run: call runtrack.init() first")
            return self.runs[-1]

    def store(self, settings: Settings) -> TrackingStore:
        from ..store.registry import open_store

        url = settings.store_url
        with self.lock:
            st = self.stores.get(url)
            if st is None:
                if settings.url:  # a team server
                    st = open_store(url, token=settings.token)
                else:
                    st = open_store(
                        url,
                        crash_after=settings.crash_after,
                        auto_upgrade=url.startswith("sqlite"),
                        console_max_bytes=settings.console_max_bytes,
                    )
                self.stores[url] = st
            return st

    def artifact_store(self, settings: Settings, project: str | None = None) -> ArtifactStore:
        """Where artifacts go. With a team server (``RUNTRACK_URL``) and a ``project``:
        that project's blobs on the server. Otherwise the local store under
        ``artifacts_dir``, which is also where a remote run spools the blobs of an
        artifact logged while the server was unreachable (shipped with the journal)."""
        if settings.url and project is not None:
            return self._remote_artifact_store(settings, project)
        from ..artifacts.registry import open_artifact_store

        key = str(settings.artifacts_dir)
        with self.lock:
            st = self.artifact_stores.get(key)
            if st is None:
                st = self.artifact_stores[key] = open_artifact_store(settings.artifacts_dir)
            return st

    def artifact_target(self, settings: Settings) -> Callable[[str], ArtifactStore]:
        """``project -> ArtifactStore`` of the store ``settings`` name (for sync)."""
        return lambda project: self.artifact_store(settings, project)

    def _remote_artifact_store(self, settings: Settings, project: str) -> ArtifactStore:
        import httpx2

        from ..artifacts.rest import RestArtifactStore
        from ..store.rest import RestStore

        key = f"{settings.store_url}#{project}"
        with self.lock:
            st = self.artifact_stores.get(key)
            if st is None:
                rest = self.store(settings)
                assert isinstance(rest, RestStore)
                if self.direct_client is None:
                    # presigned object-store URLs: no server token on these requests
                    self.direct_client = httpx2.Client(timeout=httpx2.Timeout(300, connect=10))
                st = RestArtifactStore(rest.client, project, direct=self.direct_client)
                self.artifact_stores[key] = st
            return st


STATE = ProcessState()
