"""What routes share: the stores on the app's state, and how a route finds its project."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Request

from ..errors import RunNotFoundError
from ..validation import check_existing_run_id

if TYPE_CHECKING:
    from ..artifacts.base import ArtifactStore
    from ..store.base import TrackingStore
    from .config import ServerConfig


def store(request: Request) -> TrackingStore:
    return request.app.state.store  # type: ignore[no-any-return]


def artifacts(request: Request) -> ArtifactStore:
    return request.app.state.artifacts  # type: ignore[no-any-return]


def config(request: Request) -> ServerConfig:
    return request.app.state.config  # type: ignore[no-any-return]


def project_of_path(request: Request) -> str:
    return str(request.path_params["project"])


def project_of_run(request: Request) -> str:
    """The project of the run named in the path (a run never moves, so it is cached)."""
    run_id = check_existing_run_id(request.path_params["run_id"])
    cache: dict[str, str] = request.app.state.run_projects
    name = cache.get(run_id)
    if name is None:
        name = store(request).run_project(run_id)
        if len(cache) > 100_000:
            cache.clear()
        cache[run_id] = name
    return name


def _cached_project_of_run(request: Request) -> str | None:
    cache: dict[str, str] = request.app.state.run_projects
    return cache.get(request.path_params.get("run_id", ""))


project_of_run.peek = _cached_project_of_run  # type: ignore[attr-defined]
project_of_run.unknown = lambda request: RunNotFoundError(  # type: ignore[attr-defined]
    f"run {request.path_params['run_id']!r} does not exist"
)
