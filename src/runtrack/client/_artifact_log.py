"""Recording an artifact version from ``run.log_artifact``, safe against a concurrent gc.

The writer's side of the protocol in ``runtrack.store.gc``: the run takes a gc mark before
it puts its blobs, records the version, then waits for the live gc rounds and puts again,
from the source files it still has, every blob a round deleted in between. Against a team
server the server does the waiting and checking and answers ``missing_blobs``; the blobs
it names are uploaded again and the call retried (the version is found recorded).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import IntegrityError, RuntrackError, ValidationError
from ..store.gc import blobs_lost_to_gc

if TYPE_CHECKING:
    from ..artifacts.base import ArtifactStore
    from ..artifacts.hashcache import HashCache
    from ..entities import ArtifactFile, ArtifactSpec, ArtifactVersion
    from ..store.base import TrackingStore

MISSING_BLOBS = "missing_blobs"  # the server's error code: blobs to upload (again)
_ATTEMPTS = 4


def record_version(
    store: TrackingStore,
    artifacts: ArtifactStore,
    run_id: str,
    spec: ArtifactSpec,
    source: Path,
    *,
    since: int | None,
) -> ArtifactVersion:
    """``store.log_artifact(run_id, spec)``, then make sure every blob of the version is
    in ``artifacts``, putting lost ones again from ``source`` (the logged path).

    Raises what ``log_artifact`` raises; ``IntegrityError`` if a lost blob's file changed
    since it was hashed (the version is recorded, but that content is gone).
    """
    for attempt in range(_ATTEMPTS):
        try:
            version = store.log_artifact(run_id, spec)
        except RuntrackError as exc:
            if exc.code != MISSING_BLOBS or attempt == _ATTEMPTS - 1:
                raise
            # not (or no longer) on the server: upload those blobs again, then retry
            restore(artifacts, source, _missing(artifacts, spec.files))
            continue
        restore(artifacts, source, blobs_lost_to_gc(store, artifacts, [spec], since=since))
        return version
    raise AssertionError("unreachable")  # pragma: no cover


def protect_journaled(
    store: TrackingStore,
    artifacts: ArtifactStore,
    spec: ArtifactSpec,
    source: Path,
    *,
    since: int | None,
) -> None:
    """After a version went to the journal instead of the store: its blobs are kept by
    every gc round that begins from now on (gc reads this machine's unsent journals at
    every round), so wait for the rounds live now and put again what they deleted."""
    restore(artifacts, source, blobs_lost_to_gc(store, artifacts, [spec], since=since))


def restore(artifacts: ArtifactStore, source: Path, files: Sequence[ArtifactFile]) -> None:
    """Put the blobs of ``files`` again from the files under ``source``, checked against
    their recorded digests."""
    if not files:
        return
    from ..artifacts.manifest import local_files

    paths = local_files(source)
    for f in files:
        fs_path = paths.get(f.path)
        if fs_path is None:
            raise ValidationError(
                f"{f.path!r} of the artifact was deleted by gc while it was recorded, and "
                f"is no longer under {str(source)!r} to be stored again"
            )
        try:
            with open(fs_path, "rb") as handle:
                artifacts.put(handle, expected_digest=f.digest)
        except OSError as exc:
            raise ValidationError(f"cannot read {fs_path!r}: {exc.strerror}") from exc
        except IntegrityError:
            raise IntegrityError(
                f"{f.path!r} changed after it was hashed, and its blob was deleted by a "
                "concurrent gc: the recorded version lacks that content; log the artifact "
                "again"
            ) from None


@contextlib.contextmanager
def hash_cache(cache_dir: Path | None) -> Iterator[HashCache | None]:
    """The SDK's hash cache (``<cache_dir>/hashes.sqlite``), closed afterwards; None
    without a cache directory."""
    if cache_dir is None:
        yield None
        return
    from ..artifacts.hashcache import HashCache

    cache = HashCache(cache_dir / "hashes.sqlite")
    try:
        yield cache
    finally:
        cache.close()


def _missing(artifacts: ArtifactStore, files: Sequence[ArtifactFile]) -> list[ArtifactFile]:
    seen: set[str] = set()
    out = []
    for f in files:
        if f.ref is None and f.digest not in seen:
            seen.add(f.digest)
            if not artifacts.exists(f.digest):
                out.append(f)
    return out
