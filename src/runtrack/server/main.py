"""Running the server: configuration from ``runtrack server`` options, and the factory
Uvicorn's worker processes call (they receive the configuration through the environment,
as JSON, because each worker is a fresh process)."""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import asdict, fields
from typing import Any

from fastapi import FastAPI

from ..errors import ValidationError
from .config import LOOPBACK_HOSTS, ServerConfig
from .limits import Limits

CONFIG_ENV = "RUNTRACK_SERVER_CONFIG"


def is_loopback(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def build_config(
    *,
    host: str,
    db_url: str,
    artifacts: str,
    auth: bool | None,
    insecure_no_auth: bool,
    allow_origins: tuple[str, ...] = (),
    allowed_hosts: tuple[str, ...] = (),
    crash_after: float = 90.0,
    console_max_bytes: int = 10_000_000,
) -> ServerConfig:
    """Decide auth and host checks from where the server listens:

    * loopback: no auth by default (``--auth`` turns it on); only loopback Host names;
    * any other address: auth, unless ``--insecure-no-auth``; Host names from
      ``--allowed-host`` (any when none is given: tokens protect the API then).
    """
    loopback = is_loopback(host)
    if "*" in allow_origins:
        raise ValidationError(
            "--allow-origin '*' is refused: name each origin that may "
            "call the API (e.g. https://runtrack.example.org)"
        )
    if insecure_no_auth:
        use_auth = False
    elif auth is None:
        use_auth = not loopback
    elif not auth and not loopback:
        raise ValidationError(
            f"refusing to serve {host} without authentication: anyone who can reach it could "
            "read and change every run. Use tokens (create a user with `runtrack admin "
            "create-user`), or pass --insecure-no-auth if this network is trusted."
        )
    else:
        use_auth = auth
    hosts = tuple(
        dict.fromkeys([*LOOPBACK_HOSTS, *allowed_hosts] if loopback or allowed_hosts else ["*"])
    )
    if loopback and host not in hosts:
        hosts = (*hosts, host)
    return ServerConfig(
        db_url=db_url,
        artifacts=artifacts,
        auth=use_auth,
        allowed_hosts=hosts,
        allowed_origins=tuple(allow_origins),
        crash_after=crash_after,
        console_max_bytes=console_max_bytes,
        auto_upgrade=db_url.startswith("sqlite"),
    )


def config_to_env(config: ServerConfig) -> str:
    return json.dumps(asdict(config))


def config_from_env() -> ServerConfig:
    raw = os.environ.get(CONFIG_ENV)
    if not raw:
        raise RuntimeError(f"{CONFIG_ENV} is not set (start the server with `runtrack server`)")
    d: dict[str, Any] = json.loads(raw)
    d["limits"] = Limits(**d.get("limits", {}))
    for f in fields(ServerConfig):
        if f.name in d and isinstance(d[f.name], list):
            d[f.name] = tuple(d[f.name])
    return ServerConfig(**d)


def app_from_env() -> FastAPI:
    """The factory each Uvicorn worker calls."""
    from .app import create_app

    return create_app(config_from_env())
