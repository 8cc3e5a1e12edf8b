"""One place that turns every failure into a 4xx/5xx JSON answer with a stable code.

``{"error": {"code": "run_not_found", "message": "..."}}``: runtrack errors keep their own
code and status; malformed requests are 400 (``invalid``) or 413/415 with a precise
message; anything unexpected is a 500 whose message says nothing about the internals
(the traceback goes to the server log, never to the client).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ..errors import QueryError, RuntrackError

log = logging.getLogger("runtrack.server")

_HTTP_CODES = {
    400: "invalid",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    421: "misdirected",
    429: "too_many_requests",
}


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status)


def install(app: FastAPI) -> None:
    @app.exception_handler(RuntrackError)
    async def _runtrack(request: Request, exc: RuntrackError) -> JSONResponse:
        if exc.http_status >= 500:  # the store failed (unreachable, gave up retrying)
            log.warning(
                "%s %s answered %d %s: %s",
                request.method,
                request.url.path,
                exc.http_status,
                exc.code,
                exc.message,
            )
        extra: dict[str, Any] = {}
        if isinstance(exc, QueryError):
            extra["position"] = exc.position
        return error_response(exc.http_status, exc.code, exc.message, **extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for e in exc.errors()[:5]:
            where = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
            parts.append(f"{where}: {e.get('msg')}" if where else str(e.get("msg")))
        return error_response(400, "invalid", "; ".join(parts) or "malformed request")

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        resp = error_response(exc.status_code, code, str(exc.detail))
        if exc.headers:
            resp.headers.update(exc.headers)
        return resp

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(
            500, "internal", "the server failed to answer; the error is in the server's log"
        )
