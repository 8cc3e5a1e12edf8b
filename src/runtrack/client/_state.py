"""The process-wide state of the SDK: the runs in progress and opened stores.

Kept in one object created on first use (not at import) so tests can reset it.
"""

from __future__ import annotations

import threading
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

    def artifact_store(self, settings: Settings) -> ArtifactStore:
        from ..artifacts.registry import open_artifact_store

        key = str(settings.artifacts_dir)
        with self.lock:
            st = self.artifact_stores.get(key)
            if st is None:
                st = self.artifact_stores[key] = open_artifact_store(settings.artifacts_dir)
            return st


STATE = ProcessState()
