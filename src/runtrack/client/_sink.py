"""Where a live run's writes go: the journal (and from it the store), or nowhere.

``JournalSink`` numbers every write with the stream's next ``seq``, appends it to the
journal (one ``os.write``; crash-safe once it returns) and leaves shipping to the
``Shipper`` thread. ``NullSink`` is the ``disabled`` mode: it accepts everything and
keeps nothing. Both are safe to call from several threads.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path

from ..entities import Op, Record, RunSpec
from ..errors import RuntrackError
from ..store.base import TrackingStore
from ._journal import JournalWriter
from ._shipper import Heartbeat, Shipper

log = logging.getLogger("runtrack")

CREATE_WAIT = 5.0  # how long a direct call waits for a run created by its first shipment


_LIVE_SINKS: weakref.WeakSet[JournalSink] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """A forked child (a data-loader worker, say) inherits the parent's runs but not their
    threads; writing to the parent's journal would break its sequence numbers."""
    for sink in list(_LIVE_SINKS):
        sink._foreign = True


os.register_at_fork(after_in_child=_after_fork_in_child)


class NullSink:
    """``RUNTRACK_MODE=disabled``: every write is accepted and dropped."""

    journal_path: Path | None = None

    def keyset(self, keys: tuple[str, ...]) -> int:
        return 0

    def metrics(self, ks: int, step: int, values: bytes) -> int:
        return 0

    def op(self, op: Op) -> int:
        return 0

    def flush(self, timeout: float | None) -> bool:
        return True

    def close(self, *, timeout: float) -> bool:
        return True

    def ensure_created(self, timeout: float = CREATE_WAIT) -> None:
        """Before a call that names the run to the store directly: make sure the store
        has created it (a run may be created by its first shipment)."""


class JournalSink(NullSink):
    """Writes to the journal; with a store, ships it in the background and beats.

    Durability: when ``metrics``/``op`` return, the write is in the journal file (OS page
    cache) and survives SIGKILL of this process. It is in the store once the shipper has
    shipped it; ``close`` waits for that (up to ``timeout``).
    """

    def __init__(
        self,
        path: Path,
        header: dict[str, object],
        *,
        run_id: str,
        stream: str,
        store: TrackingStore | None,
        flush_interval: float,
        heartbeat_interval: float,
        first_seq: int = 0,
        create: RunSpec | None = None,
        prepare: Callable[[Sequence[Record]], None] | None = None,
    ) -> None:
        self.journal_path = path
        self._owner = os.getpid()
        self._journal = JournalWriter(path, header)
        self._lock = threading.Lock()
        self._seq = first_seq
        self._closed = False
        self._foreign = False  # set in a forked child: this process does not own the run
        _LIVE_SINKS.add(self)
        self.shipper: Shipper | None = None
        self._heartbeat: Heartbeat | None = None
        if store is not None:
            journal = self._journal
            self.shipper = Shipper(
                store,
                path,
                run_id,
                stream,
                flush_interval=flush_interval,
                create=create,
                limit=lambda: journal.position,
                prepare=prepare,
            )
            self.shipper.start()
            self._heartbeat = Heartbeat(store, run_id, heartbeat_interval)
            self._heartbeat.start()

    def _refuse_foreign(self) -> None:
        raise RuntrackError(
            f"this run belongs to process {self._owner} and this is a forked child "
            f"({os.getpid()}); start a run of its own in the child (runtrack.init), or log "
            "from the parent"
        )

    def keyset(self, keys: tuple[str, ...]) -> int:
        if self._foreign:
            self._refuse_foreign()
        with self._lock:
            return self._journal.keyset(keys)

    def metrics(self, ks: int, step: int, values: bytes) -> int:
        """``values``: little-endian float64 bytes, one per key of keyset ``ks``."""
        if self._foreign:
            self._refuse_foreign()
        t = time.time()
        with self._lock:
            seq = self._seq = self._seq + 1
            self._journal.metrics(ks, seq, step, t, values)
        return seq

    def op(self, op: Op) -> int:
        if self._foreign:
            self._refuse_foreign()
        with self._lock:
            seq = self._seq = self._seq + 1
            self._journal.op(seq, op)
        return seq

    @property
    def seq(self) -> int:
        return self._seq

    def ensure_created(self, timeout: float = CREATE_WAIT) -> None:
        if self.shipper is not None and self.shipper.creating:
            self.flush(timeout)

    def flush(self, timeout: float | None) -> bool:
        """Wait until the store has every write made so far (True), or the timeout."""
        if self.shipper is None:
            return True  # offline: the journal is the destination for now
        return self.shipper.wait_for(self._seq, timeout)

    def close(self, *, timeout: float) -> bool:
        """Stop the threads, ship what is left; True if the store has everything (the
        journal is then deleted), False if it is kept for ``runtrack sync``."""
        if self._foreign:
            return True  # the parent process finishes its run
        with self._lock:
            if self._closed:
                return True
            self._closed = True
        shipped = True
        if self.shipper is not None:
            shipped = self.shipper.drain(timeout)
        if self._heartbeat is not None:
            self._heartbeat.stop()
        path = self.journal_path
        if shipped and self.shipper is not None and path is not None:
            try:
                path.unlink()
            except OSError:  # pragma: no cover - the data is in the store anyway
                pass
        self._journal.close()
        return shipped
