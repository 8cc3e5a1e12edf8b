"""Content hashes of the datasets a run reads (``run.use_dataset``).

Digest scheme (stable: stored digests are compared across machines and years)
------------------------------------------------------------------------------
* **File**: the sha256 hex of its bytes.
* **Directory**: every regular file below it is listed by its path relative to the
  directory, with ``/`` as separator, encoded with ``os.fsencode`` (UTF-8 on POSIX, lone
  bytes kept by ``surrogateescape``). The list is sorted by those bytes and the digest is::

      sha256(b"runtrack-dir-v1\\n" + b"".join(path + b"\\0" + file_sha256_hex + b"\\n"))

  Empty directories, file modes and times do not count; renaming a file changes the
  digest, as does any byte of content. Symbolic links are followed (to files and to
  directories) and a file reached through two paths is listed under both; a link back to a
  directory above it is not followed, so a walk never loops. Directories named ``.git``,
  ``.hg``, ``.svn`` and ``.dvc`` (version-control metadata, never data) are skipped, as
  are sockets, FIFOs and devices. Dangling links are skipped.

Cache
-----
Hashing a large dataset is slow, so each file's digest is kept in a small SQLite database
(``dataset-hashes.sqlite`` under ``cache_dir``, WAL mode, safe for several processes). An
entry is used only while the file's absolute path, device, inode, size, ``mtime_ns`` and
``ctime_ns`` are all unchanged; otherwise the file is hashed again. Files modified in the
last :data:`RACY_SECONDS` are hashed but not cached (their time stamp cannot yet tell a
later same-size rewrite apart). A cache that cannot be opened or written only costs
speed: hashing goes on without it (a warning is logged).

DVC
---
When ``<path>.dvc`` exists its ``outs[0].md5`` is recorded; otherwise the nearest
``dvc.lock`` in the dataset's directory or a parent (up to the git work tree's root or the
filesystem root) that lists an ``out`` whose ``path`` is the dataset gives its ``md5``.
``dvc_source`` is the absolute path of the file the value came from.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Final, Literal

from ...entities import DatasetInput
from ...errors import ValidationError

__all__ = [
    "CACHE_FILENAME",
    "DIR_DIGEST_PREFIX",
    "SKIPPED_DIR_NAMES",
    "find_dvc_md5",
    "hash_dataset",
]

DIR_DIGEST_PREFIX: Final = b"runtrack-dir-v1\n"
SKIPPED_DIR_NAMES: Final = frozenset({".git", ".hg", ".svn", ".dvc"})
CACHE_FILENAME: Final = "dataset-hashes.sqlite"
RACY_SECONDS: Final = 2.0
_BLOCK: Final = 1 << 20
_CHANGE_RETRIES: Final = 3
_FLUSH_EVERY: Final = 500

_log = logging.getLogger("runtrack")


def hash_dataset(path: str | Path, *, cache_dir: Path, name: str | None = None) -> DatasetInput:
    """Hash the file or directory at ``path`` (see the module docstring for the scheme).

    The record's ``path`` is the absolute path (``~`` expanded, symbolic links kept as
    given). Raises ``ValidationError`` when the path does not exist, is neither a file
    nor a directory, or a file or directory in it cannot be read, or keeps changing while
    it is being hashed.
    """
    given = os.fspath(path)
    target = Path(os.path.abspath(os.path.expanduser(given)))
    try:
        info = os.stat(target)
    except FileNotFoundError:
        raise ValidationError(f"dataset path {given!r} does not exist") from None
    except OSError as exc:
        raise ValidationError(f"dataset path {given!r} cannot be read: {_reason(exc)}") from exc

    kind: Literal["file", "directory"]
    with _open_cache(Path(cache_dir)) as cache:
        if stat.S_ISREG(info.st_mode):
            digest, size = cache.file_digest(str(target), info)
            kind = "file"
            count = 1
        elif stat.S_ISDIR(info.st_mode):
            digest, size, count = _directory_digest(target, info, cache)
            kind = "directory"
        else:
            raise ValidationError(f"dataset path {given!r} is not a regular file or directory")

    dvc_md5, dvc_source = find_dvc_md5(target)
    return DatasetInput(
        path=str(target),
        digest=digest,
        size=size,
        file_count=count,
        kind=kind,
        name=name,
        dvc_md5=dvc_md5,
        dvc_source=dvc_source,
    )


# --------------------------------------------------------------------------------------
# directories
# --------------------------------------------------------------------------------------
def _directory_digest(root: Path, info: os.stat_result, cache: _HashCache) -> tuple[str, int, int]:
    listing: list[tuple[bytes, str]] = []
    total = 0
    for rel, full, file_info in _walk(root, info):
        digest, size = cache.file_digest(full, file_info)
        listing.append((os.fsencode(rel), digest))
        total += size
    listing.sort()
    h = hashlib.sha256(DIR_DIGEST_PREFIX)
    for rel_bytes, digest in listing:
        h.update(rel_bytes + b"\0" + digest.encode("ascii") + b"\n")
    return h.hexdigest(), total, len(listing)


def _walk(root: Path, info: os.stat_result) -> Iterator[tuple[str, str, os.stat_result]]:
    """(relative POSIX path, full path, stat) of every regular file, links followed."""
    stack: list[tuple[str, str, frozenset[tuple[int, int]]]] = [
        (str(root), "", frozenset({(info.st_dev, info.st_ino)}))
    ]
    while stack:
        directory, prefix, ancestors = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = list(it)
        except OSError as exc:
            raise ValidationError(
                f"dataset directory {directory!r} cannot be read: {_reason(exc)}"
            ) from exc
        for entry in entries:
            rel = prefix + entry.name
            try:
                entry_info = entry.stat(follow_symlinks=True)
            except FileNotFoundError:
                continue  # a dangling link, or removed while we walked
            except OSError as exc:
                raise ValidationError(
                    f"dataset file {entry.path!r} cannot be read: {_reason(exc)}"
                ) from exc
            if stat.S_ISDIR(entry_info.st_mode):
                key = (entry_info.st_dev, entry_info.st_ino)
                if entry.name in SKIPPED_DIR_NAMES or key in ancestors:
                    continue
                stack.append((entry.path, rel + "/", ancestors | {key}))
            elif stat.S_ISREG(entry_info.st_mode):
                yield rel, entry.path, entry_info


# --------------------------------------------------------------------------------------
# files and the cache
# --------------------------------------------------------------------------------------
def _sha256_file(path: str) -> tuple[str, os.stat_result]:
    """Digest of a file and the stat of what was read; retried if it changes meanwhile."""
    buffer = bytearray(_BLOCK)
    view = memoryview(buffer)
    for _ in range(_CHANGE_RETRIES):
        try:
            with open(path, "rb", buffering=0) as fh:
                before = os.fstat(fh.fileno())
                h = hashlib.sha256()
                while True:
                    n = fh.readinto(view)
                    if not n:
                        break
                    h.update(view[:n])
                after = os.fstat(fh.fileno())
        except OSError as exc:
            raise ValidationError(f"dataset file {path!r} cannot be read: {_reason(exc)}") from exc
        if _signature(before) == _signature(after):
            return h.hexdigest(), after
    raise ValidationError(f"dataset file {path!r} kept changing while it was being hashed")


def _signature(info: os.stat_result) -> tuple[int, int, int, int, int]:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def _int64(value: int) -> int:
    """SQLite integers are signed 64-bit; some filesystems hand out inodes above 2**63."""
    return value - (1 << 64) if value >= (1 << 63) else value


class _HashCache:
    """Per-file digests keyed by path and stat identity. Not shared between threads."""

    def __init__(self, conn: sqlite3.Connection | None) -> None:
        self._conn = conn
        self._pending: list[tuple[Any, ...]] = []
        self._racy_after_ns = time.time_ns() - int(RACY_SECONDS * 1e9)

    def file_digest(self, path: str, info: os.stat_result) -> tuple[str, int]:
        """(sha256 hex, size) of the regular file at ``path`` whose stat is ``info``."""
        key = os.fsencode(path)
        cached = self._lookup(key, info)
        if cached is not None:
            return cached, info.st_size
        digest, read_info = _sha256_file(path)
        if read_info.st_mtime_ns < self._racy_after_ns:
            self._remember(key, read_info, digest)
        return digest, read_info.st_size

    def _lookup(self, key: bytes, info: os.stat_result) -> str | None:
        if self._conn is None:
            return None
        try:
            row = self._conn.execute(
                "SELECT sha256 FROM file_hashes WHERE path = ? AND size = ? AND mtime_ns = ?"
                " AND ctime_ns = ? AND inode = ? AND device = ?",
                (
                    key,
                    info.st_size,
                    info.st_mtime_ns,
                    info.st_ctime_ns,
                    _int64(info.st_ino),
                    _int64(info.st_dev),
                ),
            ).fetchone()
        except sqlite3.Error as exc:
            self._disable(exc)
            return None
        return None if row is None else str(row[0])

    def _remember(self, key: bytes, info: os.stat_result, digest: str) -> None:
        if self._conn is None:
            return
        self._pending.append(
            (
                key,
                info.st_size,
                info.st_mtime_ns,
                info.st_ctime_ns,
                _int64(info.st_ino),
                _int64(info.st_dev),
                digest,
                time.time(),
            )
        )
        if len(self._pending) >= _FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        if self._conn is None or not self._pending:
            self._pending.clear()
            return
        rows, self._pending = self._pending, []
        try:
            with self._conn:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO file_hashes"
                    " (path, size, mtime_ns, ctime_ns, inode, device, sha256, hashed_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
        except sqlite3.Error as exc:
            self._disable(exc)

    def close(self) -> None:
        self.flush()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _disable(self, exc: Exception) -> None:
        _warn_cache(exc)
        if self._conn is not None:
            with suppress(sqlite3.Error):
                self._conn.close()
        self._conn = None
        self._pending.clear()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS file_hashes (
    path BLOB PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    device INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    hashed_at REAL NOT NULL
)
"""


@contextmanager
def _open_cache(cache_dir: Path) -> Iterator[_HashCache]:
    conn: sqlite3.Connection | None
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(cache_dir / CACHE_FILENAME), timeout=10.0)
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        with conn:
            conn.execute(_SCHEMA)
    except (OSError, sqlite3.Error) as exc:
        _warn_cache(exc)
        conn = None
    cache = _HashCache(conn)
    try:
        yield cache
    finally:
        cache.close()


def _warn_cache(exc: Exception) -> None:
    _log.warning("runtrack: the dataset hash cache is unavailable (%s); hashing without it", exc)


# --------------------------------------------------------------------------------------
# DVC
# --------------------------------------------------------------------------------------
def find_dvc_md5(path: Path) -> tuple[str | None, str | None]:
    """(md5, source file) that DVC records for ``path``, or (None, None).

    ``<path>.dvc`` wins over ``dvc.lock``; see the module docstring. A DVC file that
    cannot be parsed is ignored (with a warning); this never raises.
    """
    path = Path(os.path.abspath(path))
    dvc_file = path.with_name(path.name + ".dvc")
    if dvc_file.is_file():
        doc = _load_yaml(dvc_file)
        md5 = _first_out_md5(doc)
        if md5 is not None:
            return md5, str(dvc_file)
    target = os.path.realpath(path)
    directory = path.parent
    while True:
        lock = directory / "dvc.lock"
        if lock.is_file():
            md5 = _lock_md5(_load_yaml(lock), lock.parent, target)
            if md5 is not None:
                return md5, str(lock)
        if (directory / ".git").exists() or directory.parent == directory:
            return None, None
        directory = directory.parent


def _load_yaml(path: Path) -> Any:
    try:
        import yaml

        with path.open("rb") as fh:
            return yaml.safe_load(fh)
    except Exception as exc:  # unreadable or malformed: DVC data is a bonus, not a must
        _log.warning("runtrack: could not read DVC file %s: %s", path, exc)
        return None


def _first_out_md5(doc: Any) -> str | None:
    if not isinstance(doc, dict):
        return None
    outs = doc.get("outs")
    if not isinstance(outs, list) or not outs or not isinstance(outs[0], dict):
        return None
    md5 = outs[0].get("md5")
    return md5 if isinstance(md5, str) and md5 else None


def _lock_md5(doc: Any, base: Path, target: str) -> str | None:
    if not isinstance(doc, dict):
        return None
    stages = doc.get("stages") if "stages" in doc else doc  # lock schema 2.0 vs 1.x
    if not isinstance(stages, dict):
        return None
    for stage in stages.values():
        outs = stage.get("outs") if isinstance(stage, dict) else None
        for out in outs if isinstance(outs, list) else ():
            if not isinstance(out, dict):
                continue
            out_path, md5 = out.get("path"), out.get("md5")
            if not isinstance(out_path, str) or not isinstance(md5, str) or not md5:
                continue
            if os.path.realpath(base / out_path) == target:
                return md5
    return None


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__
