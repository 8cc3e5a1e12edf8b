"""Fixtures for server tests: an app over a fresh SQLite store, in process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from runtrack.server.app import create_app
from runtrack.server.config import ServerConfig

AppFactory = Callable[..., FastAPI]


@pytest.fixture
def server_config(tmp_path: Path) -> ServerConfig:
    """Open access (no auth) on a fresh SQLite database and artifact directory."""
    return ServerConfig(
        db_url=f"sqlite:///{tmp_path / 'server.db'}",
        artifacts=str(tmp_path / "artifacts"),
        auth=False,
        auto_upgrade=True,
        allowed_hosts=("testserver", "127.0.0.1", "localhost"),
        access_log=False,
    )


@pytest.fixture
def app_factory(server_config: ServerConfig) -> AppFactory:
    """``app_factory(auth=True, ...)``: an app whose config is the fixture's with changes;
    keyword arguments that are not config fields (store=, artifacts=, authenticator=) go
    to ``create_app``."""

    def make(**changes: Any) -> FastAPI:
        inject = {
            k: changes.pop(k) for k in ("store", "artifacts", "authenticator") if k in changes
        }
        return create_app(replace(server_config, **changes), **inject)

    return make


@pytest.fixture
def client(app_factory: AppFactory) -> Iterator[TestClient]:
    with TestClient(app_factory()) as c:
        yield c
