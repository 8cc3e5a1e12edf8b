"""The app factory: ``create_app(config)`` builds the server; nothing global.

Stores are constructor arguments (tests inject them; ``runtrack server`` opens them from
its options). The app holds no state of its own beyond caches of immutable facts (a
run's project), so any number of server processes can share one database and one
artifact store.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import Response

from .. import __version__
from . import errors
from .auth import Authenticator, OpenAccess
from .config import ServerConfig
from .errors import error_response
from .routers import artifacts as artifact_routes
from .routers import health, projects, runs, users

if TYPE_CHECKING:
    from ..artifacts.base import ArtifactStore
    from ..store.base import TrackingStore

access_log = logging.getLogger("runtrack.access")
_SAFE = {"GET", "HEAD", "OPTIONS"}


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
    errors.install(app)
    for module in (health, projects, runs, users, artifact_routes):
        app.include_router(module.router)

    _install_origin_check(app, config)
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
        _install_access_log(app)
    return app


def _authenticator(config: ServerConfig, store: TrackingStore) -> Authenticator:
    if not config.auth:
        return OpenAccess()
    from .users import SqlAuthenticator

    authenticator: Authenticator = SqlAuthenticator(config.db_url)
    return authenticator


def _install_origin_check(app: FastAPI, config: ServerConfig) -> None:
    allowed = set(config.allowed_origins)

    @app.middleware("http")
    async def origin_check(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        origin = request.headers.get("origin")
        if origin is not None and request.method not in _SAFE and origin not in allowed:
            return error_response(
                403,
                "forbidden_origin",
                f"requests from origin {origin!r} are not allowed; "
                "start the server with --allow-origin to allow it",
            )
        return await call_next(request)


def _install_access_log(app: FastAPI) -> None:
    @app.middleware("http")
    async def log_access(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        start = time.perf_counter()
        response = await call_next(request)
        principal = getattr(request.state, "principal", None)
        access_log.info(
            json.dumps(
                {
                    "method": request.method,
                    "path": request.url.path,  # never the query string
                    "status": response.status_code,
                    "ms": round((time.perf_counter() - start) * 1000, 2),
                    "user": getattr(principal, "name", None),
                    "client": request.client.host if request.client else None,
                }
            )
        )
        return response
