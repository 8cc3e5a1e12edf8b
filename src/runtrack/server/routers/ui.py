"""The web UI: a single-page app built from ``ui/`` into ``server/ui_dist``.

::

    GET /                    index.html (the projects page)
    GET /ui/assets/{name}    hashed, immutable assets (cached for a year)
    GET /ui/{path}           index.html for every client route (the app routes itself)

The pages hold no data: they call the public REST API with the user's token, so these
routes need none (like ``/docs``). Every answer carries a strict Content-Security-Policy:
scripts and styles only from this origin (no inline script, no ``eval``), no plugins, no
framing, images from this origin or ``blob:`` (artifact previews). User data is rendered
as text by the app, never as HTML.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

DIST = Path(__file__).resolve().parent.parent / "ui_dist"
_ASSET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\Z")
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".woff2": "font/woff2",
    ".map": "application/json",
}

CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob:",
        "font-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}

router = APIRouter(include_in_schema=False)


def _index(_: Request) -> Response:
    index = DIST / "index.html"
    if not index.is_file():
        return PlainTextResponse(
            "The web UI is not built: run scripts/build_ui.sh (needs Node.js), or install a "
            "runtrack package, which ships it. The REST API is at /api/v1 (see /docs).",
            status_code=503,
            headers=SECURITY_HEADERS,
        )
    return FileResponse(
        index,
        media_type="text/html; charset=utf-8",
        headers={**SECURITY_HEADERS, "cache-control": "no-cache"},
    )


def _asset(request: Request) -> Response:
    name = str(request.path_params["name"])
    path = DIST / "assets" / name
    if not _ASSET.match(name) or not path.is_file():
        return PlainTextResponse("no such asset", status_code=404, headers=SECURITY_HEADERS)
    return FileResponse(
        path,
        media_type=_TYPES.get(path.suffix, "application/octet-stream"),
        headers={**SECURITY_HEADERS, "cache-control": "public, max-age=31536000, immutable"},
    )


router.add_route("/", _index, methods=["GET", "HEAD"], include_in_schema=False)
router.add_route("/ui", _index, methods=["GET", "HEAD"], include_in_schema=False)
router.add_route("/ui/assets/{name}", _asset, methods=["GET", "HEAD"], include_in_schema=False)
router.add_route("/ui/{path:path}", _index, methods=["GET", "HEAD"], include_in_schema=False)
