"""Open an ``ArtifactStore`` from a location: the one place that maps schemes to backends.

* a local directory, as a path or a ``file://`` URL -> ``LocalArtifactStore``
* ``s3://bucket`` or ``s3://bucket/prefix`` -> ``S3ArtifactStore``, with credentials and
  region from boto3's usual sources (environment, ``~/.aws``, an instance role) and the
  endpoint from ``RUNTRACK_S3_ENDPOINT_URL`` when set (MinIO, Ceph, moto, ...).

The team server's artifacts are reached through ``RestArtifactStore``, which needs an
authenticated HTTP client and a project: it is made by the SDK, not from a location.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ValidationError
from .base import ArtifactStore

S3_ENDPOINT_VARIABLE = "RUNTRACK_S3_ENDPOINT_URL"


def open_artifact_store(location: str | Path) -> ArtifactStore:
    """The store a location names; ``ValidationError`` for a scheme not supported."""
    text = str(location)
    if text.startswith("s3://"):
        return _open_s3(text)
    if text.startswith("file://"):
        text = text[len("file://") :]
    elif "://" in text:
        scheme = text.split("://", 1)[0]
        raise ValidationError(
            f"artifact location {text!r}: the scheme {scheme!r} is not supported; use a "
            "local directory or s3://bucket/prefix"
        )
    from .local import LocalArtifactStore

    return LocalArtifactStore(Path(text).expanduser())


def _open_s3(url: str) -> ArtifactStore:
    rest = url[len("s3://") :]
    bucket, _, prefix = rest.partition("/")
    if "?" in rest or "#" in rest:
        raise ValidationError(f"artifact location {url!r}: an S3 URL has no query or fragment")
    from .s3 import S3ArtifactStore, make_s3_client

    endpoint = os.environ.get(S3_ENDPOINT_VARIABLE) or None
    return S3ArtifactStore(bucket, prefix, client=make_s3_client(endpoint))
