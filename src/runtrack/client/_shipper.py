"""Shipping a journal to a store, in the background and on replay.

``Shipper`` is the background writer of a live run: a daemon thread that wakes every
``flush_interval`` (or when woken), reads what the journal gained, and ships it as
``RunBatch`` es. Transient store errors (``StoreUnavailableError``) are retried with
backoff, forever while the run is live: the training loop never waits for the store and
never fails because of it. Any other error stops shipping (the journal keeps everything;
``runtrack sync`` ships it later) and is reported once.

``Heartbeat`` tells the store the run is alive every ``interval`` seconds.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from ..entities import NewRun, Record, RunBatch, RunSpec
from ..errors import RuntrackError, StoreUnavailableError
from ..store.base import TrackingStore
from ._journal import JournalReader

log = logging.getLogger("runtrack")
MAX_BATCH_RECORDS = 10_000
MISSING_BLOBS = "missing_blobs"  # the server's error code: blobs to upload (again)
_BLOB_ATTEMPTS = 4
T = TypeVar("T")


def ship_records(
    store: TrackingStore,
    reader: JournalReader,
    run_id: str,
    stream: str,
    *,
    pending: list[Record] | None = None,
    on_shipped: Callable[[int], None] | None = None,
    prepare: Callable[[Sequence[Record]], None] | None = None,
) -> int:
    """Ship everything the reader has left; returns the number of records sent.
    Raises the store's errors (the caller decides about retries); records of a failed
    batch are left in ``pending`` so a retry sends them again. ``prepare`` is called
    with each batch before it is sent (e.g. to upload the blobs its artifacts need)."""
    if pending is None:
        pending = []
    sent = 0
    while True:
        if not pending:
            pending.extend(reader.read(MAX_BATCH_RECORDS))
            if not pending:
                return sent
        result = send_with_blobs(
            functools.partial(store.write, RunBatch(run_id, stream, tuple(pending))),
            None if prepare is None else functools.partial(prepare, list(pending)),
        )
        sent += len(pending)
        pending.clear()
        if on_shipped is not None:
            on_shipped(result.position)


def send_with_blobs(send: Callable[[], T], prepare: Callable[[], None] | None) -> T:
    """``prepare()`` (upload the blobs the records' artifacts need), then ``send()``. If
    the store answers ``missing_blobs`` (a blob is not, or no longer, on the server: a
    concurrent gc deleted it, see ``runtrack.store.gc``), prepare again, which uploads
    what is missing, and send again: the server stores each record once and checks the
    blobs of every artifact in the request, applied before or not."""
    for attempt in range(_BLOB_ATTEMPTS):
        if prepare is not None:
            prepare()
        try:
            return send()
        except RuntrackError as exc:
            if exc.code != MISSING_BLOBS or prepare is None or attempt == _BLOB_ATTEMPTS - 1:
                raise
            log.info("runtrack: uploading blobs again that the server is missing: %s", exc)
    raise AssertionError("unreachable")  # pragma: no cover


class Shipper:
    def __init__(
        self,
        store: TrackingStore,
        path: Path,
        run_id: str,
        stream: str,
        *,
        flush_interval: float,
        create: RunSpec | None = None,
        limit: Callable[[], int] | None = None,
        prepare: Callable[[Sequence[Record]], None] | None = None,
    ) -> None:
        self.store = store
        self.prepare = prepare
        self.reader = JournalReader(path, limit=limit)
        self.run_id = run_id
        self.stream = stream
        self.flush_interval = flush_interval
        self._create = create  # a run the store has not acknowledged yet
        self._pending: list[Record] = []
        self._wake = threading.Event()
        self._closing = False
        self._done = threading.Event()
        self.error: RuntrackError | None = None
        self.shipped = 0
        self._position = 0  # last seq the store acknowledged
        self._progress = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name="runtrack-shipper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def drain(self, timeout: float | None = None) -> bool:
        """Ship everything written so far, then stop. True if all of it reached the store."""
        self._closing = True
        self._wake.set()
        self._done.wait(timeout)
        return self._done.is_set() and self.error is None and self.complete

    def wait_for(self, seq: int, timeout: float | None = None) -> bool:
        """Block until the store acknowledged every record up to ``seq``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self._wake.set()
        with self._progress:
            while self._position < seq and self.error is None and not self._done.is_set():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._progress.wait(left if left is not None else 1.0)
                self._wake.set()
            return self._position >= seq

    @property
    def creating(self) -> bool:
        """The run is still to be created, by this shipper's first request."""
        return self._create is not None

    @property
    def complete(self) -> bool:
        return not self._pending and self._create is None

    def _loop(self) -> None:
        backoff = 0.1
        if self._create is not None:
            # a run created by its first shipment: let the first records gather (a short
            # run then costs one request at finish); flush() and finish() wake this
            self._wake.wait(self.flush_interval)
            self._wake.clear()
        try:
            while True:
                closing = self._closing
                try:
                    self._ship()
                    backoff = 0.1
                except StoreUnavailableError as exc:
                    log.debug("store unavailable, will retry: %s", exc)
                    if closing and backoff > 8:
                        return  # give up at finish after ~15 s of retries; journal kept
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 10.0)
                    continue
                except RuntrackError as exc:
                    self.error = exc
                    log.warning(
                        "runtrack could not store data of run %s: %s. Nothing is lost: "
                        "the journal is kept; run `runtrack sync` after fixing this.",
                        self.run_id,
                        exc,
                    )
                    return
                if closing:
                    return
                self._wake.wait(self.flush_interval)
                self._wake.clear()
        except Exception as exc:  # a bug must not pass silently, nor kill the training loop
            log.exception("runtrack background writer failed")
            self.error = RuntrackError(f"background writer failed: {exc!r}")
        finally:
            self._done.set()
            with self._progress:
                self._progress.notify_all()

    def _ship(self) -> None:
        if self._create is not None:
            # the run and its first records in one request (an existing run is continued)
            if not self._pending:
                self._pending.extend(self.reader.read(MAX_BATCH_RECORDS))
            batch = None
            if self._pending:
                batch = RunBatch(self.run_id, self.stream, tuple(self._pending))
            prepare = self.prepare
            (result,) = send_with_blobs(
                functools.partial(self.store.create_runs, [NewRun(self._create, batch)]),
                None
                if prepare is None or batch is None
                else functools.partial(prepare, batch.records),
            )
            self._create = None
            if batch is not None:
                self.shipped += len(self._pending)
                self._pending.clear()
                self._advance(result.position)
        self.shipped += ship_records(
            self.store,
            self.reader,
            self.run_id,
            self.stream,
            pending=self._pending,
            on_shipped=self._advance,
            prepare=self.prepare,
        )

    def _advance(self, seq: int) -> None:
        with self._progress:
            self._position = seq
            self._progress.notify_all()


class Heartbeat:
    def __init__(self, store: TrackingStore, run_id: str, interval: float) -> None:
        self.store = store
        self.run_id = run_id
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="runtrack-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.store.heartbeat(self.run_id)
            except RuntrackError as exc:
                log.debug("heartbeat failed: %s", exc)
            except Exception:  # pragma: no cover - never kill the process for a heartbeat
                log.exception("runtrack heartbeat failed")
