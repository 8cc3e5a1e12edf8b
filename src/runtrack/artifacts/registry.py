"""Open an ``ArtifactStore`` from a location: the one place that maps schemes to backends."""

from __future__ import annotations

from pathlib import Path

from ..errors import ValidationError
from .base import ArtifactStore


def open_artifact_store(location: str | Path) -> ArtifactStore:
    """A local directory (path or ``file://`` URL) -> ``LocalArtifactStore``."""
    text = str(location)
    if text.startswith("file://"):
        text = text[len("file://") :]
    elif "://" in text:
        raise ValidationError(
            f"artifact location {text!r} is not supported in this build: use a local directory"
        )
    from .local import LocalArtifactStore

    return LocalArtifactStore(Path(text).expanduser())
