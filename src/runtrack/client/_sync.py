"""Replaying journals into a store: ``runtrack sync`` and the recovery run by ``init``.

A journal is replayed only when no live process holds it (its writer keeps an exclusive
``flock`` until the run is shipped). The store skips every record at or below the
stream's position, so a replay after a partial shipment, two syncs in a row, or a sync
racing a recovery store each record exactly once. A journal that ends without a final
status belonged to a process that died: the run is marked ``crashed`` (only if it is
still ``running``: a finished or resumed run is left alone).
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..entities import ArtifactOp, OpRecord, Record, RunBatch, RunSpec, StatusOp
from ..errors import RunExistsError, RunNotFoundError, RuntrackError
from ._journal import SUFFIX, JournalReader, lock_for_replay
from ._shipper import MAX_BATCH_RECORDS, send_with_blobs

if TYPE_CHECKING:
    from ..artifacts.base import ArtifactStore
    from ..store.base import TrackingStore

    ArtifactTarget = ArtifactStore | Callable[[str], ArtifactStore] | None
    """Where blobs go: one store, or the store of each project (a team server's)."""

log = logging.getLogger("runtrack")

CRASH_NOTE = (
    "the process ended without finishing the run (killed or crashed); "
    "its journal was recovered by runtrack sync"
)


@dataclass(frozen=True)
class SyncResult:
    path: str
    run_id: str | None
    status: str  # "synced", "live" (a process still writes it), "failed", "corrupt"
    records: int = 0
    skipped: int = 0
    crashed: bool = False
    message: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "journal": self.path,
            "run_id": self.run_id,
            "status": self.status,
            "records": self.records,
            "skipped": self.skipped,
            "marked_crashed": self.crashed,
            "message": self.message,
        }


def find_journals(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.name.endswith(SUFFIX) and p.is_file())


def journal_header(path: Path) -> dict[str, object] | None:
    reader = JournalReader(path)
    reader.read(0)
    return reader.header


def replay_journal(
    path: Path,
    store: TrackingStore,
    *,
    local_artifacts: ArtifactStore | None = None,
    artifacts: ArtifactTarget = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> SyncResult:
    """Ship one journal whose process is gone; delete it once the store has it all."""
    fd = lock_for_replay(path)
    if fd is None:
        return SyncResult(str(path), None, "live", message="a running process writes it")
    try:
        return _replay_locked(path, store, local_artifacts, artifacts, on_progress)
    finally:
        os.close(fd)


def _replay_locked(
    path: Path,
    store: TrackingStore,
    local_artifacts: ArtifactStore | None,
    artifacts: ArtifactTarget,
    on_progress: Callable[[int, int], None] | None,
) -> SyncResult:
    reader = JournalReader(path)
    first = reader.read(MAX_BATCH_RECORDS)
    header = reader.header
    if header is None:
        if reader.corrupt:
            return SyncResult(str(path), None, "corrupt", message="not a runtrack journal")
        path.unlink(missing_ok=True)  # empty: the process died before writing its header
        return SyncResult(str(path), None, "synced", message="empty journal removed")
    spec = RunSpec.from_json(header["run"])
    stream = str(header["stream"])
    try:
        store.create_run(spec)
    except RunExistsError:
        if store.run_project(spec.id) != spec.project:  # never write into another's run
            raise RunExistsError(
                f"run {spec.id!r} exists in another project than {spec.project!r}; "
                "the journal is kept"
            ) from None
    position = store.stream_position(spec.id, stream)
    destination = artifacts(spec.project) if callable(artifacts) else artifacts
    total = path.stat().st_size
    sent = skipped = 0
    last_seq = position
    finished = False
    batch = first
    while batch:
        todo = [r for r in batch if r.seq > position]
        skipped += len(batch) - len(todo)
        # the blobs of every version in the journal, shipped before or not: a process that
        # died after the server recorded a version, before it could upload again the blobs
        # a concurrent gc deleted, leaves them to this replay (see runtrack.store.gc)
        copy = functools.partial(_copy_records_blobs, batch, local_artifacts, destination)
        for rec in batch:
            if isinstance(rec, OpRecord) and isinstance(rec.op, StatusOp):
                finished = rec.op.status != "running"
        if todo:
            send_with_blobs(
                functools.partial(store.write, RunBatch(spec.id, stream, tuple(todo))), copy
            )
            sent += len(todo)
        else:
            copy()
        last_seq = max(last_seq, batch[-1].seq)
        if on_progress is not None:
            on_progress(reader.offset, total)
        batch = reader.read(MAX_BATCH_RECORDS)
    crashed = False
    if not finished:
        crashed = _mark_crashed(store, spec.id, stream, last_seq, path)
    if reader.corrupt:
        log.warning(
            "journal %s is damaged after offset %d; what came before was synced",
            path,
            reader.offset,
        )
    path.unlink(missing_ok=True)
    return SyncResult(str(path), spec.id, "synced", sent, skipped, crashed)


def _mark_crashed(
    store: TrackingStore, run_id: str, stream: str, last_seq: int, path: Path
) -> bool:
    try:
        run = store.get_run(run_id)
    except RunNotFoundError:
        return False
    if run.status not in ("running", "crashed"):
        return False
    died = path.stat().st_mtime
    store.write(
        RunBatch(run_id, stream, (OpRecord(last_seq + 1, StatusOp("crashed", died, CRASH_NOTE)),))
    )
    return True


def _copy_blobs(op: ArtifactOp, src: ArtifactStore | None, dst: ArtifactStore | None) -> None:
    """Make the blobs of a version recorded in a journal reach ``dst`` (from ``src``,
    where they were stored while ``dst`` was out of reach) before the version does."""
    if src is None or dst is None or src is dst:
        return
    for f in op.spec.files:
        if not dst.exists(f.digest):
            with src.open(f.digest) as fh:
                dst.put(fh, expected_digest=f.digest)


def blob_copier(src: ArtifactStore, dst: ArtifactStore) -> Callable[[Sequence[Record]], None]:
    """For a live run's shipper: copy the blobs of each artifact version in a batch."""
    return functools.partial(_copy_records_blobs, src=src, dst=dst)


def _copy_records_blobs(
    records: Sequence[Record], src: ArtifactStore | None, dst: ArtifactStore | None
) -> None:
    for rec in records:
        if isinstance(rec, OpRecord) and isinstance(rec.op, ArtifactOp):
            _copy_blobs(rec.op, src, dst)


# journals at most this small are shipped many per request (create_runs), up to a group
_SMALL_RECORDS = 10_000
_GROUP_RUNS = 200
_GROUP_RECORDS = 50_000


@dataclass
class _Small:
    """A whole journal read into memory, locked for replay until it is shipped."""

    path: Path
    fd: int
    spec: RunSpec
    batch: RunBatch
    crashed: bool
    size: int


def _read_small(path: Path) -> _Small | None:
    """The journal in one piece if it is small, complete and undamaged; None to replay it
    the ordinary way (which also reports live, corrupt and empty journals)."""
    fd = lock_for_replay(path)
    if fd is None:
        return None
    try:
        reader = JournalReader(path)
        records = reader.read(_SMALL_RECORDS + 1)
        header = reader.header
        if (
            header is None
            or reader.corrupt
            or not records
            or len(records) > _SMALL_RECORDS
            or reader.read(1)
        ):
            os.close(fd)
            return None
        spec = RunSpec.from_json(header["run"])
        finished = False
        for rec in records:
            if isinstance(rec, OpRecord) and isinstance(rec.op, StatusOp):
                finished = rec.op.status != "running"
        if not finished:  # its process died: the run ends as crashed (if still running)
            died = path.stat().st_mtime
            records.append(OpRecord(records[-1].seq + 1, StatusOp("crashed", died, CRASH_NOTE)))
        batch = RunBatch(spec.id, str(header["stream"]), tuple(records))
        return _Small(path, fd, spec, batch, not finished, path.stat().st_size)
    except BaseException:
        os.close(fd)
        raise


def _ship_small(
    group: list[_Small],
    store: TrackingStore,
    local_artifacts: ArtifactStore | None,
    artifacts: ArtifactTarget,
    on_progress: Callable[[Path, int, int], None] | None,
) -> list[SyncResult] | None:
    """Ship small journals in one ``create_runs`` call; None if the store refused it (the
    caller then replays them one by one, so that each reports its own error)."""
    from ..entities import NewRun

    def copy() -> None:
        for item in group:
            dst = artifacts(item.spec.project) if callable(artifacts) else artifacts
            _copy_records_blobs(item.batch.records, local_artifacts, dst)

    try:
        results = send_with_blobs(
            functools.partial(store.create_runs, [NewRun(i.spec, i.batch) for i in group]), copy
        )
    except RuntrackError as exc:
        log.debug("bulk sync refused (%s); replaying the journals one by one", exc)
        return None
    out = []
    for item, res in zip(group, results, strict=True):
        item.path.unlink(missing_ok=True)
        if on_progress is not None:
            on_progress(item.path, item.size, item.size)
        sent = res.applied - (1 if item.crashed and res.applied else 0)
        out.append(
            SyncResult(str(item.path), item.spec.id, "synced", sent, res.skipped, item.crashed)
        )
    return out


def sync_all(
    journals: Iterable[Path],
    store: TrackingStore,
    *,
    local_artifacts: ArtifactStore | None = None,
    artifacts: ArtifactTarget = None,
    on_progress: Callable[[Path, int, int], None] | None = None,
) -> list[SyncResult]:
    """Replay every journal. Small finished journals (most offline runs) go many per
    request; the rest one by one, in parts."""
    out: list[SyncResult] = []
    group: list[_Small] = []

    def flush() -> None:
        if not group:
            return
        try:
            shipped = _ship_small(group, store, local_artifacts, artifacts, on_progress)
        finally:
            for item in group:
                os.close(item.fd)
        if shipped is None:
            for item in group:
                replay_one(item.path)
        else:
            out.extend(shipped)
        group.clear()

    def replay_one(path: Path) -> None:
        def progress(done: int, total: int) -> None:
            if on_progress is not None:
                on_progress(path, done, total)

        try:
            out.append(
                replay_journal(
                    path,
                    store,
                    local_artifacts=local_artifacts,
                    artifacts=artifacts,
                    on_progress=progress,
                )
            )
        except RuntrackError as exc:
            out.append(SyncResult(str(path), None, "failed", message=str(exc)))
        except FileNotFoundError:
            pass  # shipped and removed by its own process meanwhile

    for path in journals:
        try:
            small = _read_small(path)
        except (OSError, ValueError, KeyError, TypeError, RuntrackError):
            small = None  # the ordinary replay reports what is wrong with it
        if small is None:
            replay_one(path)
            continue
        group.append(small)
        if len(group) >= _GROUP_RUNS or sum(len(i.batch.records) for i in group) >= _GROUP_RECORDS:
            flush()
    flush()
    return out


def recover_in_background(
    directory: Path,
    target: str,
    store: TrackingStore,
    local_artifacts: ArtifactStore | None,
    artifacts: ArtifactTarget,
) -> None:
    """At ``init``: replay this machine's dead online journals meant for this store;
    blobs spooled in ``local_artifacts`` go to ``artifacts``."""
    import threading

    def go() -> None:
        try:
            paths = []
            for p in find_journals(directory):
                try:
                    h = journal_header(p)
                except OSError:
                    continue
                # only journals that are old enough not to be starting up right now
                if (
                    h
                    and h.get("mode") == "online"
                    and h.get("target") == target
                    and time.time() - p.stat().st_mtime > 2
                ):
                    paths.append(p)
            results = sync_all(paths, store, local_artifacts=local_artifacts, artifacts=artifacts)
            for r in results:
                if r.status == "synced" and r.records:
                    log.info("runtrack recovered %d records of run %s", r.records, r.run_id)
        except Exception:  # pragma: no cover - recovery must never disturb a new run
            log.debug("journal recovery failed", exc_info=True)

    threading.Thread(target=go, name="runtrack-recovery", daemon=True).start()
