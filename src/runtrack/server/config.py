"""How a server is configured: from ``runtrack server`` options (and the environment for
what the options leave out). Read once at start; nothing reads the environment later."""

from __future__ import annotations

from dataclasses import dataclass, field

from .limits import Limits

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclass(frozen=True, slots=True)
class ServerConfig:
    db_url: str
    artifacts: str
    auth: bool = True  # False only on loopback, or with --insecure-no-auth
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS  # the Host header must be one of these
    allowed_origins: tuple[str, ...] = ()  # CORS and Origin checks; never "*"
    crash_after: float = 90.0
    console_max_bytes: int = 10_000_000
    auto_upgrade: bool = False
    limits: Limits = field(default_factory=Limits)
    access_log: bool = True
