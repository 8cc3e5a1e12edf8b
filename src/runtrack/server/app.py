"""The app factory: ``create_app(config)`` builds the server; nothing global.

Stores are constructor arguments (tests inject them; ``runtrack server`` opens them from
its options). The app holds no state of its own beyond caches of immutable facts (a
run's project), so any number of server processes can share one database and one
artifact store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware

from .. import __version__
from . import errors
from ._group import GroupCommit
from ._middleware import AccessLog, OriginCheck
from .auth import Authenticator, OpenAccess
from .config import ServerConfig
from .routers import artifacts as artifact_routes
from .routers import catalog, charts, health, models, projects, runs, sweeps, ui, users
from .routers import compare as compare_routes
from .routers import run_groups as run_group_routes

if TYPE_CHECKING:
    from ..artifacts.base import ArtifactStore
    from ..store.base import TrackingStore


def create_app(
    config: ServerConfig,
    *,
    store: TrackingStore | None = None,
    artifacts: ArtifactStore | None = None,
    authenticator: Authenticator | None = None,
) -> FastAPI:
    owned: list[object] = []
    if store is None:
        from ..store.registry import open_store

        store = open_store(
            config.db_url,
            crash_after=config.crash_after,
            auto_upgrade=config.auto_upgrade,
            console_max_bytes=config.console_max_bytes,
        )
        owned.append(store)
    if artifacts is None:
        from ..artifacts.registry import open_artifact_store

        artifacts = open_artifact_store(config.artifacts)
    if authenticator is None:
        authenticator = _authenticator(config, store)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        charts.preload()  # the first chart after a start does not wait for imports
        await _walk_routes(app)
        yield
        for resource in owned:  # in-flight requests have finished when this runs
            close = getattr(resource, "close", None)
            if close is not None:
                close()

    app = FastAPI(
        title="runtrack",
        version=__version__,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.config = config
    app.state.store = store
    app.state.artifacts = artifacts
    app.state.authenticator = authenticator
    app.state.open_access = isinstance(authenticator, OpenAccess)
    app.state.run_projects = {}
    app.state.known_projects = set()
    writers = getattr(store, "concurrent_writers", 1)  # SqlStore: 1 on SQLite
    app.state.group_commit = GroupCommit(
        app.state.store.create_runs,
        max_runs=config.limits.bulk_runs,
        max_records=config.limits.batch_records,
        concurrency=min(2, writers) if isinstance(writers, int) else 1,
    )
    errors.install(app)
    for module in (health, projects, runs, users, artifact_routes, catalog, models, sweeps):
        app.include_router(module.router)
    app.include_router(charts.router)
    app.include_router(run_group_routes.router)
    app.include_router(compare_routes.router)
    app.include_router(ui.router)  # the web UI: / and /ui/... (static, no data)

    app.add_middleware(OriginCheck, allowed=config.allowed_origins)
    if config.allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.allowed_origins),
            allow_credentials=False,
            allow_methods=["GET", "POST", "PUT", "DELETE", "HEAD"],
            allow_headers=["Authorization", "Content-Type", "Accept"],
        )
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(config.allowed_hosts))
    if config.access_log:
        app.add_middleware(AccessLog)
    return app


async def _walk_routes(app: FastAPI) -> None:
    """Have the router build its routes' state before the first request does. FastAPI
    builds it lazily, on the first request that walks past each router (~0.1 s of CPU
    for this app, paid by the page a fresh server serves first, before its data): one
    request for a path that is no route walks them all, answered 404 by the router
    itself (no middleware, no handler, no log). Best effort."""

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: object) -> None:
        return None

    path = "/.runtrack-start-up"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "client": ("127.0.0.1", 0),
        "server": ("127.0.0.1", 0),
    }
    try:
        await app.router(scope, receive, send)
    except Exception as e:  # an optimisation only
        import logging

        logging.getLogger("runtrack").debug("routes not walked at start-up: %s", e)


def _authenticator(config: ServerConfig, store: TrackingStore) -> Authenticator:
    if not config.auth:
        return OpenAccess()
    from .users import SqlAuthenticator

    authenticator: Authenticator = SqlAuthenticator(config.db_url)
    return authenticator
