"""Open a ``TrackingStore`` from a URL: the one place that maps schemes to backends."""

from __future__ import annotations

from typing import Any

from ..errors import ValidationError
from .base import TrackingStore


def open_store(url: str, *, token: str | None = None, **options: Any) -> TrackingStore:
    """``sqlite:///path``, ``postgresql://...`` -> ``SqlStore`` (``options``:
    ``crash_after``, ``auto_upgrade``, ``console_max_bytes``); ``http(s)://host:port`` ->
    ``RestStore`` with the API ``token``."""
    scheme = url.split(":", 1)[0].lower()
    if scheme.startswith(("sqlite", "postgres")):
        from .sql.store import SqlStore

        return SqlStore(url, **options)
    if scheme in ("http", "https"):
        from .rest import RestStore

        return RestStore(url, token=token)
    raise ValidationError(
        f"store URL {url!r} is not supported: use sqlite:///path, postgresql://user@host/db "
        "or a team server's http(s):// URL"
    )
