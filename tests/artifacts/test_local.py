"""LocalArtifactStore: the ArtifactStore contract, then what only a directory store has."""

from __future__ import annotations

import errno
import multiprocessing
import os
import stat
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier as BarrierType
from pathlib import Path

import pytest

from runtrack.artifacts.base import ArtifactStore, BlobInfo
from runtrack.artifacts.local import LocalArtifactStore
from runtrack.errors import IntegrityError, StoreError, ValidationError
from runtrack.testing.artifact_contract import ArtifactStoreContract, GeneratedSource, sha256


@pytest.fixture
def artifact_store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "store")


def _blob_path(store: LocalArtifactStore, digest: str) -> Path:
    return store.root / "sha256" / digest[:2] / digest[2:4] / digest


class TestLocalArtifactStoreContract(ArtifactStoreContract):
    def corrupt_blob(self, store: ArtifactStore, digest: str, data: bytes) -> None:
        assert isinstance(store, LocalArtifactStore)
        path = _blob_path(store, digest)
        path.chmod(0o644)
        path.write_bytes(data)
        path.chmod(0o444)


# -- layout and files ------------------------------------------------------------------
def test_layout_and_read_only_blobs(artifact_store: LocalArtifactStore) -> None:
    info = artifact_store.put_bytes(b"layout")
    path = _blob_path(artifact_store, info.digest)
    assert path.read_bytes() == b"layout"
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert list((artifact_store.root / "tmp").iterdir()) == []


def test_root_is_created_and_may_be_a_string(tmp_path: Path) -> None:
    store = LocalArtifactStore(str(tmp_path / "a" / "b"))
    assert store.root == tmp_path / "a" / "b"
    assert (store.root / "sha256").is_dir() and (store.root / "tmp").is_dir()
    assert "LocalArtifactStore(" in repr(store)


def test_unusable_root_raises_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(StoreError, match="cannot use"):
        LocalArtifactStore(tmp_path / "file")


def test_relative_root_survives_a_change_of_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = LocalArtifactStore("rel")
    digest = store.put_bytes(b"x").digest
    monkeypatch.chdir("/")
    assert store.read_bytes(digest) == b"x"


def test_iter_digests_ignores_stray_entries(artifact_store: LocalArtifactStore) -> None:
    real = artifact_store.put_bytes(b"real").digest
    blobs = artifact_store.root / "sha256"
    other = sha256(b"other")
    (blobs / "README").write_text("not a blob")
    (blobs / "zz").mkdir()
    (blobs / "zz" / "zz").mkdir()
    (blobs / "zz" / "zz" / ("z" * 64)).write_text("")
    (blobs / real[:2] / real[2:4] / "notes.txt").write_text("")
    (blobs / real[:2] / real[2:4] / real.upper()).write_text("")
    wrong = blobs / "00" / "00"  # a digest filed under the wrong fan-out directories
    wrong.mkdir(parents=True)
    (wrong / other).write_text("")
    (blobs / other[:2] / other[2:4] / other).mkdir(parents=True)  # a directory, not a file
    (blobs / "ab" / "cd").mkdir(parents=True, exist_ok=True)
    os.symlink(_blob_path(artifact_store, real), blobs / "ab" / "cd" / ("abcd" + "0" * 60))
    assert list(artifact_store.iter_digests()) == [real]
    assert not artifact_store.exists(other)


# -- atomicity: temp files -------------------------------------------------------------
def test_failed_puts_leave_no_temp_files(artifact_store: LocalArtifactStore) -> None:
    with pytest.raises(IntegrityError):
        artifact_store.put_bytes(b"x", expected_digest=sha256(b"y"))

    class Boom:
        def read(self, size: int = -1, /) -> bytes:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        artifact_store.put(Boom())
    artifact_store.put_bytes(b"ok")
    artifact_store.put_bytes(b"ok")  # the duplicate's temp is discarded too
    assert list((artifact_store.root / "tmp").iterdir()) == []


def test_missing_tmp_directory_is_recreated(artifact_store: LocalArtifactStore) -> None:
    (artifact_store.root / "tmp").rmdir()
    assert artifact_store.put_bytes(b"again").created


def test_cleanup_temp_removes_only_stale_temps(artifact_store: LocalArtifactStore) -> None:
    tmp = artifact_store.root / "tmp"
    stale, fresh, foreign = (
        tmp / ".rt-0123456789abcdef.tmp",
        tmp / ".rt-fedcba9876543210.tmp",
        tmp / "keep.me",
    )
    for path in (stale, fresh, foreign):
        path.write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    os.utime(foreign, (two_hours_ago, two_hours_ago))
    assert artifact_store.cleanup_temp() == 1
    assert sorted(p.name for p in tmp.iterdir()) == sorted([fresh.name, foreign.name])
    assert artifact_store.cleanup_temp(max_age_s=0) == 1
    assert [p.name for p in tmp.iterdir()] == [foreign.name]


@pytest.mark.parametrize("bad", [-1, float("nan"), "3600", True, None])
def test_cleanup_temp_validates_its_age(artifact_store: LocalArtifactStore, bad: object) -> None:
    with pytest.raises(ValidationError, match="max_age_s"):
        artifact_store.cleanup_temp(bad)  # type: ignore[arg-type]


# -- without hard links ----------------------------------------------------------------
def test_falls_back_to_rename_without_hard_links(
    artifact_store: LocalArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_link(src: object, dst: object) -> None:
        raise OSError(errno.EPERM, "hard links not supported")

    monkeypatch.setattr(os, "link", no_link)
    first = artifact_store.put_bytes(b"renamed")
    second = artifact_store.put_bytes(b"renamed")
    assert first.created and not second.created
    assert artifact_store.read_bytes(first.digest) == b"renamed"
    assert list((artifact_store.root / "tmp").iterdir()) == []


# -- errors of the disk become StoreError ---------------------------------------------
def test_unusable_tmp_directory_raises_store_error(artifact_store: LocalArtifactStore) -> None:
    tmp = artifact_store.root / "tmp"
    tmp.rmdir()
    tmp.write_bytes(b"a file where the temp directory should be")
    with pytest.raises(StoreError, match="temp file"):
        artifact_store.put_bytes(b"x")
    assert list(artifact_store.iter_digests()) == []


def test_disk_errors_while_writing_raise_store_error(
    artifact_store: LocalArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(StoreError, match="No space left"):
        artifact_store.put_bytes(b"does not fit")
    monkeypatch.undo()
    assert list(artifact_store.iter_digests()) == []
    assert list((artifact_store.root / "tmp").iterdir()) == []


# -- several processes -----------------------------------------------------------------
def _put_from_process(
    root: str, barrier: BarrierType, results: Queue[tuple[str, int, bool]]
) -> None:
    store = LocalArtifactStore(root)
    source = GeneratedSource(4, seed=11)  # made in the child: nothing big is pickled
    barrier.wait()
    info = store.put(source)
    results.put((info.digest, info.size, info.created))


def test_processes_putting_the_same_blob_at_once(tmp_path: Path) -> None:
    root = tmp_path / "shared"
    LocalArtifactStore(root)
    ctx = multiprocessing.get_context("spawn")
    n = 6
    barrier = ctx.Barrier(n)
    results: Queue[tuple[str, int, bool]] = ctx.Queue()
    procs = [
        ctx.Process(target=_put_from_process, args=(str(root), barrier, results)) for _ in range(n)
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in range(n)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    results.close()
    results.join_thread()

    expected = GeneratedSource(4, seed=11)
    assert {(d, s) for d, s, _ in outcomes} == {(expected.digest, expected.size)}
    assert sum(created for _, _, created in outcomes) == 1  # exactly one link won
    store = LocalArtifactStore(root)
    assert list(store.iter_digests()) == [expected.digest]
    store.verify(expected.digest)
    assert list((root / "tmp").iterdir()) == []


def test_threads_putting_the_same_blob_exactly_one_creates(
    artifact_store: LocalArtifactStore,
) -> None:
    data = b"race" * 500_000
    results: list[BlobInfo] = ArtifactStoreContract._in_threads(
        8, lambda: artifact_store.put_bytes(data)
    )
    assert sum(r.created for r in results) == 1
