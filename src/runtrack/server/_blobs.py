"""Blob uploads through the server: sessions, their parts, and which project holds a blob.

An upload session receives one blob in numbered parts of ``part_size`` bytes (the last
may be shorter), in any order, each replaceable until the session completes; completing
assembles the parts in order, hashes them and stores the blob only if the SHA-256 and
size are the declared ones. Sessions live next to the blobs, never in a server's memory,
so any server process may take any call of one upload:

* :class:`DirectoryUploads`, beside a ``LocalArtifactStore``: ``<root>/uploads/``
  holds ``sessions/<id>/session.json`` and ``sessions/<id>/part-00001`` ...; a part is
  written to a temporary file in its session directory and renamed into place once it
  is complete, so only whole parts are ever listed.
* :class:`BucketUploads`, beside an ``S3ArtifactStore``: the session record is the
  object ``<prefix>/uploads/sessions/<id>.json`` and the parts are the parts of an S3
  multipart upload to ``<prefix>/tmp/<token>`` (or one presigned ``PUT`` there).

Neither is a blob before :meth:`UploadArea.complete` has verified it: a client killed
midway leaves a session that expires (``SESSION_TTL``, one day) and is removed by
:meth:`UploadArea.cleanup` (``POST /maintenance/uploads/cleanup``) or when next touched.

Which project holds a blob: a project may download (and reference in a new version) a
blob that a version of the project references, or that was uploaded through one of
its sessions (a *claim*, kept beside the sessions until the blob is deleted). Knowing a
digest is not enough to read someone else's content.
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import io
import json
import math
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

from ..artifacts.base import BLOCK_SIZE, ArtifactStore, BlobInfo, validate_digest
from ..errors import (
    IntegrityError,
    NotFoundError,
    StoreError,
    ValidationError,
)

if TYPE_CHECKING:
    from ..artifacts.s3 import S3ArtifactStore
    from ..store.base import TrackingStore

MIB: Final = 1 << 20
SESSION_TTL: Final = 86_400.0
PREFERRED_PART: Final = 8 * MIB
MAX_PARTS: Final = 10_000
_ID: Final = re.compile(r"[0-9a-f]{32}")
_PART_FILE: Final = re.compile(r"part-(\d{5})")


class UploadNotFoundError(NotFoundError):
    code = "upload_not_found"


class UploadIncompleteError(ValidationError):
    code = "upload_incomplete"


@dataclass(frozen=True, slots=True)
class Session:
    """One upload, as stored. ``mode`` is ``parts`` (numbered parts through the server)
    or ``direct`` (one presigned ``PUT`` to the object store)."""

    id: str
    project: str
    digest: str
    size: int
    part_size: int
    created_at: float
    expires_at: float
    mode: str = "parts"
    token: str | None = None  # the object store's temporary object
    s3_upload_id: str | None = None

    @property
    def part_count(self) -> int:
        return math.ceil(self.size / self.part_size) if self.mode == "parts" else 0

    def part_length(self, n: int) -> int:
        """The exact size part ``n`` must have; ``UploadIncompleteError`` if there is no
        such part."""
        if self.mode != "parts":
            raise ValidationError("this upload goes to its presigned URL, not in parts")
        if not 1 <= n <= self.part_count:
            raise ValidationError(
                f"part {n} does not exist: this upload has parts 1 to {self.part_count}"
                if self.part_count
                else f"part {n} does not exist: an empty blob has no parts"
            )
        return min(self.part_size, self.size - (n - 1) * self.part_size)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Session:
        try:
            doc = json.loads(data)
            session = cls(**doc)
        except (ValueError, TypeError) as exc:
            raise StoreError(f"an upload session record is unreadable: {exc}") from exc
        return session


def check_upload_id(upload_id: object) -> str:
    """Upload ids are made here (128 random bits as hex); anything else names none."""
    if not isinstance(upload_id, str) or not _ID.fullmatch(upload_id):
        raise UploadNotFoundError(f"no upload {str(upload_id)[:80]!r}")
    return upload_id


def project_key(project: str) -> str:
    """A project's name as a key segment: its hash, so no name can shape a path."""
    return hashlib.sha256(project.encode()).hexdigest()[:32]


class PartSpool:
    """A part being received: ``write`` its bytes, then the area keeps or discards it."""

    def __init__(self, file: IO[bytes], path: Path | None = None) -> None:
        self.file = file
        self.path = path
        self.size = 0
        self.hasher = hashlib.sha256()

    def write(self, chunk: bytes) -> None:
        self.hasher.update(chunk)
        self.size += len(chunk)
        self.file.write(chunk)

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()
        if self.path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)


class UploadArea(abc.ABC):
    """Upload sessions and claims of one artifact store. Stateless besides its store:
    every server process may make its own over the same store. Thread-safe."""

    direct_uploads = False  # whether sessions may be one presigned PUT
    direct_limit = 0  # the largest blob a presigned PUT may carry

    def __init__(self, store: ArtifactStore, *, min_part: int = 1) -> None:
        self.store = store
        self.min_part = min_part

    # -- records: small documents under the area ---------------------------------------
    @abc.abstractmethod
    def _put_record(self, name: str, data: bytes) -> None: ...

    @abc.abstractmethod
    def _get_record(self, name: str) -> bytes | None: ...

    @abc.abstractmethod
    def _has_record(self, name: str) -> bool: ...

    @abc.abstractmethod
    def _delete_records(self, names: Iterable[str]) -> None: ...

    @abc.abstractmethod
    def _list_records(self, prefix: str) -> Iterator[tuple[str, float]]: ...

    # -- parts: where a session's bytes wait -------------------------------------------
    @abc.abstractmethod
    def _begin(self, session: Session) -> Session:
        """Prepare the session's storage; returns it with what that added (ids)."""

    @abc.abstractmethod
    def open_part(self, session: Session, n: int) -> PartSpool:
        """A spool to receive part ``n`` into."""

    @abc.abstractmethod
    def keep_part(self, session: Session, n: int, spool: PartSpool) -> None:
        """Make a complete spool part ``n`` of the session (replacing an earlier one)."""

    @abc.abstractmethod
    def received(self, session: Session) -> dict[int, int]:
        """``{part number: size}`` of the parts received so far."""

    @abc.abstractmethod
    def _assemble(self, session: Session) -> BlobInfo:
        """Store the blob from the received bytes, verified (``IntegrityError``)."""

    @abc.abstractmethod
    def _discard(self, session: Session) -> None:
        """Remove the session's bytes (best effort)."""

    def presign(self, session: Session) -> dict[str, Any] | None:
        """Where a ``direct`` session's client sends its bytes; None for ``parts``."""
        return None

    def download_url(self, digest: str) -> str | None:
        """A short-lived URL the blob can be fetched from directly; None: no such thing."""
        return None

    # -- sessions ----------------------------------------------------------------------
    def part_size(self, size: int, limit: int) -> int:
        """The part size for a blob of ``size`` bytes, parts being at most ``limit``."""
        wanted = max(PREFERRED_PART, math.ceil(size / MAX_PARTS / MIB) * MIB)
        part = min(wanted, limit)
        if part < self.min_part and size > part:
            raise StoreError(
                f"the server's part limit ({limit} bytes) is below the artifact store's "
                f"smallest part ({self.min_part} bytes); raise part_bytes"
            )
        if math.ceil(size / part) > MAX_PARTS:
            raise ValidationError(
                f"a blob of {size} bytes needs more than {MAX_PARTS} parts of {part} bytes"
            )
        return part

    def start(
        self, project: str, digest: str, size: int, *, part_limit: int, direct: bool
    ) -> tuple[Session, bool]:
        """The session uploading ``digest`` for ``project``: an unexpired one of the same
        blob (resumed, True) or a new one (False)."""
        validate_digest(digest)
        index = f"index/{project_key(project)}/{digest}"
        previous = self._get_record(index)
        if previous is not None:
            with contextlib.suppress(NotFoundError, StoreError):
                session = self.load(previous.decode())
                if session.project == project and session.size == size:
                    return session, True
        now = time.time()
        use_direct = direct and self.direct_uploads and 0 < size <= self.direct_limit
        session = Session(
            id=secrets.token_hex(16),
            project=project,
            digest=digest,
            size=size,
            part_size=self.part_size(size, part_limit) if not use_direct else size,
            created_at=now,
            expires_at=now + SESSION_TTL,
            mode="direct" if use_direct else "parts",
        )
        session = self._begin(session)
        self._put_record(f"sessions/{session.id}.json", session.to_json())
        self._put_record(index, session.id.encode())
        return session, False

    def load(self, upload_id: str) -> Session:
        """The live session ``upload_id``; ``UploadNotFoundError`` if there is none (an
        expired one is removed on the way)."""
        check_upload_id(upload_id)
        data = self._get_record(f"sessions/{upload_id}.json")
        if data is None:
            raise UploadNotFoundError(f"no upload {upload_id}: it completed, expired or never was")
        session = Session.from_json(data)
        if session.id != upload_id:
            raise StoreError(f"the record of upload {upload_id} names another upload")
        if session.expires_at < time.time():
            self.drop(session)
            raise UploadNotFoundError(f"upload {upload_id} expired; start a new one")
        return session

    def complete(self, session: Session) -> BlobInfo:
        """Verify and store the blob, claim it for the session's project, end the session.

        Missing or wrongly sized parts raise ``UploadIncompleteError`` and keep the
        session (send them, then complete again); content that does not hash to the
        declared digest raises ``IntegrityError`` and ends the session with nothing stored.
        """
        if session.mode == "parts":
            got = self.received(session)
            missing = [
                n for n in range(1, session.part_count + 1) if got.get(n) != session.part_length(n)
            ]
            if missing:
                shown = ", ".join(map(str, missing[:20])) + (" ..." if len(missing) > 20 else "")
                raise UploadIncompleteError(
                    f"upload {session.id} lacks {len(missing)} of its {session.part_count} "
                    f"parts: {shown}"
                )
        try:
            info = self._assemble(session)
        except IntegrityError:
            self.drop(session)
            raise
        if info.digest != session.digest or info.size != session.size:  # pragma: no cover
            raise IntegrityError(f"upload {session.id} stored {info}, not what it declared")
        self.claim(session.project, info.digest)
        self.drop(session)
        return info

    def drop(self, session: Session) -> None:
        """End a session and remove its bytes."""
        self._discard(session)
        index = f"index/{project_key(session.project)}/{session.digest}"
        names = [f"sessions/{session.id}.json"]
        if self._get_record(index) == session.id.encode():
            names.append(index)
        self._delete_records(names)

    def cleanup(self, now: float | None = None) -> int:
        """Remove expired sessions with their bytes; returns how many."""
        now = time.time() if now is None else now
        removed = 0
        for name, _ in list(self._list_records("sessions")):
            upload_id = name.rsplit("/", 1)[-1].removesuffix(".json")
            if not _ID.fullmatch(upload_id):
                continue
            data = self._get_record(f"sessions/{upload_id}.json")
            if data is None:
                continue
            session = Session.from_json(data)
            if session.expires_at < now:
                self.drop(session)
                removed += 1
        for name, modified in list(self._list_records("index")):
            if modified < now - SESSION_TTL:
                self._delete_records([name])
        return removed

    # -- claims ------------------------------------------------------------------------
    def claim(self, project: str, digest: str) -> None:
        self._put_record(f"claims/{validate_digest(digest)}/{project_key(project)}", b"")

    def claimed(self, project: str, digest: str) -> bool:
        return self._has_record(f"claims/{validate_digest(digest)}/{project_key(project)}")

    def forget(self, digest: str) -> None:
        """Drop every claim on a blob (it was deleted)."""
        names = [name for name, _ in self._list_records(f"claims/{validate_digest(digest)}")]
        self._delete_records(names)


# --------------------------------------------------------------------------------------
# Beside a LocalArtifactStore
# --------------------------------------------------------------------------------------
class DirectoryUploads(UploadArea):
    """Sessions as directories under ``root`` (``<store root>/uploads``)."""

    def __init__(self, store: ArtifactStore, root: Path) -> None:
        super().__init__(store)
        self.root = root

    def _path(self, name: str) -> Path:
        return self.root / name  # names are built here from checked ids and hex only

    def _session_dir(self, session: Session) -> Path:
        return self.root / "sessions" / check_upload_id(session.id)

    def _put_record(self, name: str, data: bytes) -> None:
        path = self._path(name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
            temp.write_bytes(data)
            os.replace(temp, path)
        except OSError as exc:
            raise StoreError(f"cannot write the upload record {name}: {exc}") from exc

    def _get_record(self, name: str) -> bytes | None:
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read the upload record {name}: {exc}") from exc

    def _has_record(self, name: str) -> bool:
        return self._path(name).is_file()

    def _delete_records(self, names: Iterable[str]) -> None:
        for name in names:
            try:
                os.unlink(self._path(name))
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise StoreError(f"cannot remove the upload record {name}: {exc}") from exc

    def _list_records(self, prefix: str) -> Iterator[tuple[str, float]]:
        base = self._path(prefix)
        if not base.is_dir():
            return
        for dirpath, _, files in os.walk(base):
            for file in files:
                if file.startswith("."):
                    continue
                path = Path(dirpath) / file
                with contextlib.suppress(FileNotFoundError):
                    yield path.relative_to(self.root).as_posix(), path.stat().st_mtime

    def _begin(self, session: Session) -> Session:
        try:
            self._session_dir(session).mkdir(parents=True)
        except OSError as exc:
            raise StoreError(f"cannot start an upload: {exc}") from exc
        return session

    def open_part(self, session: Session, n: int) -> PartSpool:
        directory = self._session_dir(session)
        path = directory / f".part-{n:05d}.{secrets.token_hex(8)}.tmp"
        try:
            return PartSpool(open(path, "xb"), path)  # the spool closes it
        except FileNotFoundError:
            raise UploadNotFoundError(f"upload {session.id} ended meanwhile") from None
        except OSError as exc:
            raise StoreError(f"cannot receive a part: {exc}") from exc

    def keep_part(self, session: Session, n: int, spool: PartSpool) -> None:
        assert spool.path is not None
        try:
            spool.file.flush()
            os.fsync(spool.file.fileno())
            spool.file.close()
            os.replace(spool.path, self._session_dir(session) / f"part-{n:05d}")
        except FileNotFoundError:
            # a concurrent put of the same content (they share the session) completed
            # it while this part arrived, and the session went with its files: as when
            # the session is gone before the part starts, the client asks again
            raise UploadNotFoundError(f"upload {session.id} ended meanwhile") from None
        except OSError as exc:
            raise StoreError(f"cannot keep part {n}: {exc}") from exc

    def received(self, session: Session) -> dict[int, int]:
        out: dict[int, int] = {}
        try:
            with os.scandir(self._session_dir(session)) as entries:
                for entry in entries:
                    m = _PART_FILE.fullmatch(entry.name)
                    if m and entry.is_file(follow_symlinks=False):
                        out[int(m.group(1))] = entry.stat(follow_symlinks=False).st_size
        except FileNotFoundError:
            raise UploadNotFoundError(f"upload {session.id} ended meanwhile") from None
        except OSError as exc:
            raise StoreError(f"cannot list the parts of upload {session.id}: {exc}") from exc
        return out

    def _assemble(self, session: Session) -> BlobInfo:
        directory = self._session_dir(session)
        paths = [directory / f"part-{n:05d}" for n in range(1, session.part_count + 1)]
        with _Concatenated(paths) as source:
            return self.store.put(source, expected_digest=session.digest)

    def _discard(self, session: Session) -> None:
        shutil.rmtree(self._session_dir(session), ignore_errors=True)

    def cleanup(self, now: float | None = None) -> int:
        removed = super().cleanup(now)
        cutoff = (time.time() if now is None else now) - SESSION_TTL
        sessions = self.root / "sessions"
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(sessions):  # directories whose record never came
                if (
                    entry.is_dir(follow_symlinks=False)
                    and _ID.fullmatch(entry.name)
                    and not (sessions / f"{entry.name}.json").exists()
                    and entry.stat(follow_symlinks=False).st_mtime < cutoff
                ):
                    shutil.rmtree(entry.path, ignore_errors=True)
        return removed


class _Concatenated:
    """The parts' files read one after the other, as one binary source."""

    def __init__(self, paths: list[Path]) -> None:
        self._paths = list(reversed(paths))
        self._current: IO[bytes] | None = None

    def __enter__(self) -> _Concatenated:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._current is not None:
            self._current.close()

    def read(self, size: int = -1, /) -> bytes:
        size = BLOCK_SIZE if size < 0 else size
        while True:
            if self._current is None:
                if not self._paths:
                    return b""
                try:
                    self._current = open(self._paths.pop(), "rb")  # noqa: SIM115
                except FileNotFoundError:
                    raise UploadNotFoundError("the upload ended while it was completed") from None
            chunk = self._current.read(size)
            if chunk:
                return chunk
            self._current.close()
            self._current = None


# --------------------------------------------------------------------------------------
# Beside an S3ArtifactStore
# --------------------------------------------------------------------------------------
class BucketUploads(UploadArea):
    """Sessions as records under ``<prefix>/uploads/`` and S3 multipart uploads (or one
    presigned ``PUT``) to ``<prefix>/tmp/<token>``."""

    direct_uploads = True

    def __init__(self, store: S3ArtifactStore, *, presign_expires: int = 3600) -> None:
        from ..artifacts.s3 import MAX_SINGLE_PUT, MIN_PART_SIZE

        super().__init__(store, min_part=MIN_PART_SIZE)
        self.s3 = store
        self.presign_expires = presign_expires
        self.direct_limit = MAX_SINGLE_PUT

    def _put_record(self, name: str, data: bytes) -> None:
        self.s3.put_record(name, data)

    def _get_record(self, name: str) -> bytes | None:
        return self.s3.get_record(name)

    def _has_record(self, name: str) -> bool:
        return self.s3.has_record(name)

    def _delete_records(self, names: Iterable[str]) -> None:
        for name in names:
            self.s3.delete_record(name)

    def _list_records(self, prefix: str) -> Iterator[tuple[str, float]]:
        return self.s3.list_records(prefix)

    def _begin(self, session: Session) -> Session:
        token = self.s3.new_token()
        upload_id = None
        if session.mode == "parts" and session.size > 0:
            upload_id = self.s3.stage_begin(token)
        return replace(session, token=token, s3_upload_id=upload_id)

    def open_part(self, session: Session, n: int) -> PartSpool:
        try:
            return PartSpool(tempfile.TemporaryFile())  # the spool closes it
        except OSError as exc:
            raise StoreError(f"cannot receive a part: {exc}") from exc

    def keep_part(self, session: Session, n: int, spool: PartSpool) -> None:
        assert session.token is not None and session.s3_upload_id is not None
        try:
            spool.file.seek(0)
            self.s3.stage_part(session.token, session.s3_upload_id, n, spool.file, spool.size)
        finally:
            spool.discard()

    def received(self, session: Session) -> dict[int, int]:
        if session.token is None or session.s3_upload_id is None:
            return {}
        return self.s3.stage_parts(session.token, session.s3_upload_id)

    def _assemble(self, session: Session) -> BlobInfo:
        assert session.token is not None
        if session.mode == "parts" and session.size == 0:
            return self.store.put(io.BytesIO(b""), expected_digest=session.digest)
        if session.mode == "direct" and self.s3.stage_size(session.token) is None:
            raise UploadIncompleteError(
                f"upload {session.id}: nothing was sent to its presigned URL yet"
            )
        return self.s3.stage_commit(
            session.token,
            expected_digest=session.digest,
            expected_size=session.size,
            upload_id=session.s3_upload_id,
        )

    def _discard(self, session: Session) -> None:
        if session.token is not None:
            self.s3.stage_discard(session.token, session.s3_upload_id)

    def presign(self, session: Session) -> dict[str, Any] | None:
        if session.mode != "direct" or session.token is None:
            return None
        expires = int(max(1, min(self.presign_expires, session.expires_at - time.time())))
        upload = self.s3.presign_put(session.token, expires=expires)
        return {"url": upload.url, "headers": upload.headers, "expires_at": upload.expires_at}

    def download_url(self, digest: str) -> str | None:
        return self.s3.presign_get(digest, expires=300)

    def cleanup(self, now: float | None = None) -> int:
        removed = super().cleanup(now)
        self.s3.cleanup_temp(SESSION_TTL)
        return removed


def upload_area(store: ArtifactStore) -> UploadArea:
    """The upload area beside a store: the one place that maps store types to areas."""
    from ..artifacts.local import LocalArtifactStore

    if isinstance(store, LocalArtifactStore):
        return DirectoryUploads(store, store.root / "uploads")
    from ..artifacts.s3 import S3ArtifactStore

    if isinstance(store, S3ArtifactStore):
        return BucketUploads(store)
    raise StoreError(f"uploads through the server need a local or S3 artifact store, not {store!r}")


# --------------------------------------------------------------------------------------
# Which blobs the versions of a project reference
# --------------------------------------------------------------------------------------
def referenced_in_project(store: TrackingStore, project: str, digests: Iterable[str]) -> set[str]:
    """The subset of ``digests`` that some artifact version of ``project`` references
    as a stored file (reference files do not count).

    ``TrackingStore`` has no such question yet, so this asks the SQL store's tables
    directly (one indexed query per 500 digests); it belongs in the store contract.
    """
    from sqlalchemy import select

    from ..store.sql._engine import translate_errors
    from ..store.sql.schema import artifact_files, artifact_versions, artifacts, projects
    from ..store.sql.store import SqlStore

    if not isinstance(store, SqlStore):
        raise StoreError(f"cannot tell which blobs a project references in {store!r}")
    wanted = sorted(set(digests))
    found: set[str] = set()
    f, v, a, p = artifact_files.c, artifact_versions.c, artifacts.c, projects.c
    joined = (
        artifact_files.join(artifact_versions, v.id == f.version_id)
        .join(artifacts, a.id == v.artifact_id)
        .join(projects, p.id == a.project_id)
    )
    with (
        translate_errors("reading which blobs a project references"),
        store.engine.connect() as conn,
    ):
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            query = (
                select(f.digest)
                .distinct()
                .select_from(joined)
                # a reference file's digest grants nothing: its content is elsewhere,
                # and anyone may write any digest into one
                .where(p.name == project, f.digest.in_(chunk), f.ref.is_(None))
            )
            found.update(conn.execute(query).scalars())
    return found
