"""A cache of file digests, so that logging an unchanged file again does not read it.

:class:`HashCache` maps a local file, identified by its absolute path and what ``stat``
says of it (size, ``mtime_ns``, ``ctime_ns``, inode, device), to the SHA-256 of its
content. :func:`runtrack.artifacts.manifest.build_manifest` asks it first: a file whose
``stat`` matches an entry, and whose blob the artifact store still has
(:meth:`ArtifactStore.touch <runtrack.artifacts.base.ArtifactStore.touch>`, which also
moves the blob's ``last_put`` as a put would), is not read at all.

Never trusting a changed file
-----------------------------
Writing a file changes its ``mtime`` and ``ctime`` (``ctime`` cannot be set back by a
program, unlike ``mtime``), and replacing it changes its inode, so a file that changed
since it was hashed no longer matches its entry. The one hole is timestamp granularity:
a write within the same clock tick as the ``stat`` taken before hashing leaves both
times as they were. Hence the rule git calls "racy": an entry is recorded only if the
file's ``mtime`` and ``ctime`` are at least :data:`RACY_NS` (2 s, the coarsest common
granularity: FAT, some network filesystems) older than the moment hashing began, and only
if ``fstat`` gives the same answer before and after the content was read. Any later
write then gets a newer timestamp than the recorded one. A file modified less than 2 s
before it is logged is simply hashed again next time.

Storage
-------
One SQLite file (``RUNTRACK_DIR/cache/hashes.sqlite`` for the SDK), WAL mode, shared by
any number of processes; each entry is replaced when its file is hashed again. The cache
is an optimisation only: if the file is unreadable, corrupt or of another format it is
deleted and rebuilt, and if that fails too the cache is off for this object; no method
ever raises. Deleting the file at any time is safe. Thread-safe.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from .base import is_digest

__all__ = ["RACY_NS", "HashCache", "file_key"]

log = logging.getLogger("runtrack")

RACY_NS: Final = 2_000_000_000
_FORMAT: Final = 1  # PRAGMA user_version of the file
_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS hashes ("
    "path TEXT PRIMARY KEY, key TEXT NOT NULL, digest TEXT NOT NULL, "
    "recorded_ns INTEGER NOT NULL) WITHOUT ROWID"
)


def file_key(st: os.stat_result) -> str:
    """What must not change for a cached digest to hold: size, mtime and ctime in
    nanoseconds, inode, device (as text: inode numbers may exceed SQLite's integers)."""
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}:{st.st_dev}"


class HashCache:
    """Digests of local files by ``(path, stat)``, in the SQLite file ``path`` (created on
    first use, with its directory). See the module docstring."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._off = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"HashCache({str(self.path)!r})"

    def __enter__(self) -> HashCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.close()
                self._conn = None

    # -- queries -----------------------------------------------------------------------
    def lookup(self, path: str, st: os.stat_result) -> str | None:
        """The digest recorded for the file at ``path`` (absolute) if ``st`` (its
        ``os.stat``) still matches the entry; None otherwise."""
        with self._lock:
            conn = self._connect()
            if conn is None:
                return None
            try:
                row = conn.execute(
                    "SELECT key, digest FROM hashes WHERE path = ?", (path,)
                ).fetchone()
            except sqlite3.Error as exc:
                self._give_up(exc)
                return None
        if row is None or row[0] != file_key(st) or not is_digest(row[1]):
            return None
        return str(row[1])

    def record(
        self, entries: Iterable[tuple[str, os.stat_result, str]], *, hashed_at_ns: int
    ) -> int:
        """Remember ``(path, stat, digest)`` entries of files whose content was read after
        ``hashed_at_ns`` (``time.time_ns()`` taken before reading began) by a reader that
        saw the same ``stat`` before and after. Entries too recent to be trusted (see
        "racy" in the module docstring) are left out. Returns how many were recorded."""
        limit = hashed_at_ns - RACY_NS
        rows = [
            (path, file_key(st), digest, hashed_at_ns)
            for path, st, digest in entries
            if st.st_mtime_ns < limit and st.st_ctime_ns < limit and is_digest(digest)
        ]
        if not rows:
            return 0
        with self._lock:
            conn = self._connect()
            if conn is None:
                return 0
            try:
                with conn:
                    conn.executemany("INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?)", rows)
            except sqlite3.Error as exc:
                self._give_up(exc)
                return 0
        return len(rows)

    # -- the file ----------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection | None:
        """The open connection; opened (and the file rebuilt if unusable) on first use."""
        if self._conn is not None or self._off:
            return self._conn
        for attempt in range(2):
            conn = None
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(
                    self.path, timeout=5.0, isolation_level=None, check_same_thread=False
                )
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute("BEGIN IMMEDIATE")
                if conn.execute("PRAGMA user_version").fetchone()[0] != _FORMAT:
                    conn.execute("DROP TABLE IF EXISTS hashes")
                    conn.execute(_SCHEMA)
                    conn.execute(f"PRAGMA user_version = {_FORMAT}")
                conn.execute("SELECT path FROM hashes LIMIT 1").fetchall()
                conn.execute("COMMIT")
                self._conn = conn
                return conn
            except sqlite3.OperationalError as exc:
                # busy beyond the timeout, read-only directory...: not the file's fault
                _close(conn)
                self._give_up(exc)
                return None
            except sqlite3.Error as exc:  # not a database, malformed: start afresh
                _close(conn)
                log.debug("runtrack: hash cache %s is unusable (%s); rebuilding it", self, exc)
                if attempt == 0:
                    self._remove_files()
            except OSError as exc:
                _close(conn)
                self._give_up(exc)
                return None
        self._off = True
        return None

    def _remove_files(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.unlink(f"{self.path}{suffix}")

    def _give_up(self, exc: BaseException) -> None:
        log.debug("runtrack: hash cache %s is off for now: %s", self, exc)
        self._off = True
        if self._conn is not None:
            _close(self._conn)
            self._conn = None


def _close(conn: sqlite3.Connection | None) -> None:
    if conn is not None:
        with contextlib.suppress(sqlite3.Error):
            conn.close()
