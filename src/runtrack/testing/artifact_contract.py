"""The contract suite every ``ArtifactStore`` backend must pass.

Written only against ``runtrack.artifacts.base.ArtifactStore``. A backend's test module
provides a fixture named ``artifact_store`` (a fresh, empty store per test) and
subclasses :class:`ArtifactStoreContract`::

    import pytest
    from runtrack.artifacts.local import LocalArtifactStore
    from runtrack.testing.artifact_contract import ArtifactStoreContract

    @pytest.fixture
    def artifact_store(tmp_path):
        return LocalArtifactStore(tmp_path / "blobs")

    class TestLocalArtifactStore(ArtifactStoreContract):
        def corrupt_blob(self, store, digest, data):  # optional, see below
            ...

Backend quirks are explicit: :meth:`ArtifactStoreContract.corrupt_blob` skips the tests
that need a damaged blob unless the backend overrides it, and
``max_stream_memory`` bounds the memory a 50 MB put or get may allocate.
"""

from __future__ import annotations

import hashlib
import io
import random
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from runtrack.artifacts.base import BLOCK_SIZE, EMPTY_DIGEST, ArtifactStore, BlobInfo
from runtrack.errors import ArtifactNotFoundError, IntegrityError, ValidationError

__all__ = ["BAD_DIGESTS", "ArtifactStoreContract", "GeneratedSource", "sha256"]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


BAD_DIGESTS: tuple[object, ...] = (
    "../../etc/passwd",
    "../" + "a" * 61,
    "a" * 62 + "/.",
    "/" + "a" * 63,
    "A" * 64,
    "a" * 63 + "A",
    "a" * 63,
    "a" * 65,
    "a" * 64 + "\n",
    " " + "a" * 64,
    "g" * 64,
    "\x00" * 64,
    "\uff41" * 64,  # fullwidth 'a': matches \w and some "hex" checks
    "",
    None,
    0,
    b"a" * 64,
)

_METHODS: dict[str, Callable[[ArtifactStore, Any, Path], object]] = {
    "open": lambda s, d, _: s.open(d),
    "exists": lambda s, d, _: s.exists(d),
    "touch": lambda s, d, _: s.touch(d),
    "size": lambda s, d, _: s.size(d),
    "delete": lambda s, d, _: s.delete(d),
    "put(expected_digest=)": lambda s, d, _: s.put(io.BytesIO(b"x"), expected_digest=d),
    "put_bytes(expected_digest=)": lambda s, d, _: s.put_bytes(b"x", expected_digest=d),
    "get_file": lambda s, d, tmp: s.get_file(d, tmp / "contract-out"),
    "read_bytes": lambda s, d, _: s.read_bytes(d),
    "verify": lambda s, d, _: s.verify(d),
}


class GeneratedSource:
    """A binary source of ``blocks`` deterministic pseudo-random blocks, made as read.

    Holds one block at a time, so a large source costs no memory; ``digest`` is known in
    advance. ``chunk`` bounds what one ``read`` returns (short reads, like a socket).
    """

    def __init__(self, blocks: int, block_size: int = BLOCK_SIZE, *, seed: int = 0) -> None:
        self.size = blocks * block_size
        self._base = random.Random(seed).randbytes(block_size)
        self._blocks = blocks
        self._next = 0
        self._pending = b""
        hasher = hashlib.sha256()
        for i in range(blocks):
            hasher.update(self._block(i))
        self.digest = hasher.hexdigest()

    def _block(self, i: int) -> bytes:
        return i.to_bytes(8, "big") + self._base[8:]

    def read(self, size: int = -1, /) -> bytes:
        if not self._pending and self._next < self._blocks:
            self._pending = self._block(self._next)
            self._next += 1
        if size < 0 or size >= len(self._pending):
            out, self._pending = self._pending, b""
        else:
            out, self._pending = self._pending[:size], self._pending[size:]
        return out


def _workdir(tmp_path: Path) -> Path:
    """A directory of the test's own: the backend's fixture may use ``tmp_path`` too."""
    path = tmp_path / "contract-work"
    path.mkdir()
    return path


class _Trickle:
    """A source that returns at most ``step`` bytes per read (pipes, sockets)."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = memoryview(data)
        self._step = step

    def read(self, size: int = -1, /) -> bytes:
        n = self._step if size < 0 else min(size, self._step)
        out, self._data = bytes(self._data[:n]), self._data[n:]
        return out


class _Exploding:
    """A source that fails after yielding some bytes."""

    def __init__(self, good: bytes, exc: BaseException) -> None:
        self._good: bytes | None = good
        self._exc = exc

    def read(self, size: int = -1, /) -> bytes:
        if self._good is None:
            raise self._exc
        out, self._good = self._good, None
        return out


class ArtifactStoreContract:
    """The assertions every backend faces. Needs the fixture ``artifact_store``."""

    max_stream_memory: ClassVar[int] = 16 * 1024 * 1024
    large_blob_blocks: ClassVar[int] = 50

    def corrupt_blob(self, store: ArtifactStore, digest: str, data: bytes) -> None:
        """Replace the stored bytes of ``digest`` by ``data``, behind the store's back.

        Backends that can override this; the tests that need it are skipped otherwise.
        """
        pytest.skip(f"{type(store).__name__} offers no way to corrupt a blob in tests")

    # -- round trips -------------------------------------------------------------------
    def test_put_open_round_trip(self, artifact_store: ArtifactStore) -> None:
        data = b"hello, artifacts\n"
        info = artifact_store.put(io.BytesIO(data))
        assert info == BlobInfo(digest=sha256(data), size=len(data), created=True)
        assert artifact_store.exists(info.digest)
        assert artifact_store.size(info.digest) == len(data)
        with artifact_store.open(info.digest) as stream:
            assert stream.read() == data
        assert artifact_store.read_bytes(info.digest) == data
        assert list(artifact_store.iter_digests()) == [info.digest]
        artifact_store.verify(info.digest)

    @pytest.mark.parametrize(
        "size", [1, BLOCK_SIZE - 1, BLOCK_SIZE, BLOCK_SIZE + 1, 3 * BLOCK_SIZE + 7]
    )
    def test_sizes_around_the_block_size(self, artifact_store: ArtifactStore, size: int) -> None:
        data = random.Random(size).randbytes(size)
        info = artifact_store.put_bytes(data)
        assert (info.digest, info.size) == (sha256(data), size)
        assert artifact_store.size(info.digest) == size
        assert artifact_store.read_bytes(info.digest) == data

    def test_empty_blob(self, artifact_store: ArtifactStore, tmp_path: Path) -> None:
        info = artifact_store.put_bytes(b"")
        assert info == BlobInfo(digest=EMPTY_DIGEST, size=0, created=True)
        assert artifact_store.exists(EMPTY_DIGEST)
        assert artifact_store.size(EMPTY_DIGEST) == 0
        assert artifact_store.read_bytes(EMPTY_DIGEST) == b""
        out = artifact_store.get_file(EMPTY_DIGEST, tmp_path / "empty")
        assert out.read_bytes() == b""
        assert list(artifact_store.iter_digests()) == [EMPTY_DIGEST]

    def test_short_reads_from_the_source(self, artifact_store: ArtifactStore) -> None:
        data = random.Random(1).randbytes(10_000)
        info = artifact_store.put(_Trickle(data, step=7))
        assert (info.digest, info.size) == (sha256(data), len(data))
        assert artifact_store.read_bytes(info.digest) == data

    def test_source_is_read_to_its_end_and_left_open(self, artifact_store: ArtifactStore) -> None:
        source = io.BytesIO(b"0123456789")
        source.seek(4)
        info = artifact_store.put(source)
        assert info.digest == sha256(b"456789")  # from the current position
        assert not source.closed
        assert source.read() == b""

    def test_open_streams_are_independent(self, artifact_store: ArtifactStore) -> None:
        digest = artifact_store.put_bytes(b"abcdef").digest
        with artifact_store.open(digest) as one, artifact_store.open(digest) as two:
            assert one.read(2) == b"ab"
            assert two.read(3) == b"abc"
            assert one.read() == b"cdef"
            assert two.read() == b"def"

    def test_put_file_and_get_file(self, artifact_store: ArtifactStore, tmp_path: Path) -> None:
        src = tmp_path / "model.bin"
        src.write_bytes(b"weights" * 1000)
        info = artifact_store.put_file(src)
        assert info.digest == sha256(src.read_bytes())
        dest = tmp_path / "out" / "deeper" / "copy.bin"
        assert artifact_store.get_file(info.digest, dest) == dest
        assert dest.read_bytes() == src.read_bytes()
        assert sorted(p.name for p in dest.parent.iterdir()) == ["copy.bin"]  # no temp left

    def test_get_file_replaces_an_existing_file(
        self, artifact_store: ArtifactStore, tmp_path: Path
    ) -> None:
        digest = artifact_store.put_bytes(b"new").digest
        work = _workdir(tmp_path)
        dest = work / "f"
        dest.write_bytes(b"old content")
        artifact_store.get_file(digest, str(dest))
        assert dest.read_bytes() == b"new"
        assert [p.name for p in work.iterdir()] == ["f"]

    def test_put_file_refuses_what_is_not_a_file(
        self, artifact_store: ArtifactStore, tmp_path: Path
    ) -> None:
        with pytest.raises(ValidationError, match="does not exist"):
            artifact_store.put_file(tmp_path / "missing")
        with pytest.raises(ValidationError, match="not a regular file"):
            artifact_store.put_file(tmp_path)
        assert list(artifact_store.iter_digests()) == []

    # -- stored once -------------------------------------------------------------------
    def test_same_content_is_stored_once(self, artifact_store: ArtifactStore) -> None:
        first = artifact_store.put_bytes(b"same")
        second = artifact_store.put(io.BytesIO(b"same"))
        assert first.created and not second.created
        assert (second.digest, second.size) == (first.digest, first.size)
        assert list(artifact_store.iter_digests()) == [first.digest]

    def test_iter_digests_lists_each_blob_once(self, artifact_store: ArtifactStore) -> None:
        digests = {artifact_store.put_bytes(f"blob {i}".encode()).digest for i in range(20)}
        artifact_store.put_bytes(b"blob 3")
        listed = list(artifact_store.iter_digests())
        assert len(listed) == len(set(listed))
        assert set(listed) == digests

    def test_delete(self, artifact_store: ArtifactStore) -> None:
        keep = artifact_store.put_bytes(b"keep").digest
        gone = artifact_store.put_bytes(b"gone").digest
        assert artifact_store.delete(gone) is True
        assert not artifact_store.exists(gone)
        assert artifact_store.delete(gone) is False
        with pytest.raises(ArtifactNotFoundError):
            artifact_store.open(gone)
        assert list(artifact_store.iter_digests()) == [keep]
        assert artifact_store.put_bytes(b"gone").created  # can come back
        assert artifact_store.read_bytes(gone) == b"gone"

    def test_touch(self, artifact_store: ArtifactStore) -> None:
        """``touch``: whether the blob is stored (and, where kept, a new ``last_put``),
        without sending its content."""
        digest = artifact_store.put_bytes(b"touched").digest
        assert artifact_store.touch(digest) is True
        assert artifact_store.read_bytes(digest) == b"touched"
        assert artifact_store.touch(sha256(b"never stored")) is False
        artifact_store.delete(digest)
        assert artifact_store.touch(digest) is False

    def test_missing_blob(self, artifact_store: ArtifactStore, tmp_path: Path) -> None:
        digest = sha256(b"never stored")
        assert not artifact_store.exists(digest)
        assert artifact_store.delete(digest) is False
        for call in (
            artifact_store.open,
            artifact_store.size,
            artifact_store.read_bytes,
            artifact_store.verify,
        ):
            with pytest.raises(ArtifactNotFoundError):
                call(digest)
        dest = _workdir(tmp_path) / "out" / "f"
        with pytest.raises(ArtifactNotFoundError):
            artifact_store.get_file(digest, dest)
        assert not dest.exists()

    # -- integrity ---------------------------------------------------------------------
    def test_expected_digest_match(self, artifact_store: ArtifactStore) -> None:
        info = artifact_store.put(io.BytesIO(b"payload"), expected_digest=sha256(b"payload"))
        assert info.digest == sha256(b"payload") and info.created

    def test_expected_digest_mismatch_stores_nothing(self, artifact_store: ArtifactStore) -> None:
        claimed = sha256(b"what the client claims")
        with pytest.raises(IntegrityError):
            artifact_store.put(io.BytesIO(b"what it sends"), expected_digest=claimed)
        assert not artifact_store.exists(claimed)
        assert not artifact_store.exists(sha256(b"what it sends"))
        assert list(artifact_store.iter_digests()) == []

    def test_expected_digest_mismatch_keeps_an_existing_blob(
        self, artifact_store: ArtifactStore
    ) -> None:
        digest = artifact_store.put_bytes(b"real").digest
        with pytest.raises(IntegrityError):
            artifact_store.put_bytes(b"fake", expected_digest=digest)
        assert artifact_store.read_bytes(digest) == b"real"
        assert list(artifact_store.iter_digests()) == [digest]

    def test_failing_source_stores_nothing(self, artifact_store: ArtifactStore) -> None:
        with pytest.raises(RuntimeError, match="boom"):
            artifact_store.put(_Exploding(b"partial", RuntimeError("boom")))
        with pytest.raises(ValidationError):
            artifact_store.put(_Exploding(b"partial", OSError(5, "I/O error")))
        assert list(artifact_store.iter_digests()) == []
        assert not artifact_store.exists(sha256(b"partial"))

    def test_text_source_is_refused(self, artifact_store: ArtifactStore) -> None:
        with pytest.raises(ValidationError, match="binary"):
            artifact_store.put(io.StringIO("text"))  # type: ignore[arg-type]
        assert list(artifact_store.iter_digests()) == []

    @pytest.mark.parametrize(
        ("method", "bad"),
        [
            pytest.param(method, bad, id=f"{method}-{bad!r}")
            for method in sorted(_METHODS)
            for bad in BAD_DIGESTS
            if not (bad is None and method.startswith("put"))  # None: no expectation
        ],
    )
    def test_invalid_digest_is_refused(
        self, artifact_store: ArtifactStore, tmp_path: Path, method: str, bad: object
    ) -> None:
        with pytest.raises(ValidationError, match="invalid digest"):
            _METHODS[method](artifact_store, bad, tmp_path)
        assert list(artifact_store.iter_digests()) == []
        assert not (tmp_path / "contract-out").exists()

    def test_get_file_verify_detects_corruption(
        self, artifact_store: ArtifactStore, tmp_path: Path
    ) -> None:
        digest = artifact_store.put_bytes(b"original content").digest
        self.corrupt_blob(artifact_store, digest, b"tampered content")
        work = _workdir(tmp_path)
        dest = work / "out"
        dest.write_bytes(b"previous")
        with pytest.raises(IntegrityError):
            artifact_store.get_file(digest, dest)
        assert dest.read_bytes() == b"previous"  # untouched, and no temp left beside it
        assert [p.name for p in work.iterdir()] == ["out"]
        fresh = work / "fresh"
        with pytest.raises(IntegrityError):
            artifact_store.get_file(digest, fresh)
        assert not fresh.exists()
        with pytest.raises(IntegrityError):
            artifact_store.read_bytes(digest)
        with pytest.raises(IntegrityError):
            artifact_store.verify(digest)
        # verify=False hands back the stored bytes as they are
        assert artifact_store.get_file(digest, fresh, verify=False).read_bytes() == (
            b"tampered content"
        )

    # -- scale and concurrency ---------------------------------------------------------
    def test_large_blob_is_streamed(self, artifact_store: ArtifactStore, tmp_path: Path) -> None:
        source = GeneratedSource(self.large_blob_blocks)
        tracemalloc.start()
        try:
            info = artifact_store.put(source)
            _, put_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            out = artifact_store.get_file(info.digest, tmp_path / "large.bin")
            _, get_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert (info.digest, info.size) == (source.digest, source.size)
        assert artifact_store.size(info.digest) == source.size
        assert out.stat().st_size == source.size
        assert put_peak < self.max_stream_memory, f"put peaked at {put_peak} bytes"
        assert get_peak < self.max_stream_memory, f"get_file peaked at {get_peak} bytes"

    def test_concurrent_puts_of_the_same_content(self, artifact_store: ArtifactStore) -> None:
        source = GeneratedSource(3, seed=7)
        data = b"".join(iter(lambda: source.read(BLOCK_SIZE), b""))
        results = self._in_threads(8, lambda: artifact_store.put_bytes(data))
        assert {(r.digest, r.size) for r in results} == {(sha256(data), len(data))}
        assert sum(r.created for r in results) >= 1
        assert list(artifact_store.iter_digests()) == [sha256(data)]
        assert artifact_store.read_bytes(sha256(data)) == data

    def test_concurrent_puts_of_different_content(self, artifact_store: ArtifactStore) -> None:
        counter = iter(range(1000))
        lock = threading.Lock()

        def put_one() -> BlobInfo:
            with lock:
                i = next(counter)
            return artifact_store.put_bytes(f"content {i}".encode() * 50_000)

        results = self._in_threads(8, put_one)
        assert all(r.created for r in results)
        assert set(artifact_store.iter_digests()) == {r.digest for r in results}

    @staticmethod
    def _in_threads(n: int, work: Callable[[], BlobInfo]) -> list[BlobInfo]:
        barrier = threading.Barrier(n)
        results: list[BlobInfo] = []
        errors: list[BaseException] = []
        lock = threading.Lock()

        def run() -> None:
            try:
                barrier.wait()
                result = work()
            except BaseException as exc:  # reported by the test thread
                with lock:
                    errors.append(exc)
                return
            with lock:
                results.append(result)

        threads = [threading.Thread(target=run) for _ in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        if errors:
            raise errors[0]
        assert len(results) == n
        return results
