"""Request bodies and responses in JSON (browsers, scripts) or msgpack (RestStore).

Bodies: only ``application/json`` and ``application/msgpack`` are accepted (a browser
cannot send either cross-site without a CORS preflight, so forms and ``text/plain``
posts -- the CSRF vectors -- are refused with 415), and the size limit is enforced while
reading, before the body is buffered beyond it.
Responses: msgpack when the client asks for it (``Accept: application/msgpack``), else
JSON with non-finite floats spelled "NaN", "Infinity", "-Infinity".
"""

from __future__ import annotations

import json
from typing import Any

import msgpack
from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse, Response

from ..protocol import jsonable

MSGPACK = "application/msgpack"


def wants_msgpack(request: Request) -> bool:
    return MSGPACK in request.headers.get("accept", "")


def reply(request: Request, data: Any, status: int = 200) -> Response:
    if wants_msgpack(request):
        return Response(
            msgpack.packb(data, use_bin_type=True), status_code=status, media_type=MSGPACK
        )
    return JSONResponse(jsonable(data), status_code=status)


async def read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise HTTPException(400, "Content-Length is not a number") from None
        if size > limit:
            raise HTTPException(413, f"the request body is {size} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise HTTPException(413, f"the request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_body(request: Request, limit: int) -> Any:
    """Decode a JSON or msgpack body (415 for any other content type)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in ("application/json", MSGPACK):
        raise HTTPException(415, "request bodies must be application/json or application/msgpack")
    raw = await read_limited(request, limit)
    try:
        if ctype == MSGPACK:
            return msgpack.unpackb(raw, raw=False, strict_map_key=True)
        return json.loads(raw)
    except (
        ValueError,
        msgpack.ExtraData,
        msgpack.FormatError,
        msgpack.StackError,
        RecursionError,
    ) as exc:
        raise HTTPException(400, f"the request body is not valid {ctype}: {exc}") from None
