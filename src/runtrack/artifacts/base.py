"""The ``ArtifactStore`` contract: a content-addressed blob store.

Every artifact file is a *blob* keyed by its *digest*: the lowercase hex SHA-256 of its
content (64 characters). Manifests (``runtrack.artifacts.manifest``) map file names to
digests; the blob store only ever sees digests. Backends: a local directory
(``LocalArtifactStore``), S3-compatible object storage and a team server over HTTP. They
all face the one contract suite in ``runtrack.testing.artifact_contract``.

Errors raised by every method (all ``runtrack.errors``)::

    ValidationError        a malformed digest or source; nothing was stored or read
    ArtifactNotFoundError  no blob with that digest (open, size, helpers reading a blob)
    IntegrityError         content does not hash to the digest it should have
    StoreError             the backend could not do its work (disk full, permissions, ...)
     +-- StoreUnavailableError   transient (network, throttling): retrying may succeed
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import io
import os
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final, Protocol, TypeGuard

from ..errors import IntegrityError, RuntrackError, StoreError, ValidationError

__all__ = [
    "BLOCK_SIZE",
    "EMPTY_DIGEST",
    "ArtifactStore",
    "BinarySource",
    "BlobInfo",
    "copy_and_hash",
    "is_digest",
    "validate_digest",
]

BLOCK_SIZE: Final = 1 << 20  # bytes per read/write: nothing ever holds a whole blob
EMPTY_DIGEST: Final = hashlib.sha256(b"").hexdigest()
_DIGEST: Final = re.compile(r"[0-9a-f]{64}")
_O_BINARY: Final = getattr(os, "O_BINARY", 0)


class BinarySource(Protocol):
    """Anything with a binary ``read(size)``: open files, ``io.BytesIO``, sockets' files.

    ``read`` may return fewer bytes than asked (pipes, networks); ``b""`` means the end.
    """

    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """What :meth:`ArtifactStore.put` stored.

    ``created`` is False when a complete blob with this digest was already in the store,
    so nothing new was kept.
    """

    digest: str
    size: int
    created: bool


def _show(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_digest(value: object) -> TypeGuard[str]:
    """Whether ``value`` is a well-formed digest (64 lowercase hex characters)."""
    return isinstance(value, str) and _DIGEST.fullmatch(value) is not None


def validate_digest(digest: object) -> str:
    """Return ``digest`` if it is 64 lowercase hex characters, else raise ``ValidationError``.

    Every backend calls this before a digest reaches a path, key or URL, so a digest can
    never name a location of the caller's choosing (``../../etc/passwd`` is refused).
    """
    if not is_digest(digest):
        raise ValidationError(
            f"invalid digest {_show(digest)}: a digest is the SHA-256 of the content "
            "as exactly 64 lowercase hex characters [0-9a-f]"
        )
    return digest


def copy_and_hash(
    source: BinarySource,
    write: Callable[[bytes], object] | None = None,
    *,
    on_progress: Callable[[int], None] | None = None,
    read_error: type[RuntrackError] = StoreError,
    write_error: type[RuntrackError] = StoreError,
) -> tuple[str, int]:
    """Stream ``source`` to its end in ``BLOCK_SIZE`` reads, hashing as it goes.

    Each block is passed to ``write`` (if given) and ``on_progress(len(block))`` is called
    after it. Returns ``(digest, size)``. An ``OSError`` while reading becomes
    ``read_error``, one while writing becomes ``write_error`` (the caller says which side
    is the store's and which is the user's). Exceptions from ``on_progress`` propagate.
    A source that yields anything but bytes raises ``ValidationError``.
    """
    hasher = hashlib.sha256()
    size = 0
    while True:
        try:
            chunk = source.read(BLOCK_SIZE)
        except OSError as exc:
            raise read_error(f"reading failed: {exc}") from exc
        if not isinstance(chunk, bytes | bytearray | memoryview):
            raise ValidationError(
                f"the source returned {type(chunk).__name__}, not bytes: open files in "
                "binary mode ('rb') and use a blocking stream"
            )
        if not chunk:
            return hasher.hexdigest(), size
        hasher.update(chunk)
        size += len(chunk)
        if write is not None:
            try:
                write(chunk)
            except OSError as exc:
                raise write_error(f"writing failed: {exc}") from exc
        if on_progress is not None:
            on_progress(len(chunk))


class ArtifactStore(abc.ABC):
    """A content-addressed blob store. Subclasses implement the six abstract primitives;
    the helpers (``put_bytes``, ``put_file``, ``get_file``, ``read_bytes``, ``verify``) are
    built on them and work unchanged on every backend.

    Contract
    --------
    * **Keys.** A blob's key is the lowercase hex SHA-256 of its content, computed by the
      store while it receives the bytes. The store, never the client, decides where bytes
      live; no method takes a storage location, name or key (the paths of ``put_file``
      and ``get_file`` are the caller's local files). Every digest argument is checked with
      :func:`validate_digest` before any other use, raising ``ValidationError``.
    * **Atomicity.** A blob is either absent or complete and verified: readers
      (``open``, ``exists``, ``size``, ``iter_digests``) never see a partially written or
      unverified blob, even while a ``put`` of it is in progress or after one failed.
    * **Stored once.** Putting content that is already stored keeps the existing blob and
      returns ``created=False``. When several puts of the same new content race (threads,
      processes or machines), they all succeed, exactly one blob results, and at least one
      of them returns ``created=True`` (backends may document "exactly one").
    * **Immutability.** A blob never changes once stored; it only disappears by
      ``delete``. Deleting is not coordinated with concurrent puts of the same content:
      the caller (garbage collection) must only delete blobs no manifest references.
    * **Thread and process safety.** Every method may be called from any number of threads
      and processes at once on one store (and one instance may be shared by threads).
      Instances hold no mutable state besides their injected configuration.
    * **Streaming.** Nothing reads a whole blob into memory (except ``read_bytes``, which
      is for small blobs); data moves in ``BLOCK_SIZE`` blocks.
    * **Errors.** As drawn at the top of this module. ``OSError`` and backend library
      errors never escape a method of the store; they become ``StoreError`` (or
      ``StoreUnavailableError`` when retrying may help). The one exception is the stream
      returned by :meth:`open`, whose ``read`` may raise ``OSError``.
    """

    # -- primitives --------------------------------------------------------------------
    @abc.abstractmethod
    def put(self, source: BinarySource, *, expected_digest: str | None = None) -> BlobInfo:
        """Read ``source`` to its end, hashing while writing, and store the blob once.

        ``source`` is not closed. If ``expected_digest`` is given it is validated first
        (``ValidationError`` before anything is read) and if the content hashes otherwise,
        ``IntegrityError`` is raised and nothing is stored. An ``OSError`` from
        ``source.read``, or a source yielding ``str``, raises ``ValidationError``; any
        other exception it raises propagates. In every failure nothing is stored.
        """

    @abc.abstractmethod
    def open(self, digest: str) -> BinaryIO:
        """A binary stream over the blob's bytes, positioned at 0; the caller closes it.

        The stream yields the stored bytes as they are, without re-verifying them (use
        ``get_file``, ``read_bytes`` or ``verify`` for that). Raises
        ``ArtifactNotFoundError``.
        """

    @abc.abstractmethod
    def exists(self, digest: str) -> bool:
        """Whether a complete blob with this digest is stored."""

    @abc.abstractmethod
    def size(self, digest: str) -> int:
        """The blob's size in bytes. Raises ``ArtifactNotFoundError``."""

    @abc.abstractmethod
    def delete(self, digest: str) -> bool:
        """Remove the blob; True if it existed, False if there was nothing to remove."""

    @abc.abstractmethod
    def last_put(self, digest: str) -> float:
        """When the blob was last ``put`` (epoch seconds), a put of content already stored
        included. ``gc`` spares recently put blobs: an upload whose version is not yet
        recorded must not lose them. Raises ``ArtifactNotFoundError``."""

    @abc.abstractmethod
    def iter_digests(self) -> Iterator[str]:
        """Every stored blob's digest once, in no particular order.

        Blobs put or deleted while iterating may or may not be included; the digest of a
        blob still being written never is.
        """

    # -- helpers built on the primitives -----------------------------------------------
    def touch(self, digest: str) -> bool:
        """Whether the blob is stored, recording a put of it now if so (as ``put`` of
        content already stored does, so :meth:`last_put` moves) without sending its bytes:
        what a client that knows a file's digest (``hashcache``) does instead of a put.

        The default only asks :meth:`exists`; backends that keep ``last_put`` override it.
        """
        return self.exists(digest)

    def put_bytes(self, data: bytes, *, expected_digest: str | None = None) -> BlobInfo:
        """``put`` for content already in memory."""
        return self.put(io.BytesIO(data), expected_digest=expected_digest)

    def put_file(self, path: str | os.PathLike[str]) -> BlobInfo:
        """Store the content of a regular file (symlinks are followed).

        Raises ``ValidationError`` if the file cannot be opened for reading.
        """
        name = os.fspath(path)
        if not os.path.isfile(name):  # checked first: opening a FIFO would block
            what = "is not a regular file" if os.path.lexists(name) else "does not exist"
            raise ValidationError(f"cannot store {name!r}: it {what}")
        try:
            handle = open(name, "rb")  # noqa: SIM115 - closed below; errors mapped first
        except OSError as exc:
            raise ValidationError(f"cannot read {name!r}: {exc.strerror}") from exc
        with handle:
            return self.put(handle)

    def get_file(
        self,
        digest: str,
        dest: str | os.PathLike[str],
        *,
        verify: bool = True,
        on_progress: Callable[[int], None] | None = None,
    ) -> Path:
        """Write the blob to ``dest`` atomically and return ``dest`` as a ``Path``.

        The bytes go to a temporary file in ``dest``'s directory (created if missing),
        which is flushed to disk and then renamed over ``dest`` (``os.replace``): ``dest``
        is either left as it was or holds the complete blob. With ``verify`` the bytes are
        re-hashed on the way; a mismatch raises ``IntegrityError`` and leaves ``dest`` as
        it was. ``on_progress(n)`` is called after each block of ``n`` bytes.

        Raises ``ArtifactNotFoundError``; ``ValidationError`` if ``dest`` cannot be
        written (a directory is in the way, permissions, a full disk: the caller's side).
        """
        validate_digest(digest)
        dest = Path(dest)
        with self.open(digest) as source:
            try:
                temp, handle = _create_temp(dest.parent, mode=0o666)
            except OSError as exc:
                raise ValidationError(f"cannot write {os.fspath(dest)!r}: {exc}") from exc
            try:
                with handle:
                    actual, size = copy_and_hash(
                        source,
                        handle.write,
                        on_progress=on_progress,
                        read_error=StoreError,
                        write_error=ValidationError,
                    )
                    if verify and actual != digest:
                        raise IntegrityError(
                            f"blob {digest} read back with digest {actual} ({size} bytes): "
                            "the stored content is corrupt"
                        )
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temp, dest)
            except OSError as exc:
                raise ValidationError(f"cannot write {os.fspath(dest)!r}: {exc}") from exc
            finally:
                _unlink_quietly(temp)
        return dest

    def read_bytes(self, digest: str) -> bytes:
        """The whole blob in memory, verified (``IntegrityError``). For small blobs only.

        Raises ``ArtifactNotFoundError``.
        """
        validate_digest(digest)
        with self.open(digest) as source:
            buffer = io.BytesIO()
            actual, _ = copy_and_hash(source, buffer.write)
        if actual != digest:
            raise IntegrityError(f"blob {digest} read back with digest {actual}: it is corrupt")
        return buffer.getvalue()

    def verify(self, digest: str) -> None:
        """Re-hash a stored blob; ``IntegrityError`` if it does not match its digest.

        Raises ``ArtifactNotFoundError``.
        """
        validate_digest(digest)
        with self.open(digest) as source:
            actual, size = copy_and_hash(source)
        if actual != digest:
            raise IntegrityError(
                f"blob {digest} hashes to {actual} ({size} bytes): the stored content is corrupt"
            )


def _create_temp(directory: Path, *, mode: int) -> tuple[Path, io.BufferedWriter]:
    """A new, exclusively created file in ``directory`` (made if missing), opened "wb".

    ``mode`` is filtered by the umask like any new file's. Raises ``OSError``.
    """
    made = False
    while True:
        path = directory / f".rt-{secrets.token_hex(8)}.tmp"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, mode)
        except FileExistsError:  # pragma: no cover - 64 random bits collided
            continue
        except FileNotFoundError:  # the directory is missing: made once, not at every call
            if made:
                raise
            directory.mkdir(parents=True, exist_ok=True)
            made = True
            continue
        return path, open(fd, "wb")  # the caller closes it


def _unlink_quietly(path: Path) -> None:
    """Best effort: a temp that cannot be removed now is cleaned later."""
    with contextlib.suppress(OSError):
        os.unlink(path)
