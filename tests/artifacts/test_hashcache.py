"""The hash cache: an unchanged file is not read again, a changed one always is, and a
broken cache is never an error. Also the local store's two ways of writing a blob."""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from runtrack.artifacts import _blobfile, hashcache
from runtrack.artifacts.base import BinarySource, BlobInfo
from runtrack.artifacts.hashcache import HashCache, file_key
from runtrack.artifacts.local import LocalArtifactStore
from runtrack.artifacts.manifest import build_manifest
from runtrack.testing.artifact_contract import ArtifactStoreContract, sha256


class CountingStore(LocalArtifactStore):
    """A local store that counts puts (a file read) and touches (a file not read)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.puts = 0
        self.touches = 0
        self._lock = threading.Lock()

    def put(self, source: BinarySource, *, expected_digest: str | None = None) -> BlobInfo:
        with self._lock:
            self.puts += 1
        return super().put(source, expected_digest=expected_digest)

    def touch(self, digest: str) -> bool:
        with self._lock:
            self.touches += 1
        return super().touch(digest)


@pytest.fixture
def store(tmp_path: Path) -> CountingStore:
    return CountingStore(tmp_path / "blobs")


@pytest.fixture
def cache(tmp_path: Path) -> HashCache:
    return HashCache(tmp_path / "cache" / "hashes.sqlite")


@pytest.fixture
def no_racy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files written by the test a moment ago count as old enough to be cached (the
    real rule is tested on its own below)."""
    monkeypatch.setattr(hashcache, "RACY_NS", 0)


def tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    time.sleep(0.01)  # coarse file clocks: let "now" move past the files' times
    return root


def build(root: Path, store: CountingStore, cache: HashCache | None) -> list[tuple[str, str]]:
    spec = build_manifest(root, store, name="d", type="t", hash_cache=cache)
    return [(f.path, f.digest) for f in spec.files]


@pytest.mark.usefixtures("no_racy_window")
def test_an_unchanged_file_is_not_read_again(
    tmp_path: Path, store: CountingStore, cache: HashCache
) -> None:
    root = tree(tmp_path / "d", {f"f{i}.bin": bytes([i]) * 1000 for i in range(20)})
    first = build(root, store, cache)
    assert store.puts == 20
    store.puts = 0
    blob = store.root / "sha256" / first[0][1][:2] / first[0][1][2:4] / first[0][1]
    os.utime(blob, (0, 0))
    assert build(root, store, cache) == first
    assert (store.puts, store.touches) == (0, 20)  # every file known: none read
    assert store.last_put(first[0][1]) > 1e9  # and touched, as a put would have


@pytest.mark.usefixtures("no_racy_window")
def test_a_changed_file_is_always_read_again(
    tmp_path: Path, store: CountingStore, cache: HashCache
) -> None:
    root = tree(tmp_path / "d", {"same-size.bin": b"a" * 100, "replaced.bin": b"old"})
    build(root, store, cache)
    # same size, and the modification time put back as it was: the ctime still moves
    path = root / "same-size.bin"
    before = path.stat()
    path.write_bytes(b"b" * 100)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    # replaced by another file (another inode) with the old times
    other = root / "new.tmp"
    other.write_bytes(b"new")
    old = (root / "replaced.bin").stat()
    os.utime(other, ns=(old.st_atime_ns, old.st_mtime_ns))
    os.replace(other, root / "replaced.bin")
    store.puts = 0
    again = dict(build(root, store, cache))
    assert store.puts == 2
    assert again == {"same-size.bin": sha256(b"b" * 100), "replaced.bin": sha256(b"new")}


def test_a_recently_modified_file_is_not_trusted(
    tmp_path: Path, store: CountingStore, cache: HashCache
) -> None:
    """The racy rule: a file modified less than RACY_NS before it was hashed could be
    modified again within the same clock tick without its stat changing."""
    root = tree(tmp_path / "d", {"fresh.bin": b"just written"})
    build(root, store, cache)
    assert cache.lookup(str(root / "fresh.bin"), (root / "fresh.bin").stat()) is None
    st = (root / "fresh.bin").stat()
    hashed_at = max(st.st_mtime_ns, st.st_ctime_ns) + hashcache.RACY_NS
    assert cache.record([(str(root / "fresh.bin"), st, "0" * 64)], hashed_at_ns=hashed_at) == 0
    later = hashed_at + 1
    assert cache.record([(str(root / "fresh.bin"), st, "0" * 64)], hashed_at_ns=later) == 1
    assert cache.lookup(str(root / "fresh.bin"), st) == "0" * 64


@pytest.mark.usefixtures("no_racy_window")
def test_a_file_whose_blob_is_gone_is_read_again(
    tmp_path: Path, store: CountingStore, cache: HashCache
) -> None:
    root = tree(tmp_path / "d", {"model.bin": b"weights"})
    ((_, digest),) = build(root, store, cache)
    store.delete(digest)  # gc
    store.puts = 0
    assert build(root, store, cache) == [("model.bin", digest)]
    assert store.puts == 1 and store.exists(digest)


@pytest.mark.usefixtures("no_racy_window")
def test_a_file_changing_while_it_is_read_is_not_cached(
    tmp_path: Path, store: CountingStore, cache: HashCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tree(tmp_path / "d", {"log.txt": b"line 1\n"})
    real_put = LocalArtifactStore.put

    def put_and_append(self: Any, source: BinarySource, **kw: Any) -> BlobInfo:
        info = real_put(self, source, **kw)
        with open(root / "log.txt", "ab") as fh:  # the writer is still at it
            fh.write(b"line 2\n")
        return info

    monkeypatch.setattr(LocalArtifactStore, "put", put_and_append)
    build(root, store, cache)
    assert cache.lookup(str(root / "log.txt"), (root / "log.txt").stat()) is None


@pytest.mark.parametrize("damage", [b"not a database at all" * 100, b""])
def test_a_corrupt_cache_is_rebuilt(tmp_path: Path, damage: bytes) -> None:
    path = tmp_path / "hashes.sqlite"
    path.write_bytes(damage)
    f = tmp_path / "f"
    f.write_bytes(b"x")
    st = f.stat()
    cache = HashCache(path)
    assert cache.lookup(str(f), st) is None
    assert cache.record([(str(f), st, "a" * 64)], hashed_at_ns=time.time_ns() + 10**10) == 1
    assert cache.lookup(str(f), st) == "a" * 64
    cache.close()
    with sqlite3.connect(path) as conn:  # a real cache file again
        assert conn.execute("SELECT count(*) FROM hashes").fetchone() == (1,)


def test_an_unusable_cache_is_ignored(tmp_path: Path, store: CountingStore) -> None:
    (tmp_path / "file").write_bytes(b"")
    cache = HashCache(tmp_path / "file" / "hashes.sqlite")  # its directory is a file
    root = tree(tmp_path / "d", {"a": b"a"})
    assert build(root, store, cache) == [("a", sha256(b"a"))]
    assert cache.lookup(str(root / "a"), (root / "a").stat()) is None


def test_entries_of_another_format_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "hashes.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE hashes (x)")
        conn.execute("PRAGMA user_version = 99")
    f = tmp_path / "f"
    f.write_bytes(b"x")
    with HashCache(path) as cache:
        assert cache.lookup(str(f), f.stat()) is None
        assert cache.record([(str(f), f.stat(), "b" * 64)], hashed_at_ns=time.time_ns() + 10**10)
        assert cache.lookup(str(f), f.stat()) == "b" * 64


def test_the_key_holds_what_changes_with_the_content(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"x")
    st = f.stat()
    key = file_key(st)
    assert key == f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}:{st.st_dev}"


def test_several_processes_share_one_cache(tmp_path: Path) -> None:
    import subprocess
    import sys

    f = tmp_path / "f"
    f.write_bytes(b"x")
    code = (
        "import os, sys, time; from runtrack.artifacts.hashcache import HashCache; "
        "c = HashCache(sys.argv[1]); st = os.stat(sys.argv[2]); "
        "[c.record([(sys.argv[2] + str(i), st, 'c' * 64)], hashed_at_ns=time.time_ns() "
        "+ 10**10) for i in range(200)]"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "h.sqlite"), str(f)])
        for _ in range(3)
    ]
    assert [p.wait(60) for p in procs] == [0, 0, 0]
    with HashCache(tmp_path / "h.sqlite") as cache:
        assert cache.lookup(f"{f}199", f.stat()) == "c" * 64


# -- the local store's writes: O_DIRECT or through the page cache -----------------------
class TestLocalArtifactStoreThroughThePageCache(ArtifactStoreContract):
    @pytest.fixture
    def artifact_store(self, tmp_path: Path) -> LocalArtifactStore:
        return LocalArtifactStore(tmp_path / "store", direct_io=False)


def test_a_filesystem_refusing_o_direct_at_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open

    def refusing(path: Any, flags: int, *args: Any) -> int:
        if flags & _blobfile.O_DIRECT:
            raise OSError(errno.EINVAL, "O_DIRECT refused")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", refusing)
    store = LocalArtifactStore(tmp_path / "s")
    data = os.urandom(3 * (1 << 20) + 123)
    assert store.read_bytes(store.put_bytes(data).digest) == data


@pytest.mark.skipif(not _blobfile.O_DIRECT, reason="no O_DIRECT on this system")
def test_a_filesystem_refusing_o_direct_at_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fcntl

    real_write = os.write

    def refusing(fd: int, data: Any) -> int:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & _blobfile.O_DIRECT:
            raise OSError(errno.EINVAL, "O_DIRECT refused")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", refusing)
    store = LocalArtifactStore(tmp_path / "s")
    data = os.urandom((1 << 20) + 5)
    assert store.read_bytes(store.put_bytes(data).digest) == data


@pytest.mark.usefixtures("sdk", "no_racy_window")
def test_run_log_artifact_does_not_read_an_unchanged_directory_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import runtrack

    root = tree(tmp_path / "d", {f"f{i}": bytes([i]) * 100 for i in range(5)})
    puts: list[int] = []
    real_put = LocalArtifactStore.put

    def counting(self: Any, source: BinarySource, **kw: Any) -> BlobInfo:
        puts.append(1)
        return real_put(self, source, **kw)

    monkeypatch.setattr(LocalArtifactStore, "put", counting)
    with runtrack.init(project="p") as run:
        first = run.log_artifact(root, name="d")
    assert len(puts) == 5
    assert (Path(os.environ["RUNTRACK_DIR"]) / "cache" / "hashes.sqlite").is_file()
    with runtrack.init(project="p") as run:
        again = run.log_artifact(root, name="d")
    assert len(puts) == 5  # the second run read nothing
    assert first is not None and again is not None and again.version == first.version == "v0"
