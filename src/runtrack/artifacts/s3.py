"""``S3ArtifactStore``: blobs as objects in an S3 bucket (AWS S3, MinIO, Ceph, R2, moto).

Layout (``prefix`` may be empty)::

    <prefix>/sha256/ab/cd/<digest>    one object per blob, written once
    <prefix>/tmp/<token>              puts and direct uploads in progress
    <prefix>/uploads/...              records of the team server's upload sessions

How a put stays atomic and stores each blob once: the source is read in parts of
``part_size`` bytes (8 MiB by default), each spooled to a local temporary file while it
is hashed. A source that fits in one part is hashed before a byte leaves the machine, so
it is written straight to its final key by one ``PutObject`` (S3 makes an object visible
only once it is complete) or not at all if that blob exists. A larger source goes to
``tmp/<token>`` as a multipart upload; once the last part is hashed the digest is known,
and the temporary object is copied to its final key by a server-side copy and deleted.
An existing blob is never rewritten: it is only *touched* (copied onto itself with a new
``last-put`` metadata value) so :meth:`last_put` moves. Racing puts of the same new
content may both report ``created=True``; the blob is stored once, with the same bytes.

A put that dies midway leaves a temporary object or an unfinished multipart upload
under ``tmp/``, never a blob: :meth:`S3ArtifactStore.cleanup_temp` removes stale ones
(a bucket lifecycle rule "abort incomplete multipart uploads after 1 day" on
``<prefix>/tmp/`` is a good second line).

Errors: every botocore error is translated once, in :func:`_translate`: a missing object
-> ``ArtifactNotFoundError``; no reachable endpoint, timeouts, 5xx and throttling ->
``StoreUnavailableError``; missing or refused credentials, a missing bucket and anything
else -> ``StoreError`` with a message that says which.

boto3 is imported only when a store without an injected ``client`` is made, so this
module costs nothing to import.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import secrets
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, BinaryIO, Final

from ..errors import (
    ArtifactNotFoundError,
    IntegrityError,
    RuntrackError,
    StoreError,
    StoreUnavailableError,
    ValidationError,
)
from .base import BLOCK_SIZE, ArtifactStore, BinarySource, BlobInfo, validate_digest

__all__ = ["DEFAULT_PART_SIZE", "DirectUpload", "S3ArtifactStore", "make_s3_client"]

MIB: Final = 1 << 20
DEFAULT_PART_SIZE: Final = 8 * MIB
MIN_PART_SIZE: Final = 5 * MIB  # S3's floor for every part but the last
MAX_PARTS: Final = 10_000  # S3's ceiling
MAX_SINGLE_PUT: Final = 5 * 1024 * MIB  # the largest object one PutObject may write
LAST_PUT: Final = "last-put"  # metadata key (x-amz-meta-last-put), epoch seconds

_BUCKET: Final = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PREFIX_SEGMENT: Final = re.compile(r"[A-Za-z0-9._-]+")
_TOKEN: Final = re.compile(r"[0-9a-f]{32}")
_RECORD: Final = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*")
_BLOB_KEY: Final = re.compile(r"([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})")
_MISSING: Final = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchUpload"})
_TRANSIENT: Final = frozenset(
    {
        "InternalError",
        "ServiceUnavailable",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequests",
        "RequestTimeout",
        "RequestTimeTooSkewed",
    }
)
_CREDENTIALS: Final = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "ExpiredToken",
        "InvalidAccessKeyId",
        "InvalidToken",
        "SignatureDoesNotMatch",
        "TokenRefreshRequired",
        "403",
    }
)


def make_s3_client(endpoint_url: str | None = None) -> Any:
    """A boto3 S3 client with credentials and region from the usual boto3 sources.

    ``endpoint_url`` points at an S3-compatible service (MinIO, Ceph, moto); path-style
    addressing is used then, as those services expect. Standard retries (3 attempts
    with backoff) ride out throttling before an error reaches the store.
    """
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise StoreError("the S3 artifact store needs boto3: pip install 'runtrack[s3]'") from exc
    config = Config(
        signature_version="s3v4",
        retries={"mode": "standard", "max_attempts": 3},
        s3={"addressing_style": "path"} if endpoint_url else {},
    )
    with _translate("creating an S3 client"):
        return boto3.client("s3", endpoint_url=endpoint_url or None, config=config)


@dataclass(frozen=True, slots=True)
class DirectUpload:
    """A presigned ``PUT`` of a whole blob to ``tmp/<token>``: send the bytes to ``url``
    with ``headers`` (and ``Content-Length``), then :meth:`S3ArtifactStore.stage_commit`."""

    token: str
    url: str
    headers: dict[str, str]
    expires_at: float


class S3ArtifactStore(ArtifactStore):
    """An ``ArtifactStore`` in ``bucket`` under ``prefix``; see the module docstring.

    ``client`` is a boto3 S3 client (made from the environment by
    :func:`make_s3_client` when omitted); the store only holds it and its configuration,
    so one instance may be shared by threads, and any number of processes and machines
    may use one bucket. ``part_size`` (at least 5 MiB) is the size of the parts a large
    put is sent in; each part is spooled to a local temporary file, never held whole in
    memory. Everything else is as in the ``ArtifactStore`` contract.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: Any = None,
        part_size: int = DEFAULT_PART_SIZE,
    ) -> None:
        if not isinstance(bucket, str) or not _BUCKET.fullmatch(bucket) or ".." in bucket:
            raise ValidationError(
                f"invalid S3 bucket name {bucket!r}: 3-63 lowercase letters, digits, '.' "
                "and '-', starting and ending with a letter or digit"
            )
        segments = [s for s in str(prefix).split("/") if s]
        for segment in segments:
            if not _PREFIX_SEGMENT.fullmatch(segment) or segment in (".", ".."):
                raise ValidationError(
                    f"invalid S3 key prefix {prefix!r}: use '/'-separated segments of "
                    "letters, digits, '.', '_' and '-' (no '.' or '..' segments)"
                )
        if (
            isinstance(part_size, bool)
            or not isinstance(part_size, int)
            or part_size < (MIN_PART_SIZE)
        ):
            raise ValidationError(f"part_size must be an int >= {MIN_PART_SIZE}, not {part_size!r}")
        self.bucket = bucket
        self.prefix = "/".join(segments)
        self.part_size = part_size
        self.client = client if client is not None else make_s3_client()
        self._root = f"{self.prefix}/" if self.prefix else ""

    def __repr__(self) -> str:
        return f"S3ArtifactStore({self.bucket!r}, {self.prefix!r})"

    # -- keys --------------------------------------------------------------------------
    def _key(self, digest: str) -> str:
        validate_digest(digest)
        return f"{self._root}sha256/{digest[:2]}/{digest[2:4]}/{digest}"

    def _temp_key(self, token: str) -> str:
        if not isinstance(token, str) or not _TOKEN.fullmatch(token):
            raise ValidationError(f"invalid upload token {token!r}")
        return f"{self._root}tmp/{token}"

    def _record_key(self, name: str) -> str:
        if not isinstance(name, str) or not _RECORD.fullmatch(name) or "/../" in f"/{name}/":
            raise ValidationError(f"invalid record name {name!r}")
        return f"{self._root}uploads/{name}"

    @staticmethod
    def new_token() -> str:
        """A fresh name for a temporary object: its creation time (8 hex digits of epoch
        seconds, so cleanup need not trust the service's dates) and 96 random bits."""
        return f"{int(time.time()) & 0xFFFFFFFF:08x}{secrets.token_hex(12)}"

    # -- primitives --------------------------------------------------------------------
    def put(self, source: BinarySource, *, expected_digest: str | None = None) -> BlobInfo:
        if expected_digest is not None:
            validate_digest(expected_digest)
        hasher = hashlib.sha256()
        with contextlib.ExitStack() as spools:
            first = spools.enter_context(_Spool())
            size = first.fill(source, hasher, self.part_size)
            second = None
            if first.size == self.part_size:  # maybe more to come
                second = spools.enter_context(_Spool())
                size += second.fill(source, hasher, self.part_size)
            if second is None or second.size == 0:
                digest = hasher.hexdigest()
                _check_expected(digest, size, expected_digest)
                return self._put_small(first, digest)
            return self._put_large(source, hasher, [first, second], expected_digest, spools)

    def _put_small(self, spool: _Spool, digest: str) -> BlobInfo:
        """A blob whose digest is known before upload: straight to its final key."""
        key = self._key(digest)
        if self._touch(key):
            return BlobInfo(digest, spool.size, created=False)
        with _translate(f"storing blob {digest}"):
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=spool.rewound(),
                ContentLength=spool.size,
                ContentType="application/octet-stream",
                Metadata={LAST_PUT: _now()},
            )
        return BlobInfo(digest, spool.size, created=True)

    def _put_large(
        self,
        source: BinarySource,
        hasher: Any,
        spools: list[_Spool],
        expected_digest: str | None,
        stack: contextlib.ExitStack,
    ) -> BlobInfo:
        token = self.new_token()
        upload_id: str | None = self.stage_begin(token)
        try:
            number = 0
            size = 0
            pending = list(spools)
            while pending:
                spool = pending.pop(0)
                number += 1
                size += spool.size
                assert upload_id is not None
                self.stage_part(token, upload_id, number, spool.rewound(), spool.size)
                spool.close()
                if not pending and spool.size == self.part_size:
                    following = stack.enter_context(_Spool())
                    following.fill(source, hasher, self.part_size)
                    if following.size:
                        pending.append(following)
            digest = hasher.hexdigest()
            _check_expected(digest, size, expected_digest)
            final = self._key(digest)
            if self._touch(final):
                return BlobInfo(digest, size, created=False)
            assert upload_id is not None
            self._finish_multipart(token, upload_id)
            upload_id = None
            return BlobInfo(digest, size, created=self._publish(token, digest))
        finally:
            self.stage_discard(token, upload_id)

    def open(self, digest: str) -> BinaryIO:
        key = self._key(digest)
        with _translate(f"reading blob {digest}", missing=f"no blob {digest} in {self!r}"):
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        return io.BufferedReader(_BodyReader(body), buffer_size=BLOCK_SIZE)

    def exists(self, digest: str) -> bool:
        return self._head(self._key(digest)) is not None

    def touch(self, digest: str) -> bool:
        return self._touch(self._key(digest))

    def size(self, digest: str) -> int:
        return int(self._head_blob(digest)["ContentLength"])

    def last_put(self, digest: str) -> float:
        head = self._head_blob(digest)
        stamp = str((head.get("Metadata") or {}).get(LAST_PUT, ""))
        try:
            return float(stamp)
        except ValueError:
            return float(head["LastModified"].timestamp())

    def delete(self, digest: str) -> bool:
        key = self._key(digest)
        if self._head(key) is None:
            return False
        with _translate(f"deleting blob {digest}"):
            self.client.delete_object(Bucket=self.bucket, Key=key)
        return True

    def iter_digests(self) -> Iterator[str]:
        base = f"{self._root}sha256/"
        for key, _ in self._list(base):
            m = _BLOB_KEY.fullmatch(key[len(base) :])
            if m and m.group(3)[:2] == m.group(1) and m.group(3)[2:4] == m.group(2):
                yield m.group(3)

    # -- direct transfers --------------------------------------------------------------
    def presign_get(self, digest: str, *, expires: int = 300) -> str:
        """A URL anyone may ``GET`` the blob from for ``expires`` seconds (1 s to 7 days),
        answered as an ``application/octet-stream`` attachment named by its digest."""
        key = self._key(digest)
        _check_expiry(expires)
        with _translate(f"presigning blob {digest}"):
            return str(
                self.client.generate_presigned_url(
                    "get_object",
                    Params={
                        "Bucket": self.bucket,
                        "Key": key,
                        "ResponseContentType": "application/octet-stream",
                        "ResponseContentDisposition": f'attachment; filename="{digest}"',
                        "ResponseCacheControl": "private, max-age=31536000, immutable",
                    },
                    ExpiresIn=expires,
                )
            )

    def presign_put(self, token: str, *, expires: int = 3600) -> DirectUpload:
        """A URL to ``PUT`` a whole blob (at most 5 GiB) to ``tmp/<token>`` for ``expires``
        seconds. Nothing is a blob until :meth:`stage_commit` has verified it."""
        key = self._temp_key(token)
        _check_expiry(expires)
        with _translate("presigning an upload"):
            url = self.client.generate_presigned_url(
                "put_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    "ContentType": "application/octet-stream",
                },
                ExpiresIn=expires,
            )
        headers = {"content-type": "application/octet-stream"}
        return DirectUpload(token, str(url), headers, time.time() + expires)

    # -- staged uploads: tmp/<token>, then verified into place -------------------------
    def stage_begin(self, token: str) -> str:
        """Start a multipart upload to ``tmp/<token>``; returns its S3 upload id."""
        key = self._temp_key(token)
        with _translate("starting a multipart upload"):
            answer = self.client.create_multipart_upload(
                Bucket=self.bucket, Key=key, ContentType="application/octet-stream"
            )
        return str(answer["UploadId"])

    def stage_part(
        self, token: str, upload_id: str, number: int, body: IO[bytes], size: int
    ) -> None:
        """Send part ``number`` (1-based) of a staged upload from the seekable ``body``.
        Sending a part again replaces it."""
        key = self._temp_key(token)
        with _translate(f"uploading part {number}", missing="the upload no longer exists"):
            self.client.upload_part(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                Body=body,
                ContentLength=size,
            )

    def stage_parts(self, token: str, upload_id: str) -> dict[int, int]:
        """``{part number: size}`` of the parts a staged multipart upload has received."""
        return {n: size for n, size, _ in self._parts(token, upload_id)}

    def stage_size(self, token: str) -> int | None:
        """The size of the (complete) temporary object ``tmp/<token>``; None if absent."""
        head = self._head(self._temp_key(token))
        return None if head is None else int(head["ContentLength"])

    def stage_commit(
        self,
        token: str,
        *,
        expected_digest: str,
        expected_size: int,
        upload_id: str | None = None,
    ) -> BlobInfo:
        """Make the staged ``tmp/<token>`` the blob ``expected_digest``.

        A multipart upload (``upload_id``) is completed first. The object is then read
        back and hashed here (streaming): S3-compatible services differ in which
        checksums they verify, and this way the bytes that become the blob are the bytes
        that were hashed. A size or digest mismatch deletes it and raises
        ``IntegrityError``; nothing is stored. Raises ``ArtifactNotFoundError`` if
        nothing was staged under ``token``.
        """
        validate_digest(expected_digest)
        try:
            if upload_id is not None:
                self._finish_multipart(token, upload_id)
                upload_id = None
            key = self._temp_key(token)
            head = self._head(key)
            if head is None:
                raise ArtifactNotFoundError("nothing was uploaded")
            size = int(head["ContentLength"])
            if size != expected_size:
                raise IntegrityError(
                    f"the upload is {size} bytes, not the declared {expected_size}; nothing "
                    "was stored"
                )
            with _translate("reading an upload back"):
                body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            with io.BufferedReader(_BodyReader(body), buffer_size=BLOCK_SIZE) as stream:
                digest = _hash_stream(stream)
            _check_expected(digest, size, expected_digest)
            final = self._key(digest)
            if self._touch(final):
                return BlobInfo(digest, size, created=False)
            return BlobInfo(digest, size, created=self._publish(token, digest))
        finally:
            self.stage_discard(token, upload_id)

    def stage_discard(self, token: str, upload_id: str | None = None) -> None:
        """Abort the multipart upload (if any) and delete ``tmp/<token>``; best effort
        (what is left is removed by :meth:`cleanup_temp`)."""
        key = self._temp_key(token)
        with contextlib.suppress(RuntrackError):
            if upload_id is not None:
                with _translate("aborting an upload"):
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=key, UploadId=upload_id
                    )
            with _translate("deleting a temporary object"):
                self.client.delete_object(Bucket=self.bucket, Key=key)

    # -- small records: the server's upload sessions and claims ------------------------
    def put_record(self, name: str, data: bytes) -> None:
        """Write the small object ``uploads/<name>`` (replacing it)."""
        key = self._record_key(name)
        with _translate(f"writing {key}"):
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def get_record(self, name: str) -> bytes | None:
        """The content of ``uploads/<name>``; None if it does not exist."""
        key = self._record_key(name)
        try:
            with _translate(f"reading {key}", missing=key):
                body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
                with contextlib.closing(body):
                    return bytes(body.read())
        except ArtifactNotFoundError:
            return None

    def has_record(self, name: str) -> bool:
        return self._head(self._record_key(name)) is not None

    def delete_record(self, name: str) -> None:
        key = self._record_key(name)
        with _translate(f"deleting {key}"):
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def list_records(self, prefix: str) -> Iterator[tuple[str, float]]:
        """``(name, last modified)`` of every record whose name starts with ``prefix/``."""
        base = self._record_key(prefix) + "/"
        skip = len(self._record_key("x")) - 1
        for key, modified in self._list(base):
            yield key[skip:], modified

    # -- maintenance -------------------------------------------------------------------
    def cleanup_temp(self, max_age_s: float = 86_400.0) -> int:
        """Remove temporary objects and abort multipart uploads under ``tmp/`` older than
        ``max_age_s`` seconds (puts and uploads that died). Returns how many."""
        if (
            isinstance(max_age_s, bool)
            or not isinstance(max_age_s, int | float)
            or not (max_age_s >= 0)
        ):
            raise ValidationError(f"max_age_s must be a number of seconds >= 0, not {max_age_s!r}")
        cutoff = time.time() - max_age_s
        base = f"{self._root}tmp/"

        def stale(key: str, reported: float) -> bool:
            token = key[len(base) :]
            born = int(token[:8], 16) if _TOKEN.fullmatch(token) else reported
            return born < cutoff

        removed = 0
        for key, modified in list(self._list(base)):
            if stale(key, modified):
                with _translate(f"deleting {key}"):
                    self.client.delete_object(Bucket=self.bucket, Key=key)
                removed += 1
        with _translate("listing multipart uploads"):
            pages = self.client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=base
            )
            uploads = [u for page in pages for u in page.get("Uploads", [])]
        for upload in uploads:
            if stale(str(upload["Key"]), upload["Initiated"].timestamp()):
                with _translate("aborting a multipart upload"):
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                removed += 1
        return removed

    # -- internals ---------------------------------------------------------------------
    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            with _translate(f"reading {key}", missing=key):
                return dict(self.client.head_object(Bucket=self.bucket, Key=key))
        except ArtifactNotFoundError:
            return None

    def _head_blob(self, digest: str) -> dict[str, Any]:
        head = self._head(self._key(digest))
        if head is None:
            raise ArtifactNotFoundError(f"no blob {digest} in {self!r}")
        return head

    def _list(self, prefix: str) -> Iterator[tuple[str, float]]:
        with _translate(f"listing {prefix}"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    yield str(item["Key"]), float(item["LastModified"].timestamp())

    def _parts(self, token: str, upload_id: str) -> list[tuple[int, int, str]]:
        key = self._temp_key(token)
        out: list[tuple[int, int, str]] = []
        with _translate("listing uploaded parts", missing="the upload no longer exists"):
            pages = self.client.get_paginator("list_parts").paginate(
                Bucket=self.bucket, Key=key, UploadId=upload_id
            )
            for page in pages:
                for part in page.get("Parts", []):
                    out.append((int(part["PartNumber"]), int(part["Size"]), str(part["ETag"])))
        return sorted(out)

    def _finish_multipart(self, token: str, upload_id: str) -> None:
        parts = [{"PartNumber": n, "ETag": etag} for n, _, etag in self._parts(token, upload_id)]
        with _translate("completing a multipart upload", missing="the upload no longer exists"):
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self._temp_key(token),
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )

    def _publish(self, token: str, digest: str) -> bool:
        """Copy the complete ``tmp/<token>`` to the blob's key (server side); False if
        another put got there first. The caller deletes the temporary object.

        A copy that fails (a 5xx, or a source that vanished: the staged object of an
        upload session that several completions of one content share, which the first
        to finish deletes) while the blob is found fresh just after counts as created.
        The store may have kept this very copy and lost its answer (moto writes the
        copy even when it then answers 404 for the deleted source), or failed each of
        several simultaneous copies while keeping one. Racing puts may both report
        created (module docstring); a new blob that no put reports is wrong."""
        final = self._key(digest)
        if self._touch(final):
            return False
        try:
            self._copy(self._temp_key(token), final)
        except (StoreUnavailableError, ArtifactNotFoundError):
            if not self._fresh(final):
                raise
        return True

    def _fresh(self, key: str, within: float = 60.0) -> bool:
        """Whether ``key`` exists and was put or touched in the last ``within`` seconds:
        after a failed copy onto a content-addressed key, a concurrent put of the same
        bytes that succeeded has done the work (some S3-compatible services fail one of
        two simultaneous copies onto one key with a 500 instead of letting the last win)."""
        try:
            head = self._head(key)
        except RuntrackError:
            return False
        if head is None:
            return False
        stamp = str((head.get("Metadata") or {}).get(LAST_PUT, ""))
        try:
            when = float(stamp)
        except ValueError:
            when = float(head["LastModified"].timestamp())
        return time.time() - when < within

    def _touch(self, key: str) -> bool:
        """Record a put of content already stored (``last_put``): the blob copied onto
        itself with new metadata, its bytes unchanged, in one request (``CopyObject``; a
        blob over 5 GiB, more than one copy may carry, through the managed copy). False
        if there is no such blob (never stored, or deleted by gc: whoever records a
        version checks its blobs after gc's rounds, see ``runtrack.store.gc``)."""
        from botocore.exceptions import ClientError

        try:
            with _translate(f"touching {key}", missing=key):
                try:
                    self.client.copy_object(
                        Bucket=self.bucket,
                        Key=key,
                        CopySource={"Bucket": self.bucket, "Key": key},
                        Metadata={LAST_PUT: _now()},
                        MetadataDirective="REPLACE",
                        ContentType="application/octet-stream",
                    )
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") != "InvalidRequest":
                        raise
                    self._copy(key, key)  # too large for one copy: the multipart copy
        except ArtifactNotFoundError:
            return False
        except StoreUnavailableError:
            if not self._fresh(key):
                raise
        return True

    def _copy(self, source: str, dest: str) -> None:
        with _translate(f"copying {source} to {dest}", missing=source):
            self.client.copy(
                {"Bucket": self.bucket, "Key": source},
                self.bucket,
                dest,
                ExtraArgs={
                    "Metadata": {LAST_PUT: _now()},
                    "MetadataDirective": "REPLACE",
                    "ContentType": "application/octet-stream",
                },
            )


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------
class _Spool:
    """One part of a put: up to ``limit`` bytes of the source in a local temporary file
    (in memory below ``BLOCK_SIZE``), hashed on the way in."""

    def __init__(self) -> None:
        self.size = 0
        self._file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=BLOCK_SIZE)  # noqa: SIM115

    def __enter__(self) -> _Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def fill(self, source: BinarySource, hasher: Any, limit: int) -> int:
        """Read up to ``limit`` bytes (fewer only at the end of the source)."""
        while self.size < limit:
            try:
                chunk = source.read(min(BLOCK_SIZE, limit - self.size))
            except OSError as exc:
                raise ValidationError(f"reading the source failed: {exc}") from exc
            if not isinstance(chunk, bytes | bytearray | memoryview):
                raise ValidationError(
                    f"the source returned {type(chunk).__name__}, not bytes: open files in "
                    "binary mode ('rb') and use a blocking stream"
                )
            if not chunk:
                break
            hasher.update(chunk)
            try:
                self._file.write(chunk)
            except OSError as exc:
                raise StoreError(f"S3 artifact store: cannot spool a part locally: {exc}") from exc
            self.size += len(chunk)
        return self.size

    def rewound(self) -> IO[bytes]:
        self._file.seek(0)
        return self._file


class _BodyReader(io.RawIOBase):
    """A botocore ``StreamingBody`` as a raw stream whose errors are ``OSError``."""

    def __init__(self, body: Any) -> None:
        from botocore.exceptions import BotoCoreError
        from urllib3.exceptions import HTTPError

        self._body = body
        self._errors: tuple[type[BaseException], ...] = (BotoCoreError, HTTPError)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self._body.read(len(buffer))
        except self._errors as exc:
            raise OSError(f"reading from S3 failed: {exc}") from exc
        n = len(data)
        with memoryview(buffer) as view:
            view.cast("B")[:n] = data
        return n

    def close(self) -> None:
        if not self.closed:
            with contextlib.suppress(Exception):
                self._body.close()
        super().close()


def _hash_stream(stream: BinaryIO) -> str:
    hasher = hashlib.sha256()
    try:
        while chunk := stream.read(BLOCK_SIZE):
            hasher.update(chunk)
    except OSError as exc:
        raise StoreUnavailableError(f"S3 artifact store: {exc}") from exc
    return hasher.hexdigest()


def _check_expected(digest: str, size: int, expected: str | None) -> None:
    if expected is not None and digest != expected:
        raise IntegrityError(
            f"the content hashes to {digest} ({size} bytes), not to the expected "
            f"{expected}; nothing was stored"
        )


def _check_expiry(expires: object) -> None:
    if isinstance(expires, bool) or not isinstance(expires, int) or not 1 <= expires <= 604_800:
        raise ValidationError(f"expires must be 1 to 604800 seconds, not {expires!r}")


def _now() -> str:
    return f"{time.time():.6f}"


@contextlib.contextmanager
def _translate(what: str, *, missing: str | None = None) -> Iterator[None]:
    """Turn botocore's exceptions into runtrack's, once, at the boundary.

    ``missing``: the message of the ``ArtifactNotFoundError`` a missing object becomes
    (None: a missing object is a ``StoreError`` like any other failure).
    """
    from botocore import exceptions as bx

    try:
        yield
    except bx.ClientError as exc:
        raise _from_client_error(exc, what, missing) from exc
    except (bx.NoCredentialsError, bx.PartialCredentialsError, bx.CredentialRetrievalError) as exc:
        raise StoreError(
            f"S3 artifact store: no usable credentials while {what} ({exc}); set "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or give the machine "
            "a role"
        ) from exc
    except (
        bx.EndpointConnectionError,
        bx.ConnectionClosedError,
        bx.ConnectTimeoutError,
        bx.ReadTimeoutError,
        bx.HTTPClientError,
    ) as exc:
        raise StoreUnavailableError(
            f"S3 artifact store: cannot reach the endpoint while {what} ({exc}); retry later"
        ) from exc
    except bx.BotoCoreError as exc:
        raise StoreError(f"S3 artifact store: {what} failed: {exc}") from exc


def _from_client_error(exc: Any, what: str, missing: str | None) -> RuntrackError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    detail = f"{code or status}: {error.get('Message') or 'no message'}"
    if code == "NoSuchBucket":
        return StoreError(f"S3 artifact store: the bucket does not exist ({what}; {detail})")
    if missing is not None and (code in _MISSING or status == 404):
        return ArtifactNotFoundError(missing)
    if code in _CREDENTIALS or status == 403:
        return StoreError(
            f"S3 artifact store: access refused while {what} ({detail}); check the "
            "credentials (AWS_ACCESS_KEY_ID, AWS_PROFILE, the role) and the bucket policy"
        )
    if code in _TRANSIENT or status in (429, 500, 502, 503, 504):
        return StoreUnavailableError(f"S3 artifact store: {what} failed ({detail}); retry later")
    return StoreError(f"S3 artifact store: {what} failed ({detail})")
