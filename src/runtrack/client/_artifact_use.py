"""Using an artifact version: the handle ``run.use_artifact`` returns, and the local cache
its ``download()`` fills.

The cache lives under ``RUNTRACK_DIR/cache/artifacts/<manifest digest>/``: one directory
per distinct content, shared by every run and process on the machine. It is filled in a
temporary directory, every file verified against its sha256, then renamed into place, so
a reader never sees a half-written version. A marker file remembers the size and mtime of
each file as written (``<digest>.complete.json`` beside the directory); a cached directory
whose files were changed since (someone edited a
file in place) is checked again and mended (files with the wrong content are fetched
again), never silently served.

Reference files (``s3://``, ``https://``, ``file://``) are fetched from where they live and
hashed here, by the client, before they are trusted; a file whose content no longer has
the recorded digest raises ``IntegrityError`` naming the URI.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..entities import ArtifactFile, ArtifactVersion
from ..errors import IntegrityError, ValidationError

if TYPE_CHECKING:
    from ..artifacts.base import ArtifactStore


def _marker(directory: Path) -> Path:
    """Beside the directory, not in it: a download holds exactly the artifact's files."""
    return directory.with_name(directory.name + ".complete.json")


Progress = Callable[[int, int], None]


class ArtifactHandle:
    """An artifact version a run uses. ``download()`` returns a local directory holding
    its files (verified); attributes of the version are available directly
    (``handle.version``, ``handle.digest``, ``handle.aliases``...)."""

    def __init__(
        self,
        version: ArtifactVersion,
        files: Sequence[ArtifactFile],
        blobs: Callable[[], ArtifactStore],
        cache_dir: Path,
    ) -> None:
        self._version = version
        self._files = tuple(files)
        self._blobs = blobs
        self._cache_dir = cache_dir

    def __getattr__(self, name: str) -> Any:
        return getattr(self._version, name)

    def __repr__(self) -> str:
        v = self._version
        return f"<ArtifactHandle {v.project}/{v.name}:{v.version} {v.type} {v.size:,} bytes>"

    @property
    def record(self) -> ArtifactVersion:
        return self._version

    @property
    def files(self) -> tuple[ArtifactFile, ...]:
        return self._files

    def download(self, root: str | Path | None = None, *, progress: bool | None = None) -> Path:
        """The version's files in a local directory: the shared, verified cache by
        default, or a copy under ``root``. Returns the directory (for a single-file
        artifact, the file is inside it; see ``file()``)."""
        cached = fetch_to_cache(
            self._files, self._version.digest, self._blobs, self._cache_dir, progress=progress
        )
        if root is None:
            return cached
        dest = Path(root)
        dest.mkdir(parents=True, exist_ok=True)
        for entry in self._files:
            target = dest.joinpath(*entry.path.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(cached.joinpath(*entry.path.split("/")), target)
        return dest

    def file(self, path: str | None = None) -> Path:
        """The local path of one file (``path`` may be omitted for a one-file artifact)."""
        if path is None:
            if len(self._files) != 1:
                raise ValidationError(
                    f"artifact {self._version.ref} has {len(self._files)} files: name one "
                    f"({', '.join(f.path for f in self._files[:5])}...)"
                )
            path = self._files[0].path
        if not any(f.path == path for f in self._files):
            raise ValidationError(f"artifact {self._version.ref} has no file {path!r}")
        return self.download().joinpath(*path.split("/"))


def fetch_to_cache(
    files: Sequence[ArtifactFile],
    digest: str,
    blobs: Callable[[], ArtifactStore],
    cache_dir: Path,
    *,
    progress: bool | None = None,
) -> Path:
    """The cache directory of a manifest, filled and verified (see the module docstring)."""
    from ..artifacts.base import validate_digest

    root = cache_dir / "artifacts"
    final = root / validate_digest(digest)
    if _intact(final, files):
        return final
    root.mkdir(parents=True, exist_ok=True)
    if final.is_dir():  # edited since it was written: mend it in place
        _fill(final, files, blobs, progress)
        return final
    temp = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=root))
    try:
        _fill(temp, files, blobs, progress, marker=False)
        try:
            os.rename(temp, final)
        except OSError:
            if not final.is_dir():
                raise
            _fill(final, files, blobs, progress)  # another process got there first
        else:
            _write_marker(final, files)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return final


def _fill(
    dest: Path,
    files: Sequence[ArtifactFile],
    blobs: Callable[[], ArtifactStore],
    progress: bool | None,
    *,
    marker: bool = True,
) -> None:
    from ..artifacts.manifest import materialize

    stored = [f for f in files if f.ref is None]
    refs = [f for f in files if f.ref is not None]
    total = sum(f.size for f in files)
    with _bar(total, progress) as advance:
        if stored:
            done = [0]

            def report(n: int, _total: int) -> None:
                advance(n - done[0])
                done[0] = n

            materialize(stored, blobs(), dest, progress=report)
        for entry in refs:
            fetch_reference(entry, dest.joinpath(*entry.path.split("/")))
            advance(entry.size)
    if marker:
        _write_marker(dest, files)


def _write_marker(dest: Path, files: Sequence[ArtifactFile]) -> None:
    state = {}
    for f in files:
        st = dest.joinpath(*f.path.split("/")).stat()
        state[f.path] = [st.st_size, st.st_mtime_ns]
    temp = _marker(dest).with_suffix(".tmp")
    temp.write_text(json.dumps(state))
    os.replace(temp, _marker(dest))


def _intact(final: Path, files: Sequence[ArtifactFile]) -> bool:
    try:
        state = json.loads(_marker(final).read_text())
        for f in files:
            st = final.joinpath(*f.path.split("/")).stat()
            if state.get(f.path) != [st.st_size, st.st_mtime_ns] or st.st_size != f.size:
                return False
    except (OSError, ValueError, AttributeError):
        return False
    return True


@contextlib.contextmanager
def _bar(total: int, enabled: bool | None) -> Any:
    """A Rich progress bar on a terminal for downloads over 10 MB (or when asked)."""
    import sys

    show = enabled if enabled is not None else (total > 10_000_000 and sys.stderr.isatty())
    if not show:
        yield lambda n: None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task("downloading", total=total)
        yield lambda n: bar.advance(task, n)


# --------------------------------------------------------------------------------------
# Reference files: read and hashed by the client only
# --------------------------------------------------------------------------------------
def open_reference(uri: str) -> tuple[Any, str | None]:
    """A binary stream of the object at ``uri`` and its ETag (if its store gives one)."""
    scheme, _, rest = uri.partition("://")
    if scheme == "file":
        path = Path(rest if rest.startswith("/") else "/" + rest)
        return open(path, "rb"), None
    if scheme == "s3":
        from ..artifacts.s3 import make_s3_client

        bucket, _, key = rest.partition("/")
        client = make_s3_client(os.environ.get("AWS_ENDPOINT_URL_S3"))
        obj = client.get_object(Bucket=bucket, Key=key)
        return obj["Body"], str(obj.get("ETag", "")).strip('"') or None
    if scheme in ("http", "https"):
        import httpx2

        resp = httpx2.get(uri, follow_redirects=True, timeout=60)
        resp.raise_for_status()
        import io

        return io.BytesIO(resp.content), resp.headers.get("etag")
    raise ValidationError(f"cannot read reference {uri!r}: scheme {scheme!r} is not supported")


def fetch_reference(entry: ArtifactFile, target: Path) -> None:
    assert entry.ref is not None
    target.parent.mkdir(parents=True, exist_ok=True)
    hasher = hashlib.sha256()
    try:
        stream, _ = open_reference(entry.ref)
        with stream, open(target, "wb") as out:
            while block := stream.read(1 << 20):
                hasher.update(block)
                out.write(block)
    except (OSError, ValidationError) as exc:
        raise IntegrityError(f"cannot fetch reference {entry.ref}: {exc}") from exc
    except Exception as exc:  # boto3 / HTTP errors: say what failed, keep the cause
        raise IntegrityError(f"cannot fetch reference {entry.ref}: {exc}") from exc
    if hasher.hexdigest() != entry.digest:
        target.unlink(missing_ok=True)
        raise IntegrityError(
            f"reference {entry.ref} changed since it was recorded: its content hashes to "
            f"{hasher.hexdigest()}, the artifact recorded {entry.digest}"
        )


def hash_reference(uri: str) -> list[ArtifactFile]:
    """Manifest entries for a reference: one object, or every object under an ``s3://``
    prefix ending in '/' (paths relative to it). Content is read and hashed here."""
    scheme, _, rest = uri.partition("://")
    if scheme == "s3" and (rest.endswith("/") or "/" not in rest):
        from ..artifacts.s3 import make_s3_client

        bucket, _, prefix = rest.partition("/")
        client = make_s3_client(os.environ.get("AWS_ENDPOINT_URL_S3"))
        keys: list[str] = []
        try:
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for page in pages:
                keys += [o["Key"] for o in page.get("Contents", ()) if not o["Key"].endswith("/")]
        except Exception as exc:  # botocore: credentials, network, no such bucket
            raise ValidationError(f"cannot list {uri}: {exc}") from exc
        if not keys:
            raise ValidationError(f"no objects under {uri}")
        return [_hash_one(f"s3://{bucket}/{key}", key[len(prefix) :]) for key in keys]
    name = rest.rstrip("/").rsplit("/", 1)[-1] or "file"
    return [_hash_one(uri, name)]


def _hash_one(uri: str, path: str) -> ArtifactFile:
    hasher = hashlib.sha256()
    size = 0
    try:
        stream, etag = open_reference(uri)
        with stream:
            while block := stream.read(1 << 20):
                hasher.update(block)
                size += len(block)
    except ValidationError:
        raise
    except Exception as exc:
        raise ValidationError(f"cannot read reference {uri}: {exc}") from exc
    return ArtifactFile(path, hasher.hexdigest(), size, uri, etag)
