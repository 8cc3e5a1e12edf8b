"""Garbage collection of artifact blobs, safe while writers record versions.

The race
--------
``gc`` deletes the blobs no artifact version references. A writer puts a version's blobs
first (or finds them stored: deduplication) and records the version afterwards, possibly
much later (a large directory uploads file by file). A gc that read the referenced
digests before the version was recorded sees those blobs as garbage and may delete them
just as the version that needs them is committed. The grace period (blobs put in the
last ``grace`` seconds are kept) narrows the window but does not close it: ``--grace 0``
would lose blobs, and so would a slow upload.

The protocol
------------
gc works in *rounds*, each over a batch of at most ``batch`` (1,000) stored blobs:

1. **begin**: a row in ``gc_rounds`` is committed (``TrackingStore.begin_gc_round``) with
   a lease: the round is over at ``expires_at`` if its gc dies;
2. **read** which of the batch's digests a version references (and, for the CLI, which
   the unsent journals of this machine reference: read before the versions, so a
   version shipped from a journal in between is seen in one place or the other);
3. **delete** the unreferenced ones not put within ``grace`` seconds, checking before
   each delete that the lease still holds (renewing it when half of it has gone; the
   local deadline is a quarter of the lease earlier than the database's, so no delete is
   sent after writers stopped waiting for the round);
4. **finish** the round (``finished_at``).

A writer that records a version (``SqlStore.log_artifact`` through ``run.log_artifact``,
a batch holding an ``ArtifactOp``, the server's version and batch routes), *after its
transaction committed*, waits until every round that is live at that moment has finished
or expired (``wait_for_gc_rounds``), then checks that every blob of the version exists,
and puts again the ones that are missing (:func:`blobs_lost_to_gc`).

Why no referenced blob is lost
------------------------------
Take a version V committed at time *c*, referencing blob B, and any round R.

* R began after *c*: its read (step 2) comes after its begin, so it sees V and keeps B.
* R began before *c* and was live when the writer looked after *c*: the writer waited
  for R to finish (or expire; an expired round deletes nothing more, see step 3), so any
  delete of B by R happened before the writer's check, which finds B missing and puts it
  again. From then on B is safe: every round that could still delete was waited for, and
  every later one sees V.
* R began before *c* and was already over when the writer looked: its deletes happened
  before the check, as above.

So after the writer's check no round can delete B while V references it, whatever the
grace period, and a blob that was deleted in the window is restored from the writer's
own copy (the client's source files in ``run.log_artifact``, the local spool in the
shipper and ``runtrack sync``; on a team server the route answers ``missing_blobs`` and
the client uploads those blobs again through the ordinary upload sessions, then retries,
which finds the version already recorded).

Checking every blob costs a request per file on S3, so a writer takes a *mark* before it
puts or checks its blobs (``gc_mark``): the id below which every round was already over.
If no round of that id or more exists after the commit, no round could have deleted
anything in between, and the check is skipped.

Not covered: runs in ``offline`` mode never open the database, so the blobs of their
artifacts are protected only by the journal scan and the grace period until ``runtrack
sync`` records them; a gc with ``--grace 0`` running while an offline run logs an
artifact may delete its blobs before the journal holds the version.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final

from ..artifacts.base import ArtifactStore
from ..entities import ArtifactFile, ArtifactSpec
from ..errors import (
    ArtifactNotFoundError,
    ConflictError,
    StoreError,
    StoreUnavailableError,
    ValidationError,
)
from .base import TrackingStore

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_GRACE",
    "DEFAULT_LEASE",
    "GcReport",
    "blobs_lost_to_gc",
    "collect_garbage",
    "gc_mark",
]

DEFAULT_BATCH: Final = 1000  # blobs per round
DEFAULT_GRACE: Final = 3600.0  # seconds: blobs put more recently are kept
DEFAULT_LEASE: Final = 600.0  # seconds a round lives without renewal if its gc dies
_CHECK_THREADS: Final = 8


@dataclass
class GcReport:
    """What one ``gc`` did (or, with ``dry_run``, would do)."""

    dry_run: bool
    deleted: list[str] = field(default_factory=list)
    bytes: int = 0
    kept_referenced: int = 0
    kept_recent: int = 0
    rounds: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "deleted": list(self.deleted),
            "bytes": self.bytes,
            "kept_referenced": self.kept_referenced,
            "kept_recent": self.kept_recent,
            "rounds": self.rounds,
        }


# -- gc's side ---------------------------------------------------------------------------
def collect_garbage(
    store: TrackingStore,
    artifacts: ArtifactStore,
    *,
    grace: float = DEFAULT_GRACE,
    dry_run: bool = False,
    keep: Callable[[], set[str]] | None = None,
    batch: int = DEFAULT_BATCH,
    lease: float = DEFAULT_LEASE,
    on_deleted: Callable[[str], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> GcReport:
    """Delete the blobs of ``artifacts`` that no version in ``store`` references and that
    were not put within ``grace`` seconds, in rounds (see the module docstring).

    ``keep()``: more digests to keep, asked at every round after it began (the blobs of
    unsent journals). ``on_deleted(digest)`` after each delete (the server drops the
    upload claims on it). ``progress(done, total)`` after each blob looked at. With
    ``dry_run`` nothing is deleted and no round is begun: the report says what would be.

    Raises what the stores raise; ``ValidationError`` from ``begin_gc_round`` if the store
    keeps no rounds (gc against a team server runs on the server).
    """
    if isinstance(grace, bool) or not isinstance(grace, int | float) or not grace >= 0:
        raise ValidationError(f"grace must be a number of seconds >= 0, not {grace!r}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValidationError(f"batch must be an int >= 1, not {batch!r}")
    report = GcReport(dry_run=dry_run)
    pending = deque(artifacts.iter_digests())
    total = len(pending)
    cutoff = time.time() - grace
    sweep = _Sweep(store, artifacts, report, cutoff, keep, on_deleted, progress, total)
    if progress is not None:
        progress(0, total)
    stalled = 0
    while pending:
        chunk = [pending.popleft() for _ in range(min(batch, len(pending)))]
        if dry_run:
            sweep.run(chunk, None)
            continue
        held = _Lease(store, lease)
        report.rounds += 1
        try:
            left = sweep.run(chunk, held)
        finally:
            held.finish()
        if left:  # the lease was lost: a new round for the rest
            stalled = stalled + 1 if len(left) == len(chunk) else 0
            if stalled >= 3:
                raise StoreError(
                    f"gc rounds lose their lease ({lease:g} s) before they can delete "
                    "anything: the database or the artifact store is too slow for it"
                )
            pending.extendleft(reversed(left))
    return report


class _Sweep:
    """The part of a gc that looks at one batch of blobs."""

    def __init__(
        self,
        store: TrackingStore,
        artifacts: ArtifactStore,
        report: GcReport,
        cutoff: float,
        keep: Callable[[], set[str]] | None,
        on_deleted: Callable[[str], None] | None,
        progress: Callable[[int, int], None] | None,
        total: int,
    ) -> None:
        self.store = store
        self.artifacts = artifacts
        self.report = report
        self.cutoff = cutoff
        self.keep = keep
        self.on_deleted = on_deleted
        self.progress = progress
        self.total = total
        self.done = 0

    def run(self, chunk: list[str], lease: _Lease | None) -> list[str]:
        """Look at every blob of ``chunk`` (inside a round if ``lease``); returns the
        ones left unexamined because the round's lease was lost."""
        kept = self.keep() if self.keep is not None else set()  # journals before versions
        referenced = self.store.referenced_among(chunk) | (kept & set(chunk))
        arts, report = self.artifacts, self.report
        for i, digest in enumerate(chunk):
            if digest in referenced:
                report.kept_referenced += 1
                self._advance()
                continue
            try:
                if arts.last_put(digest) > self.cutoff:
                    report.kept_recent += 1
                    self._advance()
                    continue
                size = arts.size(digest)
                if lease is not None:
                    if not lease.hold():
                        return chunk[i:]
                    if not arts.delete(digest):
                        self._advance()
                        continue
                    if self.on_deleted is not None:
                        self.on_deleted(digest)
            except ArtifactNotFoundError:  # deleted meanwhile (another gc)
                self._advance()
                continue
            report.deleted.append(digest)
            report.bytes += size
            self._advance()
        return []

    def _advance(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)


class _Lease:
    """A live gc round, held by this process: renewed at half time, and considered lost
    a quarter of the lease before the database's ``expires_at`` (measured on the
    monotonic clock from before each begin/renew call, so clock steps do not matter)."""

    def __init__(self, store: TrackingStore, seconds: float) -> None:
        self.store = store
        self.seconds = float(seconds)
        started = time.monotonic()
        self.id = store.begin_gc_round(self.seconds)
        self._held_from(started)
        self._lost = False

    def _held_from(self, started: float) -> None:
        self.renew_at = started + self.seconds / 2
        self.valid_until = started + self.seconds * 3 / 4

    def hold(self) -> bool:
        """Whether a delete may be sent now."""
        if self._lost:
            return False
        if time.monotonic() >= self.renew_at:
            started = time.monotonic()
            try:
                self.store.renew_gc_round(self.id, self.seconds)
            except ConflictError:
                self._lost = True
                return False
            self._held_from(started)
        return time.monotonic() < self.valid_until

    def finish(self) -> None:
        self.store.finish_gc_round(self.id)


# -- the writers' side -------------------------------------------------------------------
def gc_mark(store: TrackingStore) -> int | None:
    """``store.gc_mark()``, or None (check everything later) if the store is unreachable."""
    try:
        return store.gc_mark()
    except StoreUnavailableError:
        return None


def blobs_lost_to_gc(
    store: TrackingStore,
    artifacts: ArtifactStore,
    specs: Sequence[ArtifactSpec],
    *,
    since: int | None,
) -> list[ArtifactFile]:
    """After versions of ``specs`` were committed: wait for the gc rounds live now to end,
    then the files (one per digest; reference files have no blob) whose blob is missing
    from ``artifacts``. The caller puts those again. ``since``: the writer's
    :func:`gc_mark` from before its blobs were put or checked (None: unknown); if no round
    began since, nothing is checked and ``[]`` is returned."""
    if not store.wait_for_gc_rounds(since):
        return []
    files = _distinct_blobs(specs)
    if len(files) <= 1:
        return [f for f in files if not artifacts.exists(f.digest)]
    with ThreadPoolExecutor(min(_CHECK_THREADS, len(files))) as pool:
        present = list(pool.map(lambda f: artifacts.exists(f.digest), files))
    return [f for f, here in zip(files, present, strict=True) if not here]


def _distinct_blobs(specs: Iterable[ArtifactSpec]) -> list[ArtifactFile]:
    seen: set[str] = set()
    out: list[ArtifactFile] = []
    for spec in specs:
        for f in spec.files:
            if f.ref is None and f.digest not in seen:
                seen.add(f.digest)
                out.append(f)
    return out
