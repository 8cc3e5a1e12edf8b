"""``RestArtifactStore``: the ``ArtifactStore`` contract over a team server's routes.

The store speaks for one project, with an injected ``httpx2.Client`` whose base URL and
``Authorization`` header the caller has set (``fastapi.testclient.TestClient`` is one,
for a server in process). Routes: ``runtrack.server.routers.artifacts``.

* ``put`` spools the source to a local temporary file while hashing it (the digest must
  be declared before the upload), then asks the server for an upload session. The
  server answers ``exists`` (a version of the project holds the blob already: nothing
  is sent), a presigned URL of its object store (sent there with the ``direct`` client,
  which must not carry the server's token), or a session of numbered parts. Parts are
  streamed from the spool, each with its ``Content-Digest``, and retried with jittered
  backoff on transient failures; a session left by a put that died is resumed by the
  next put of the same blob (the server returns it with the parts it holds), and only
  the missing parts are sent. Then ``complete``: the server verifies SHA-256 and size.
* ``open`` streams ``GET /projects/{project}/blobs/{digest}`` (or, with a ``direct``
  client, follows the server's redirect to a presigned URL); ``exists`` and ``size``
  are a ``HEAD`` of it. The server lets a project read the blobs its versions reference
  and the blobs it uploaded itself (until ``gc`` deletes them), so a put is readable
  at once by the store that put it, and a blob of another project never is.
* ``delete``, ``last_put`` and ``iter_digests`` are the server's maintenance routes,
  for administrators (``runtrack gc`` against a server).

Errors: the server's ``{"error": {"code", "message"}}`` becomes the runtrack error of
that code; a server that cannot be reached (after the retries) or answers 502/503/504
is ``StoreUnavailableError``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import random
import tempfile
import time
from collections.abc import Iterator
from typing import IO, Any, BinaryIO, Final
from urllib.parse import quote

import httpx2

from ..errors import (
    ArtifactNotFoundError,
    AuthenticationError,
    ConflictError,
    IntegrityError,
    NotFoundError,
    PermissionDeniedError,
    RuntrackError,
    StoreError,
    StoreUnavailableError,
    ValidationError,
    error_from_code,
)
from .base import BLOCK_SIZE, ArtifactStore, BinarySource, BlobInfo, copy_and_hash, is_digest
from .base import validate_digest as _validate_digest

__all__ = ["RestArtifactStore"]

API: Final = "/api/v1"
OCTET: Final = "application/octet-stream"
_TRANSIENT: Final = frozenset({429, 502, 503, 504})
_SESSION_ATTEMPTS: Final = 4  # puts of one blob whose shared session another put completed
# an object store's 500 (S3 "InternalError") is transient too: S3 asks clients to retry it
_TRANSIENT_DIRECT: Final = frozenset({500, *_TRANSIENT})
_BY_STATUS: Final[dict[int, type[RuntrackError]]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
}


class RestArtifactStore(ArtifactStore):
    """The blobs of ``project`` on a team server; see the module docstring.

    ``client``: an ``httpx2.Client`` with the server's base URL and token. ``direct``: a
    client without credentials for presigned object-store URLs (None: every byte goes
    through the server). ``retries``: attempts after the first for each request that
    fails transiently. Thread-safe if the clients are; holds no other state.
    """

    def __init__(
        self,
        client: httpx2.Client,
        project: str,
        *,
        direct: httpx2.Client | None = None,
        retries: int = 4,
        backoff: float = 0.2,
    ) -> None:
        if not isinstance(project, str) or not project:
            raise ValidationError(f"project must be a non-empty name, not {project!r}")
        self.client = client
        self.direct = direct
        self.project = project
        self.retries = retries
        self.backoff = backoff
        self._blobs = f"{API}/projects/{quote(project, safe='')}/blobs"

    def __repr__(self) -> str:
        return f"RestArtifactStore({str(self.client.base_url)!r}, {self.project!r})"

    # -- transport ---------------------------------------------------------------------
    def _send(
        self,
        method: str,
        path: str,
        *,
        client: httpx2.Client | None = None,
        stream: bool = False,
        content: Any = None,
        **kw: Any,
    ) -> httpx2.Response:
        """One request, retried on connection errors and 429/502/503/504. ``content`` is
        a zero-argument callable making the body anew for each attempt."""
        http = client or self.client
        delay = self.backoff
        for attempt in range(self.retries + 1):
            body = content() if callable(content) else content
            try:
                request = http.build_request(method, path, content=body, **kw)
                response = http.send(request, stream=stream, follow_redirects=False)
            except httpx2.TransportError as exc:
                failure: RuntrackError = StoreUnavailableError(
                    f"cannot reach {self._where(http)} ({type(exc).__name__}: {exc})"
                )
                failure.__cause__ = exc
            else:
                transient = _TRANSIENT_DIRECT if http is self.direct else _TRANSIENT
                if response.status_code not in transient:
                    return response
                detail = _message(response)
                failure = StoreUnavailableError(
                    f"{self._where(http)} is unavailable ({response.status_code}"
                    f"{': ' + detail if detail else ''}); retry later"
                )
            if attempt < self.retries:
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 3, 5.0)
        raise failure

    def _where(self, http: httpx2.Client) -> str:
        return "the object store" if http is self.direct else f"the runtrack server {self!r}"

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        # the client may be shared with RestStore, which prefers msgpack answers
        kw["headers"] = {**kw.get("headers", {}), "accept": "application/json"}
        response = self._send(method, path, **kw)
        if response.status_code >= 400:
            raise _error(response)
        try:
            return response.json()
        except ValueError as exc:
            raise StoreError(f"the server answered {path} with something not JSON") from exc

    # -- primitives --------------------------------------------------------------------
    def put(self, source: BinarySource, *, expected_digest: str | None = None) -> BlobInfo:
        if expected_digest is not None:
            _validate_digest(expected_digest)
        try:
            spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
        except OSError as exc:
            raise StoreError(f"cannot make a local temporary file for an upload: {exc}") from exc
        with spool:
            digest, size = copy_and_hash(
                source, spool.write, read_error=ValidationError, write_error=StoreError
            )
            if expected_digest is not None and digest != expected_digest:
                raise IntegrityError(
                    f"the content hashes to {digest} ({size} bytes), not to the expected "
                    f"{expected_digest}; nothing was stored"
                )
            for attempt in range(_SESSION_ATTEMPTS):
                try:
                    return self._upload(spool, digest, size)
                except NotFoundError:
                    # the session vanished under us: a concurrent put of the same content
                    # (they share one session) completed it and may still be storing the
                    # blob; ask again, which finds the blob or opens a new session
                    if attempt == _SESSION_ATTEMPTS - 1:
                        raise
                    time.sleep(self.backoff * (attempt + 1))
            raise AssertionError("unreachable")  # pragma: no cover

    def _upload(self, spool: IO[bytes], digest: str, size: int) -> BlobInfo:
        session = self._json(
            "POST",
            f"{API}/blobs/uploads",
            params={"project": self.project},
            json={"digest": digest, "size": size, "presigned": self.direct is not None},
        )
        if session.get("exists"):
            return BlobInfo(digest, size, created=False)
        if session.get("presigned"):
            self._put_direct(spool, size, session["presigned"])
        else:
            self._put_parts(spool, size, session)
        return self._complete(session, spool, size)

    def _put_direct(self, spool: IO[bytes], size: int, target: dict[str, Any]) -> None:
        assert self.direct is not None
        headers = {**target.get("headers", {}), "content-length": str(size)}
        response = self._send(
            "PUT",
            str(target["url"]),
            client=self.direct,
            content=lambda: _region(spool, 0, size),
            headers=headers,
        )
        response.close()
        if response.status_code >= 300:
            raise StoreError(f"the object store refused the upload ({response.status_code})")

    def _put_parts(self, spool: IO[bytes], size: int, session: dict[str, Any]) -> None:
        have = {int(p["n"]): int(p["size"]) for p in session.get("parts", [])}
        part_size = int(session["part_size"])
        for n in range(1, int(session["part_count"]) + 1):
            start = (n - 1) * part_size
            length = min(part_size, size - start)
            if have.get(n) != length:
                self._put_part(spool, str(session["upload_id"]), n, start, length)

    def _put_part(self, spool: IO[bytes], upload_id: str, n: int, start: int, length: int) -> None:
        hasher = hashlib.sha256()
        for chunk in _region(spool, start, length):
            hasher.update(chunk)
        checksum = base64.b64encode(hasher.digest()).decode()
        response = self._send(
            "PUT",
            f"{API}/blobs/uploads/{upload_id}/parts/{n}",
            content=lambda: _region(spool, start, length),
            headers={
                "content-type": OCTET,
                "content-length": str(length),
                "content-digest": f"sha-256=:{checksum}:",
            },
        )
        if response.status_code >= 400:
            raise _error(response)
        response.close()

    def _complete(self, session: dict[str, Any], spool: IO[bytes], size: int) -> BlobInfo:
        upload_id, digest = str(session["upload_id"]), str(session["digest"])
        path = f"{API}/blobs/uploads/{upload_id}/complete"
        for _ in range(2):
            response = self._send("POST", path, headers={"accept": "application/json"})
            if response.status_code < 400:
                doc = response.json()
                if doc.get("digest") != digest or doc.get("size") != size:
                    raise IntegrityError(f"the server stored {doc}, not blob {digest}")
                return BlobInfo(digest, size, created=bool(doc.get("created")))
            error = _error(response)
            if error.code == "upload_incomplete":  # bytes vanished: send what is missing
                try:
                    status = self._json("GET", f"{API}/blobs/uploads/{upload_id}")
                    if status.get("presigned") and self.direct is not None:
                        self._put_direct(spool, size, status["presigned"])
                    else:
                        self._put_parts(spool, size, status)
                    continue
                except NotFoundError as gone:  # another put of the same blob completed it
                    error = gone
            if isinstance(error, NotFoundError) and self.exists(digest):
                # our first answer was lost, or a concurrent put of the same content
                # (which shares the session) completed it first
                return BlobInfo(digest, size, created=False)
            raise error
        raise StoreError(f"upload {upload_id} could not be completed")

    def open(self, digest: str) -> BinaryIO:
        _validate_digest(digest)
        params = {"redirect": "true"} if self.direct is not None else None
        response = self._send("GET", f"{self._blobs}/{digest}", params=params, stream=True)
        if response.status_code == 307 and self.direct is not None:
            location = response.headers.get("location", "")
            response.close()
            response = self._send("GET", location, client=self.direct, stream=True)
        if response.status_code != 200:
            try:
                response.read()
            finally:
                response.close()
            raise self._not_found(digest) if response.status_code == 404 else _error(response)
        return io.BufferedReader(_ResponseReader(response), buffer_size=BLOCK_SIZE)

    def exists(self, digest: str) -> bool:
        return self._head(digest) is not None

    def size(self, digest: str) -> int:
        size = self._head(digest)
        if size is None:
            raise self._not_found(digest)
        return size

    def _head(self, digest: str) -> int | None:
        _validate_digest(digest)
        response = self._send("HEAD", f"{self._blobs}/{digest}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise _error(response)
        try:
            return int(response.headers["content-length"])
        except (KeyError, ValueError) as exc:
            raise StoreError("the server's answer has no Content-Length") from exc

    def last_put(self, digest: str) -> float:
        _validate_digest(digest)
        try:
            return float(self._json("GET", f"{API}/maintenance/blobs/{digest}")["last_put"])
        except NotFoundError:
            raise self._not_found(digest) from None

    def delete(self, digest: str) -> bool:
        _validate_digest(digest)
        return bool(self._json("DELETE", f"{API}/maintenance/blobs/{digest}")["deleted"])

    def iter_digests(self) -> Iterator[str]:
        response = self._send("GET", f"{API}/maintenance/blobs", stream=True)
        with contextlib.closing(response):
            if response.status_code != 200:
                response.read()
                raise _error(response)
            try:
                for line in response.iter_lines():
                    if is_digest(line.strip()):
                        yield line.strip()
            except httpx2.HTTPError as exc:
                raise StoreUnavailableError(f"listing the blobs broke off: {exc}") from exc

    def _not_found(self, digest: str) -> ArtifactNotFoundError:
        return ArtifactNotFoundError(f"no blob {digest} in project {self.project!r}")


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------
def _region(spool: IO[bytes], start: int, length: int) -> Iterator[bytes]:
    """``length`` bytes of the spool from ``start``, in blocks (a body for one attempt)."""
    spool.seek(start)
    left = length
    while left:
        chunk = spool.read(min(BLOCK_SIZE, left))
        if not chunk:
            raise StoreError("the upload's local temporary file ended early")
        left -= len(chunk)
        yield chunk


class _ResponseReader(io.RawIOBase):
    """A streamed response body as a raw stream whose transport errors are ``OSError``."""

    def __init__(self, response: httpx2.Response) -> None:
        self._response = response
        self._chunks = response.iter_bytes()
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                chunk = next(self._chunks, None)
            except httpx2.HTTPError as exc:
                raise OSError(f"reading the download failed: {exc}") from exc
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        with memoryview(buffer) as view:
            target = view.cast("B")
            n = min(len(target), len(self._pending))
            target[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        if not self.closed:
            self._response.close()
        super().close()


def _message(response: httpx2.Response) -> str:
    """The message of a (small) error answer, read and closed; "" if it has none."""
    try:
        response.read()
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError, httpx2.HTTPError):
        return ""
    finally:
        response.close()


def _error(response: httpx2.Response) -> RuntrackError:
    """The runtrack error a server's (or object store's) error answer stands for."""
    status = response.status_code
    try:
        doc = response.json()
        code, message = str(doc["error"]["code"]), str(doc["error"]["message"])
    except (ValueError, KeyError, TypeError, httpx2.ResponseNotRead):
        fallback = _BY_STATUS.get(status, StoreError if status >= 500 else ValidationError)
        return fallback(f"the server answered {status}")
    error = error_from_code(code, message)
    if type(error) is RuntrackError:  # a code only the server knows: classify by status
        error = _BY_STATUS.get(status, StoreError if status >= 500 else ValidationError)(message)
        error.code = code
    return error
