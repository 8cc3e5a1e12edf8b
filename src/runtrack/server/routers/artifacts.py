"""Artifacts: blob uploads in parts, blob downloads, versions, and gc's maintenance routes.

Uploads (WRITE on the project named when the upload starts; later calls check the
project stored with the session)::

    POST   /blobs/uploads?project=P            {digest, size, presigned?} -> a session
    PUT    /blobs/uploads/{id}/parts/{n}       application/octet-stream, one part
    GET    /blobs/uploads/{id}                 the parts received (resume after a crash)
    POST   /blobs/uploads/{id}/complete        verify, store -> {digest, size, created}
    DELETE /blobs/uploads/{id}                 give up

Downloads and versions (READ, or WRITE to record a version)::

    GET|HEAD /projects/{project}/blobs/{digest}       the bytes, if the project holds them
    POST     /runs/{run_id}/artifacts                 record a version (blobs must be held)
    GET      /projects/{project}/artifacts/{ref}      a version
    GET      /projects/{project}/artifacts/{ref}/files  its manifest

Maintenance (server administrators; ``runtrack gc`` over a server)::

    POST   /maintenance/gc                     {dry_run, grace} -> the gc report
    GET    /maintenance/referenced-blobs       {digests}
    GET    /maintenance/blobs                  every stored digest, one per line (streamed)
    GET    /maintenance/blobs/{digest}         {digest, size, last_put}
    DELETE /maintenance/blobs/{digest}         {deleted} (no gc round: not safe
                                               while versions are being recorded)
    POST   /maintenance/uploads/cleanup        {removed}: expired sessions

See ``docs/artifacts-server.md`` for the shapes, and ``server/_blobs.py`` for where
sessions live and which project holds which blob.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from starlette.requests import ClientDisconnect

from ...artifacts.base import BLOCK_SIZE, EMPTY_DIGEST, validate_digest
from ...entities import ArtifactFile, ArtifactSpec
from ...errors import ArtifactNotFoundError, IntegrityError, ValidationError
from ...protocol import spec_from_json, version_to_wire
from ...store.gc import DEFAULT_GRACE, blobs_lost_to_gc, collect_garbage, gc_mark
from ...validation import check_project
from .._blobs import (
    Session,
    UploadArea,
    check_upload_id,
    referenced_in_project,
    upload_area,
)
from .._deps import artifacts, config, project_of_path, project_of_run, store
from .._io import read_body, reply
from ..auth import Access, Principal, policy
from ..errors import error_response

router = APIRouter(prefix="/api/v1", tags=["artifacts"])

OCTET = "application/octet-stream"
DOWNLOAD_HEADERS = {
    "x-content-type-options": "nosniff",
    "cache-control": "private, max-age=31536000, immutable",  # content-addressed
}


class UploadIntegrityError(IntegrityError):
    """The client's bytes do not match what it declared: its error, so a 400."""

    http_status = 400


# -- what the routes share -------------------------------------------------------------
def _area(request: Request) -> UploadArea:
    """The upload area beside the app's artifact store (made once, holds no state)."""
    area: UploadArea | None = getattr(request.app.state, "upload_area", None)
    if area is None or area.store is not artifacts(request):
        area = upload_area(artifacts(request))
        request.app.state.upload_area = area
    return area


def project_of_query(request: Request) -> str:
    """The project an upload is started for: ``?project=`` (checked before the body is
    read, so the policy can refuse early)."""
    name = request.query_params.get("project")
    if name is None:
        raise ValidationError("name the upload's project: POST /api/v1/blobs/uploads?project=P")
    return check_project(name)


def project_of_upload(request: Request) -> str:
    """The project stored with the upload session named in the path; the session is
    kept on ``request.state.upload`` for the route."""
    session = _area(request).load(check_upload_id(request.path_params["upload_id"]))
    request.state.upload = session
    return session.project


def _holds(request: Request, project: str, digests: set[str]) -> set[str]:
    """The digests among ``digests`` that ``project`` may read: claimed by one of its
    uploads or referenced by one of its versions."""
    area = _area(request)
    held = {d for d in digests if area.claimed(project, d)}
    rest = digests - held
    if rest:
        held |= referenced_in_project(store(request), project, rest)
    return held


def _session_wire(area: UploadArea, session: Session, *, new: bool) -> dict[str, Any]:
    received = {} if new or session.mode != "parts" else area.received(session)
    return {
        "exists": False,
        "upload_id": session.id,
        "digest": session.digest,
        "size": session.size,
        "part_size": session.part_size,
        "part_count": session.part_count,
        "parts": [{"n": n, "size": size} for n, size in sorted(received.items())],
        "expires_at": session.expires_at,
        "presigned": area.presign(session),
    }


def _upload_request(body: Any) -> tuple[str, int, bool]:
    if not isinstance(body, dict):
        raise ValidationError("an upload starts with an object: {digest, size, presigned}")
    unknown = set(body) - {"digest", "size", "presigned"}
    if unknown:
        raise ValidationError(f"unknown upload fields: {', '.join(sorted(map(str, unknown)))}")
    digest = validate_digest(body.get("digest"))
    size = body.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValidationError(f"size must be the blob's size in bytes (an int >= 0), not {size!r}")
    presigned = body.get("presigned", False)
    if not isinstance(presigned, bool):
        raise ValidationError("presigned must be true or false")
    if (size == 0) != (digest == EMPTY_DIGEST):
        raise UploadIntegrityError(f"a blob of {size} bytes cannot have the digest {digest}")
    return digest, size, presigned


def _content_digest(header: str | None) -> bytes | None:
    """The SHA-256 of a ``Content-Digest: sha-256=:<base64>:`` header (RFC 9530)."""
    if header is None:
        return None
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name.strip().lower() != "sha-256":
            continue
        value = value.strip()
        try:
            if len(value) < 2 or value[0] != ":" or value[-1] != ":":
                raise ValueError
            raw = base64.b64decode(value[1:-1], validate=True)
        except (ValueError, binascii.Error):
            raise ValidationError("Content-Digest must be sha-256=:<base64>:") from None
        if len(raw) != 32:
            raise ValidationError("Content-Digest sha-256 must be 32 bytes")
        return raw
    return None


# -- uploads ---------------------------------------------------------------------------
@router.post("/blobs/uploads")
async def start_upload(
    request: Request, _: Principal = policy(Access.WRITE, project_of_query)
) -> Response:
    """Start (or resume) uploading a blob: ``{exists: true}`` if the project holds it
    already through one of its versions, else a session (201 new, 200 resumed)."""
    project = project_of_query(request)
    digest, size, presigned = _upload_request(
        await read_body(request, config(request).limits.json_body_bytes)
    )
    arts, area, limit = artifacts(request), _area(request), config(request).limits.part_bytes

    def decide() -> tuple[Session, bool] | None:
        if arts.exists(digest) and referenced_in_project(store(request), project, [digest]):
            stored = arts.size(digest)
            if stored != size:
                raise UploadIntegrityError(
                    f"blob {digest} is {stored} bytes, not the declared {size}"
                )
            return None
        return area.start(project, digest, size, part_limit=limit, direct=presigned)

    started = await run_in_threadpool(decide)
    if started is None:
        return reply(request, {"exists": True, "digest": digest, "size": size})
    session, resumed = started
    wire = await run_in_threadpool(_session_wire, area, session, new=not resumed)
    return reply(request, wire, 200 if resumed else 201)


@router.put("/blobs/uploads/{upload_id}/parts/{n}")
async def put_part(
    request: Request,
    upload_id: str,
    n: int,
    _: Principal = policy(Access.WRITE, project_of_upload),
) -> Response:
    """Receive part ``n`` (exactly its size; streamed to the area, never held whole).
    A ``Content-Digest: sha-256=:...:`` header is checked on arrival."""
    session: Session = request.state.upload
    area = _area(request)
    limit = config(request).limits.part_bytes
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != OCTET:
        raise HTTPException(415, f"a part is sent as {OCTET}")
    expected = session.part_length(n)
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise HTTPException(400, "Content-Length is not a number")
        if int(declared) > limit:
            raise HTTPException(413, f"a part is at most {limit} bytes")
        if int(declared) != expected:
            raise ValidationError(
                f"part {n} of upload {session.id} is {expected} bytes, not {declared}"
            )
    wanted = _content_digest(request.headers.get("content-digest"))
    spool = await run_in_threadpool(area.open_part, session, n)
    kept = False
    try:
        async for chunk in request.stream():
            if spool.size + len(chunk) > expected:
                raise HTTPException(
                    413 if spool.size + len(chunk) > limit else 400,
                    f"part {n} of upload {session.id} is {expected} bytes; more was sent",
                )
            spool.write(chunk)
        if spool.size != expected:
            raise ValidationError(
                f"part {n} of upload {session.id} ended after {spool.size} of {expected} bytes"
            )
        if wanted is not None and spool.hasher.digest() != wanted:
            raise UploadIntegrityError(f"part {n} does not match its Content-Digest")
        await run_in_threadpool(area.keep_part, session, n, spool)
        kept = True
    except ClientDisconnect:
        raise HTTPException(400, "the client went away before the part ended") from None
    finally:
        if not kept:
            await run_in_threadpool(spool.discard)
    return reply(request, {"n": n, "size": spool.size, "sha256": spool.hasher.hexdigest()})


@router.get("/blobs/uploads/{upload_id}")
def upload_status(
    request: Request, upload_id: str, _: Principal = policy(Access.WRITE, project_of_upload)
) -> Response:
    """The session and the parts received so far (to resume after a crash)."""
    return reply(request, _session_wire(_area(request), request.state.upload, new=False))


@router.post("/blobs/uploads/{upload_id}/complete")
def complete_upload(
    request: Request, upload_id: str, _: Principal = policy(Access.WRITE, project_of_upload)
) -> Response:
    """Assemble the parts in order, verify SHA-256 and size, store the blob, end the
    session. A mismatch is a 400 ``integrity`` and stores nothing."""
    try:
        info = _area(request).complete(request.state.upload)
    except UploadIntegrityError:
        raise
    except IntegrityError as exc:
        raise UploadIntegrityError(exc.message) from exc
    return reply(request, {"digest": info.digest, "size": info.size, "created": info.created})


@router.delete("/blobs/uploads/{upload_id}", status_code=204)
def abort_upload(
    request: Request, upload_id: str, _: Principal = policy(Access.WRITE, project_of_upload)
) -> Response:
    _area(request).drop(request.state.upload)
    return Response(status_code=204)


# -- downloads -------------------------------------------------------------------------
@router.get("/projects/{project}/blobs/{digest}")
def download_blob(
    request: Request,
    project: str,
    digest: str,
    redirect: bool = Query(default=False),
    _: Principal = policy(Access.READ, project_of_path),
) -> Response:
    """The blob's bytes, streamed (or, with ``?redirect=true`` and an object store that
    presigns, a 307 to a short-lived URL). 404 unless the project holds the blob."""
    size, headers = _blob_headers(request, project, digest)
    if request.headers.get("if-none-match") in (f'"{digest}"', f'W/"{digest}"', "*"):
        return Response(status_code=304, headers=headers)
    if redirect:
        url = _area(request).download_url(digest)
        if url is not None:
            return RedirectResponse(url, 307, headers={"cache-control": "no-store"})
    stream = artifacts(request).open(digest)
    return StreamingResponse(
        _chunks(stream), headers={**headers, "content-length": str(size)}, media_type=OCTET
    )


@router.head("/projects/{project}/blobs/{digest}")
def blob_head(
    request: Request,
    project: str,
    digest: str,
    _: Principal = policy(Access.READ, project_of_path),
) -> Response:
    """The download's headers (``Content-Length`` is the blob's size), no body."""
    size, headers = _blob_headers(request, project, digest)
    return Response(
        status_code=200, headers={**headers, "content-length": str(size)}, media_type=OCTET
    )


def _blob_headers(request: Request, project: str, digest: str) -> tuple[int, dict[str, str]]:
    validate_digest(digest)
    check_project(project)
    if digest not in _holds(request, project, {digest}):
        raise ArtifactNotFoundError(f"no blob {digest} in project {project!r}")
    size = artifacts(request).size(digest)
    headers = {
        **DOWNLOAD_HEADERS,
        "etag": f'"{digest}"',
        "content-disposition": f'attachment; filename="{digest}"',
    }
    return size, headers


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    with stream:
        while chunk := stream.read(BLOCK_SIZE):
            yield chunk


# -- versions --------------------------------------------------------------------------
async def refuse_missing_blobs(
    request: Request, project: str, specs: Sequence[ArtifactSpec]
) -> Response | None:
    """A 400 ``missing_blobs`` answer if a version among ``specs`` references a blob that
    is not stored or not held by ``project`` (knowing a digest gives no access to its
    content: a version cannot adopt another project's blob); None if all are there."""
    arts = artifacts(request)
    digests = {validate_digest(f.digest) for spec in specs for f in spec.files if f.ref is None}
    if not digests:
        return None

    def missing() -> list[str]:
        held = _holds(request, project, digests)
        return sorted(d for d in digests if d not in held or not arts.exists(d))

    absent = await run_in_threadpool(missing)
    if not absent:
        return None
    names = ", ".join(sorted({repr(spec.name) for spec in specs}))
    shown = ", ".join(absent[:20]) + (f" and {len(absent) - 20} more" if len(absent) > 20 else "")
    return error_response(
        400,
        "missing_blobs",
        f"artifact {names} references {len(absent)} blob(s) not uploaded to project "
        f"{project!r}: {shown}; upload them first (POST /api/v1/blobs/uploads)",
        missing=absent,
    )


async def gc_mark_now(request: Request) -> int | None:
    """The gc mark a route takes before it checks the blobs of versions it will record
    (see ``runtrack.store.gc``)."""
    return await run_in_threadpool(gc_mark, store(request))


async def refuse_lost_blobs(
    request: Request, specs: Sequence[ArtifactSpec], since: int | None
) -> Response | None:
    """After versions of ``specs`` were committed: wait for the gc rounds live now, then a
    400 ``missing_blobs`` answer if a concurrent gc deleted some of their blobs (the
    versions stay recorded; the client uploads those blobs again and retries, which finds
    the versions recorded and checks again); None if every blob is there. The writer's
    side of the protocol in ``runtrack.store.gc``."""
    if not specs:
        return None
    arts = artifacts(request)
    lost = await run_in_threadpool(blobs_lost_to_gc, store(request), arts, specs, since=since)
    if not lost:
        return None
    absent = sorted(f.digest for f in lost)
    shown = ", ".join(absent[:20]) + (f" and {len(absent) - 20} more" if len(absent) > 20 else "")
    names = ", ".join(sorted({repr(spec.name) for spec in specs}))
    return error_response(
        400,
        "missing_blobs",
        f"artifact {names} is recorded, but a concurrent gc deleted {len(absent)} of its "
        f"blob(s): {shown}; upload them again (POST /api/v1/blobs/uploads) and retry",
        missing=absent,
    )


@router.post("/runs/{run_id}/artifacts", status_code=201)
async def log_artifact(
    request: Request, run_id: str, _: Principal = policy(Access.WRITE, project_of_run)
) -> Response:
    """Record a version (``runtrack.protocol.spec_to_json``). Every blob it references
    must be stored and held by the run's project, else 400 ``missing_blobs``; the same
    answer comes after the version was recorded if a concurrent gc deleted a blob of it
    meanwhile (upload it again and retry)."""
    body = await read_body(request, config(request).limits.batch_body_bytes)
    if not isinstance(body, dict):
        raise ValidationError("an artifact version is an object (see spec_to_json)")
    spec = spec_from_json(body)
    since = await gc_mark_now(request)
    refusal = await refuse_missing_blobs(request, project_of_run(request), [spec])
    if refusal is not None:
        return refusal
    version = await run_in_threadpool(store(request).log_artifact, run_id, spec)
    refusal = await refuse_lost_blobs(request, [spec], since)
    if refusal is not None:
        return refusal
    return reply(request, version_to_wire(version), 201)


@router.get("/projects/{project}/artifacts/{ref}")
def get_artifact_version(
    request: Request, project: str, ref: str, _: Principal = policy(Access.READ, project_of_path)
) -> Response:
    check_project(project)
    return reply(request, version_to_wire(store(request).get_artifact_version(project, ref)))


@router.get("/projects/{project}/artifacts/{ref}/files")
def get_artifact_files(
    request: Request, project: str, ref: str, _: Principal = policy(Access.READ, project_of_path)
) -> Response:
    check_project(project)
    files = store(request).get_artifact_files(project, ref)
    return reply(request, {"files": [file_wire(f) for f in files]})


def file_wire(f: ArtifactFile) -> dict[str, Any]:
    d: dict[str, Any] = {"path": f.path, "digest": f.digest, "size": f.size}
    if f.ref is not None:
        d["ref"], d["etag"] = f.ref, f.etag
    return d


# -- maintenance (gc) ------------------------------------------------------------------
@router.get("/maintenance/referenced-blobs")
def referenced_blobs(request: Request, _: Principal = policy(Access.ADMIN)) -> Response:
    return reply(request, {"digests": sorted(store(request).referenced_digests())})


@router.get("/maintenance/blobs")
def list_blobs(request: Request, _: Principal = policy(Access.ADMIN)) -> Response:
    """Every stored digest, one per line, streamed (there may be millions)."""
    digests = artifacts(request).iter_digests()
    return StreamingResponse(
        (f"{d}\n".encode() for d in digests), media_type="text/plain; charset=utf-8"
    )


@router.get("/maintenance/blobs/{digest}")
def blob_info(request: Request, digest: str, _: Principal = policy(Access.ADMIN)) -> Response:
    validate_digest(digest)
    arts = artifacts(request)
    return reply(
        request, {"digest": digest, "size": arts.size(digest), "last_put": arts.last_put(digest)}
    )


@router.delete("/maintenance/blobs/{digest}")
def delete_blob(request: Request, digest: str, _: Principal = policy(Access.ADMIN)) -> Response:
    """Delete a blob and the claims on it (``gc``: only blobs no version references)."""
    validate_digest(digest)
    deleted = artifacts(request).delete(digest)
    _area(request).forget(digest)
    return reply(request, {"deleted": deleted})


@router.post("/maintenance/uploads/cleanup")
def cleanup_uploads(request: Request, _: Principal = policy(Access.ADMIN)) -> Response:
    """Remove expired upload sessions and what they received."""
    return reply(request, {"removed": _area(request).cleanup()})


@router.post("/maintenance/gc")
async def collect(request: Request, _: Principal = policy(Access.ADMIN)) -> Response:
    """``runtrack gc`` on the server: delete the blobs no version references, in rounds
    that are safe while clients record versions (``runtrack.store.gc``). Body
    ``{dry_run: bool, grace: seconds}`` (both optional: false, 3600); answers the report
    (``GcReport.to_json``) once the collection is over."""
    body = await read_body(request, config(request).limits.json_body_bytes)
    dry_run, grace = _gc_request(body)
    report = await run_in_threadpool(
        collect_garbage,
        store(request),
        artifacts(request),
        grace=grace,
        dry_run=dry_run,
        on_deleted=_area(request).forget,
    )
    return reply(request, report.to_json())


def _gc_request(body: Any) -> tuple[bool, float]:
    if not isinstance(body, dict) or set(body) - {"dry_run", "grace"}:
        raise ValidationError("a gc request is an object {dry_run: bool, grace: seconds}")
    dry_run = body.get("dry_run", False)
    grace = body.get("grace", DEFAULT_GRACE)
    if not isinstance(dry_run, bool):
        raise ValidationError("dry_run must be true or false")
    if isinstance(grace, bool) or not isinstance(grace, int | float) or not 0 <= grace < 1e12:
        raise ValidationError(f"grace must be a number of seconds >= 0, not {grace!r}")
    return dry_run, float(grace)
