"""Open a ``TrackingStore`` from a URL: the one place that maps schemes to backends."""

from __future__ import annotations

from typing import Any

from ..errors import ValidationError
from .base import TrackingStore


def open_store(url: str, **options: Any) -> TrackingStore:
    """``sqlite:///path``, ``postgresql://...`` -> ``SqlStore``.

    ``options`` go to the backend (``crash_after``, ``auto_upgrade``, ``console_max_bytes``).
    """
    scheme = url.split(":", 1)[0].lower()
    if scheme.startswith(("sqlite", "postgres")):
        from .sql.store import SqlStore

        return SqlStore(url, **options)
    if scheme in ("http", "https"):
        raise ValidationError(
            f"{url!r} is a team server URL; this build of runtrack has no team-server client "
            "yet. Unset RUNTRACK_URL to use the embedded store."
        )
    raise ValidationError(
        f"store URL {url!r} is not supported: use sqlite:///path, postgresql://user@host/db "
        "or a team server's http(s):// URL"
    )
