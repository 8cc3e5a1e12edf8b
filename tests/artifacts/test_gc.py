"""Garbage collection that is safe while versions are recorded (``runtrack.store.gc``),
on a local directory and on S3 (moto's server), with SQLite and with PostgreSQL.

The stress test runs writers that record versions through the same calls as
``run.log_artifact`` (``build_manifest`` into the artifact store, then
``record_version``: ``SqlStore.log_artifact`` and the protocol's wait-and-check), with new
content and content deduplicated against blobs nobody references yet, while gc loops with
``grace=0``. At the end every blob of every recorded version exists and verifies. Without
the writers' wait-and-check the same test loses blobs (see the report of the change that
added it).
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from runtrack.artifacts.base import ArtifactStore
from runtrack.artifacts.local import LocalArtifactStore
from runtrack.artifacts.manifest import build_manifest
from runtrack.artifacts.s3 import S3ArtifactStore
from runtrack.client import _artifact_log
from runtrack.client._artifact_log import record_version
from runtrack.entities import ArtifactSpec, RunSpec
from runtrack.errors import ConflictError, RuntrackError, ValidationError
from runtrack.store.gc import blobs_lost_to_gc, collect_garbage, gc_mark
from runtrack.store.sql.store import SqlStore

BlobsFactory = Callable[[], ArtifactStore]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    url = (
        f"sqlite:///{tmp_path / 'rt.db'}"
        if request.param == "sqlite"
        else str(request.getfixturevalue("pg_url"))
    )
    SqlStore(url, auto_upgrade=True).close()  # the schema, once
    return url


@pytest.fixture(params=["local", "s3"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> BlobsFactory:
    """A maker of artifact store objects over one store (one per thread, as processes)."""
    if request.param == "local":
        return lambda: LocalArtifactStore(tmp_path / "blobs")
    s3, bucket = request.getfixturevalue("s3"), request.getfixturevalue("bucket")
    return lambda: S3ArtifactStore(bucket, "gc", client=s3)


def new_run(store: SqlStore) -> str:
    spec = RunSpec(uuid.uuid4().hex[:16], "gc", "r", "u", "h", time.time())
    return store.create_run(spec).id


# -- the stress test -------------------------------------------------------------------
@dataclass
class Outcome:
    versions: list[ArtifactSpec] = field(default_factory=list)
    rounds: int = 0
    deleted: int = 0
    restored: int = 0
    errors: list[BaseException] = field(default_factory=list)


def stress(
    db_url: str,
    blobs: BlobsFactory,
    work: Path,
    *,
    seconds: float,
    writers: int = 3,
    monkeypatch: pytest.MonkeyPatch,
) -> Outcome:
    """Writers record versions for ``seconds`` while gc loops with ``grace=0``."""
    out = Outcome()
    pool: list[bytes] = []  # content put by some writer, maybe referenced by now
    lock = threading.Lock()
    stop = threading.Event()
    restore = _artifact_log.restore

    def counting_restore(arts: ArtifactStore, source: Path, files: Any) -> None:
        with lock:
            out.restored += len(files)
        restore(arts, source, files)

    monkeypatch.setattr(_artifact_log, "restore", counting_restore)

    def writer(i: int) -> None:
        store, arts = SqlStore(db_url), blobs()
        rng = random.Random(i)
        orphans: deque[bytes] = deque()
        try:
            run_id = new_run(store)
            n = 0
            while not stop.is_set():
                n += 1
                files = {"new.bin": rng.randbytes(rng.randint(1, 20_000))}
                if orphans:  # put a while ago, referenced by nothing until now
                    files["orphan.bin"] = orphans.popleft()
                with lock:
                    if pool:  # another writer's content, deduplicated
                        files["shared.bin"] = rng.choice(pool)
                directory = work / f"w{i}" / str(n)
                directory.mkdir(parents=True)
                for name, data in files.items():
                    (directory / name).write_bytes(data)
                since = gc_mark(store)
                spec = build_manifest(directory, arts, name=f"a{i}", type="t", workers=2)
                time.sleep(rng.random() * 0.01)  # the other files of a large upload
                record_version(store, arts, run_id, spec, directory, since=since)
                with lock:
                    out.versions.append(spec)
                for _ in range(2):
                    data = rng.randbytes(rng.randint(1, 5_000))
                    arts.put_bytes(data)
                    orphans.append(data)
                    with lock:
                        pool.append(data)
        except BaseException as exc:
            out.errors.append(exc)
            stop.set()
        finally:
            store.close()

    def collector() -> None:
        store, arts = SqlStore(db_url), blobs()
        try:
            while not stop.is_set():
                report = collect_garbage(store, arts, grace=0, batch=25)
                out.rounds += report.rounds
                out.deleted += len(report.deleted)
        except BaseException as exc:
            out.errors.append(exc)
            stop.set()
        finally:
            store.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    threads.append(threading.Thread(target=collector))
    for t in threads:
        t.start()
    stop.wait(seconds)
    stop.set()
    for t in threads:
        t.join(120)
    return out


def missing_blobs(arts: ArtifactStore, versions: list[ArtifactSpec]) -> list[str]:
    lost = []
    for digest in {f.digest for spec in versions for f in spec.files}:
        try:
            arts.verify(digest)
        except RuntrackError:
            lost.append(digest)
    return lost


def check_stress(
    db_url: str,
    blobs: BlobsFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    seconds: float,
) -> Outcome:
    out = stress(db_url, blobs, tmp_path / "work", seconds=seconds, monkeypatch=monkeypatch)
    assert out.errors == []
    assert len(out.versions) > 10 and out.rounds > 3 and out.deleted > 0
    assert missing_blobs(blobs(), out.versions) == []
    return out


def test_gc_during_uploads_never_loses_a_referenced_blob(
    db_url: str, blobs: BlobsFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    check_stress(db_url, blobs, tmp_path, monkeypatch, seconds=3.0)


@pytest.mark.slow
def test_gc_during_uploads_never_loses_a_referenced_blob_soak(
    db_url: str, blobs: BlobsFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = check_stress(db_url, blobs, tmp_path, monkeypatch, seconds=30.0)
    # the race happened (dozens of times in 30 s): writers found blobs deleted under
    # them and put them again (without that, those versions would have lost them)
    assert out.restored > 0


# -- rounds ----------------------------------------------------------------------------
def test_a_writer_waits_for_a_live_round_and_restores_what_it_deleted(
    db_url: str, tmp_path: Path
) -> None:
    store, arts = SqlStore(db_url), LocalArtifactStore(tmp_path / "blobs")
    run_id = new_run(store)
    source = tmp_path / "model"
    source.mkdir()
    (source / "w.bin").write_bytes(b"weights")
    since = gc_mark(store)
    spec = build_manifest(source, arts, name="m", type="t")
    round_id = store.begin_gc_round(60)  # a gc that read the referenced set just now...
    arts.delete(spec.files[0].digest)  # ...and deletes the blob: V is not recorded yet

    def finish_later() -> None:
        time.sleep(0.3)
        store.finish_gc_round(round_id)

    finisher = threading.Thread(target=finish_later)
    finisher.start()
    started = time.monotonic()
    version = record_version(store, arts, run_id, spec, source, since=since)
    waited = time.monotonic() - started
    finisher.join()
    assert version.version == "v0"
    assert waited >= 0.25  # it waited for the round
    assert arts.read_bytes(spec.files[0].digest) == b"weights"  # and put the blob again
    store.close()


def test_a_dead_round_expires(db_url: str, tmp_path: Path) -> None:
    store = SqlStore(db_url)
    dead = store.begin_gc_round(0.5)  # its gc died: never finished
    started = time.monotonic()
    assert store.wait_for_gc_rounds(since=None) is True
    assert 0.3 <= time.monotonic() - started < 5
    with pytest.raises(ConflictError, match="over"):
        store.renew_gc_round(dead, 60)  # an expired round cannot come back
    live = store.begin_gc_round(60)
    store.renew_gc_round(live, 60)
    store.finish_gc_round(live)
    with pytest.raises(ConflictError):
        store.renew_gc_round(live, 60)
    with pytest.raises(ValidationError, match="lease"):
        store.begin_gc_round(0)
    store.close()


class SlowDeletes(LocalArtifactStore):
    """A local store whose deletes take ``pause(i)`` seconds (the i-th delete)."""

    def __init__(self, root: Path, pause: Callable[[int], float]) -> None:
        super().__init__(root)
        self.pause = pause
        self.deletes = 0

    def delete(self, digest: str) -> bool:
        time.sleep(self.pause(self.deletes))
        self.deletes += 1
        return super().delete(digest)


def test_a_slow_round_renews_its_lease(db_url: str, tmp_path: Path) -> None:
    store, arts = SqlStore(db_url), LocalArtifactStore(tmp_path / "blobs")
    digests = [arts.put_bytes(f"orphan {i}".encode()).digest for i in range(6)]
    slow = SlowDeletes(tmp_path / "blobs", lambda i: 0.2)  # 1.2 s: twice the lease
    report = collect_garbage(store, slow, grace=0, lease=0.6)
    assert sorted(report.deleted) == sorted(digests) and report.rounds == 1
    assert not store.wait_for_gc_rounds(store.gc_mark())  # no round left live
    store.close()


def test_a_round_that_lost_its_lease_deletes_nothing_more(db_url: str, tmp_path: Path) -> None:
    store, arts = SqlStore(db_url), LocalArtifactStore(tmp_path / "blobs")
    digests = [arts.put_bytes(f"orphan {i}".encode()).digest for i in range(4)]
    # the first delete stalls for longer than the lease (a suspended process): writers
    # stop waiting for the round at its expiry, so the rest goes to a new round
    slow = SlowDeletes(tmp_path / "blobs", lambda i: 1.0 if i == 0 else 0.0)
    report = collect_garbage(store, slow, grace=0, lease=0.6)
    assert sorted(report.deleted) == sorted(digests)
    assert report.rounds == 2
    store.close()


def test_mark_skips_the_check_when_no_round_overlapped(db_url: str, tmp_path: Path) -> None:
    store, arts = SqlStore(db_url), LocalArtifactStore(tmp_path / "blobs")
    spec = build_manifest(_tree(tmp_path / "a", b"a"), arts, name="a", type="t")
    arts.delete(spec.files[0].digest)  # not by a gc round: nobody is to blame
    since = gc_mark(store)
    assert blobs_lost_to_gc(store, arts, [spec], since=since) == []  # no round: no check
    store.begin_gc_round(60)
    round_id = store.gc_mark()
    assert round_id is not None
    store.finish_gc_round(round_id)
    assert [f.digest for f in blobs_lost_to_gc(store, arts, [spec], since=since)] == [
        spec.files[0].digest
    ]
    assert blobs_lost_to_gc(store, arts, [spec], since=None) != []  # unknown mark: check
    store.close()


def test_dry_run_deletes_nothing_and_reports_bytes(db_url: str, tmp_path: Path) -> None:
    store, arts = SqlStore(db_url), LocalArtifactStore(tmp_path / "blobs")
    run_id = new_run(store)
    spec = build_manifest(_tree(tmp_path / "kept", b"kept"), arts, name="k", type="t")
    store.log_artifact(run_id, spec)
    orphans = [arts.put_bytes(b"x" * n).digest for n in (10, 20, 30)]
    report = collect_garbage(store, arts, grace=0, dry_run=True)
    assert sorted(report.deleted) == sorted(orphans) and report.bytes == 60
    assert report.kept_referenced == 1 and report.rounds == 0
    assert all(arts.exists(d) for d in orphans)
    assert store.gc_mark() == 1  # no round was begun
    report = collect_garbage(store, arts, grace=0, keep=lambda: {orphans[0]})
    assert sorted(report.deleted) == sorted(orphans[1:]) and report.rounds == 1
    assert arts.exists(orphans[0]) and arts.exists(spec.files[0].digest)
    store.close()


def _tree(root: Path, data: bytes) -> Path:
    root.mkdir(parents=True)
    (root / "f.bin").write_bytes(data)
    return root


# -- the command line and the SDK ------------------------------------------------------
def test_runtrack_gc_on_a_deployments_database_and_bucket(
    db_url: str,
    s3: Any,
    bucket: str,
    moto_endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``--db`` and ``--artifacts``: a server deployment's PostgreSQL (or SQLite) and S3
    bucket, collected directly from an operator's machine."""
    import json

    from click.testing import CliRunner

    from runtrack.cli import cli

    for name, value in (
        ("RUNTRACK_S3_ENDPOINT_URL", moto_endpoint),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        monkeypatch.setenv(name, value)
    store, arts = SqlStore(db_url), S3ArtifactStore(bucket, "team", client=s3)
    spec = build_manifest(_tree(tmp_path / "kept", b"kept"), arts, name="k", type="t")
    store.log_artifact(new_run(store), spec)
    orphan = arts.put_bytes(b"orphan").digest
    args = ["gc", "--db", db_url, "--artifacts", f"s3://{bucket}/team", "--grace", "0"]
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["deleted"] == [orphan] and doc["bytes"] == 6 and doc["rounds"] == 1
    assert not arts.exists(orphan) and arts.exists(spec.files[0].digest)
    store.close()


@pytest.mark.usefixtures("sdk")
def test_run_log_artifact_puts_back_what_a_round_deleted(tmp_path: Path) -> None:
    import runtrack
    from runtrack import settings
    from runtrack.client._state import STATE

    source = tmp_path / "model"
    source.mkdir()
    (source / "w.bin").write_bytes(b"weights")
    digest = build_manifest(source, LocalArtifactStore(tmp_path / "x"), name="m", type="t")
    blob = digest.files[0].digest
    with runtrack.init(project="p") as run:
        s = settings.load()
        store, arts = STATE.store(s), STATE.artifact_store(s)
        round_id = store.begin_gc_round(60)

        def gc_in_the_window() -> None:  # after the commit, before the writer's check
            while not store.referenced_among([blob]):
                time.sleep(0.005)
            arts.delete(blob)
            store.finish_gc_round(round_id)

        gc = threading.Thread(target=gc_in_the_window)
        gc.start()
        version = run.log_artifact(source, name="m")
        gc.join(30)
    assert version is not None and version.version == "v0"
    assert arts.read_bytes(blob) == b"weights"
