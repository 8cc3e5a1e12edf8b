"""One SQLite writer at a time, handed over without SQLite's sleeping busy handler.

SQLite lets one connection write at a time. A writer that finds the database locked
sleeps in SQLite's busy handler -- 1, 2, 5, 10, 15, 20, 25 ms... between attempts -- so a
lock held for 8 ms typically costs the next writer 8-18 ms, and with several processes
writing at once (two sweep agents, a training script beside the UI's server) those
overshoots add up to a tenth of each process's time. The gate queues writers on an
advisory lock file beside the database instead (``flock``, which the kernel hands to the
next waiter the moment it is released) and checks for it every 0.2 ms at most, so a
writer starts within a fraction of a millisecond of the previous one's commit.

The gate is an optimisation, never the guarantee: SQLite's own lock (``BEGIN IMMEDIATE``
and the busy timeout) still decides. A writer that cannot open the lock file (read-only
directory, no ``fcntl``), or that waits longer than the busy timeout, goes ahead without it
and SQLite arbitrates as before. A process that dies releases its lock with its file
descriptors. Nothing outside runtrack's write transactions takes it.
"""

from __future__ import annotations

import os
import threading
import time
from types import TracebackType

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: SQLite's busy handler alone
    fcntl = None  # type: ignore[assignment]

__all__ = ["WriterGate"]

#: waits start with short polls (a typical write transaction holds the lock 1-15 ms)
_POLL_S = (0.0002, 0.0005, 0.001, 0.002)


class WriterGate:
    """A context manager around a write transaction on the SQLite database at ``path``
    (``None``: an in-memory database, no gate). Re-entrant within a thread."""

    def __init__(self, path: str | None, timeout: float) -> None:
        self._lock_path = None if path is None or fcntl is None else f"{path}.writer-lock"
        self._timeout = timeout
        self._local = threading.RLock()  # threads of this process queue here first
        self._depth = 0
        self._fd: int | None = None
        self._pid = 0
        self._held = False

    def _open(self) -> int | None:
        if self._lock_path is None:
            return None
        if self._fd is not None and self._pid == os.getpid():
            return self._fd
        try:  # a forked child opens its own (a shared description would share the lock)
            self._fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError:
            self._lock_path = None  # e.g. a read-only directory: SQLite alone decides
            self._fd = None
            return None
        self._pid = os.getpid()
        return self._fd

    def _acquire_file(self) -> bool:
        fd = self._open()
        if fd is None:
            return False
        deadline = time.monotonic() + self._timeout
        polls = 0
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                pass
            except OSError:
                return False  # a file system without flock: SQLite alone decides
            if time.monotonic() >= deadline:
                return False  # a stuck holder: let SQLite's busy timeout judge
            time.sleep(_POLL_S[min(polls // 20, len(_POLL_S) - 1)])
            polls += 1

    def __enter__(self) -> WriterGate:
        self._local.acquire()
        self._depth += 1
        if self._depth == 1:
            try:
                self._held = self._acquire_file()
            except BaseException:
                self._depth -= 1
                self._local.release()
                raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._depth == 1 and self._held and self._fd is not None:
                self._held = False
                try:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
                except OSError:
                    pass  # closed under us: nothing is held any more
        finally:
            self._depth -= 1
            self._local.release()
