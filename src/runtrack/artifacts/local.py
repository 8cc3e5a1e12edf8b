"""``LocalArtifactStore``: blobs as files in a directory on a local (or shared POSIX) disk.

Layout::

    root/
      sha256/ab/cd/abcd...64 hex...   one read-only (0o444) file per blob
      tmp/.rt-<random>.tmp            puts in progress (same filesystem as sha256/)

How a put stays atomic and stores each blob once: the bytes are streamed into a new temp
file in ``tmp/`` while being hashed (with ``O_DIRECT``, bypassing the page cache, where
the filesystem allows it: see ``_blobfile``), flushed to disk (``fsync``) and made
read-only; then
the temp is hard-linked to its final name. ``link`` fails if the name exists, so when
several threads or processes put the same content at once exactly one link wins
(``created=True``) and the others discard their temps (``created=False``); readers only
ever find complete files under ``sha256/``. On filesystems without hard links the temp is
renamed into place instead (``os.replace``, also atomic); racing puts may then both report
``created=True``, and the blob is still stored once.

A put that dies mid-way (SIGKILL, power loss) may leave a temp file behind, never a blob;
:meth:`LocalArtifactStore.cleanup_temp` removes stale ones.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Final

from ..errors import ArtifactNotFoundError, IntegrityError, StoreError, ValidationError
from ._blobfile import BlobFile, Buffers
from .base import (
    ArtifactStore,
    BinarySource,
    BlobInfo,
    _unlink_quietly,
    is_digest,
    validate_digest,
)

__all__ = ["LocalArtifactStore"]

BLOB_MODE: Final = 0o444
_FAN_OUT: Final = re.compile(r"[0-9a-f]{2}")
_TEMP_NAME: Final = re.compile(r"\.rt-[0-9a-f]{16}\.tmp")


class LocalArtifactStore(ArtifactStore):
    """An ``ArtifactStore`` in the directory ``root`` (created if missing).

    Safe for any number of threads and processes on one machine, and for several machines
    sharing ``root`` over a filesystem with atomic ``link``/``rename`` (NFSv3+, most
    cluster filesystems). Everything else is as in the ``ArtifactStore`` contract; here
    exactly one of several racing puts of new content reports ``created=True`` (on
    filesystems with hard links). Raises ``StoreError`` if ``root`` cannot be used.

    ``direct_io``: write new blobs with ``O_DIRECT`` where the filesystem accepts it
    (False: always through the page cache). Each thread reuses one 1 MiB buffer.
    """

    def __init__(self, root: str | os.PathLike[str], *, direct_io: bool = True) -> None:
        self._root = Path(root).absolute()
        self._direct = direct_io
        self._buffers = Buffers()
        self._blobs = self._root / "sha256"
        self._tmp = self._root / "tmp"
        try:
            self._blobs.mkdir(parents=True, exist_ok=True)
            self._tmp.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot use {self._root} as an artifact store: {exc}") from exc

    @property
    def root(self) -> Path:
        return self._root

    def __repr__(self) -> str:
        return f"LocalArtifactStore({str(self._root)!r})"

    def _path(self, digest: str) -> Path:
        validate_digest(digest)
        return self._blobs / digest[:2] / digest[2:4] / digest

    # -- primitives --------------------------------------------------------------------
    def put(self, source: BinarySource, *, expected_digest: str | None = None) -> BlobInfo:
        if expected_digest is not None:
            validate_digest(expected_digest)
        try:
            temp = BlobFile(self._tmp, direct=self._direct)
        except OSError as exc:
            raise StoreError(f"local artifact store: cannot create a temp file: {exc}") from exc
        try:
            digest, size = temp.fill(source, self._buffers.get())
            if expected_digest is not None and digest != expected_digest:
                raise IntegrityError(
                    f"the content hashes to {digest} ({size} bytes), not to the expected "
                    f"{expected_digest}; nothing was stored"
                )
            final = self._path(digest)
            if _touch(final):
                return BlobInfo(digest, size, created=False)
            temp.seal(BLOB_MODE)
            temp.close()
            return BlobInfo(digest, size, created=self._publish(temp.path, final))
        except OSError as exc:
            raise StoreError(f"local artifact store: cannot store a blob: {exc}") from exc
        finally:
            temp.close()
            _unlink_quietly(temp.path)

    def _publish(self, temp: Path, final: Path) -> bool:
        """Give the complete temp its final name; False if another put got there first."""
        try:
            os.link(temp, final)
        except FileExistsError:
            return False
        except FileNotFoundError:  # the first blob of its fan-out directory
            final.parent.mkdir(parents=True, exist_ok=True)
            return self._publish(temp, final)
        except OSError:  # no hard links here (some FUSE/SMB mounts): rename instead
            if final.is_file():
                return False
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp, final)
        _fsync_dir(final.parent)
        return True

    def open(self, digest: str) -> BinaryIO:
        path = self._path(digest)
        try:
            return open(path, "rb")  # the caller closes it
        except FileNotFoundError:
            raise _not_found(digest) from None
        except OSError as exc:
            raise StoreError(f"local artifact store: cannot open blob {digest}: {exc}") from exc

    def exists(self, digest: str) -> bool:
        return self._path(digest).is_file()

    def touch(self, digest: str) -> bool:
        return _touch(self._path(digest))

    def size(self, digest: str) -> int:
        path = self._path(digest)
        try:
            return os.stat(path).st_size
        except FileNotFoundError:
            raise _not_found(digest) from None
        except OSError as exc:
            raise StoreError(f"local artifact store: cannot stat blob {digest}: {exc}") from exc

    def last_put(self, digest: str) -> float:
        try:
            return os.stat(self._path(digest)).st_mtime
        except FileNotFoundError:
            raise _not_found(digest) from None
        except OSError as exc:
            raise StoreError(f"local artifact store: cannot stat blob {digest}: {exc}") from exc

    def delete(self, digest: str) -> bool:
        path = self._path(digest)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StoreError(f"local artifact store: cannot delete blob {digest}: {exc}") from exc
        return True

    def iter_digests(self) -> Iterator[str]:
        """Walk ``sha256/??/??/``; stray files and directories are ignored."""
        for first in _names(self._blobs, dirs=True):
            if not _FAN_OUT.fullmatch(first):
                continue
            for second in _names(self._blobs / first, dirs=True):
                if not _FAN_OUT.fullmatch(second):
                    continue
                for name in _names(self._blobs / first / second, dirs=False):
                    if is_digest(name) and name[:2] == first and name[2:4] == second:
                        yield name

    # -- maintenance -------------------------------------------------------------------
    def cleanup_temp(self, max_age_s: float = 3600.0) -> int:
        """Remove temp files of puts that died, unmodified for ``max_age_s`` seconds.

        A put in progress rewrites its temp file at every block, so it is never taken for
        a stale one unless its source stalls for longer than ``max_age_s``. Returns how
        many files were removed.
        """
        if (
            isinstance(max_age_s, bool)
            or not isinstance(max_age_s, int | float)
            or math.isnan(max_age_s)
            or max_age_s < 0
        ):
            raise ValidationError(f"max_age_s must be a number of seconds >= 0, not {max_age_s!r}")
        cutoff = time.time() - max_age_s
        removed = 0
        for name in _names(self._tmp, dirs=False):
            if not _TEMP_NAME.fullmatch(name):
                continue
            path = self._tmp / name
            try:
                if os.stat(path).st_mtime < cutoff:
                    os.unlink(path)
                    removed += 1
            except FileNotFoundError:
                continue  # its put finished meanwhile
            except OSError as exc:
                raise StoreError(f"local artifact store: cannot remove {path}: {exc}") from exc
        return removed


def _not_found(digest: str) -> ArtifactNotFoundError:
    return ArtifactNotFoundError(f"no blob {digest} in the artifact store")


def _names(directory: Path, *, dirs: bool) -> list[str]:
    """Names of the subdirectories (``dirs``) or regular files in ``directory``, links not
    followed; [] if it vanished. Listed at once so no directory handle outlives a yield."""
    try:
        with os.scandir(directory) as entries:
            return [
                e.name
                for e in entries
                if (e.is_dir(follow_symlinks=False) if dirs else e.is_file(follow_symlinks=False))
            ]
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StoreError(f"local artifact store: cannot list {directory}: {exc}") from exc


def _fsync_dir(directory: Path) -> None:
    """Make a new directory entry durable (POSIX); best effort where unsupported."""
    if os.name != "posix":  # pragma: no cover
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _touch(path: Path) -> bool:
    """Mark a blob as put now (``last_put``); False if there is no such blob. A race with
    ``gc`` deleting it is harmless: whoever records a version referencing the blob checks
    that it still exists once gc's rounds are over (``runtrack.store.gc``)."""
    try:
        os.utime(path)
    except FileNotFoundError:
        return False
    except PermissionError:  # a blob of another user on a shared store: exists, kept as is
        return path.is_file()
    return True
