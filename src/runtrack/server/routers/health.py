"""``/health`` (the process answers) and ``/ready`` (its stores answer too)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ... import __version__
from ..auth import Access, policy

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(_: Any = policy(Access.PUBLIC)) -> dict[str, str]:
    return {"status": "ok", "version": __version__}


@router.get("/ready")
def ready(request: Request, _: Any = policy(Access.PUBLIC)) -> JSONResponse:
    problems = []
    try:
        request.app.state.store.list_projects()
    except Exception as exc:  # any failure means not ready; say which store
        problems.append(f"database: {type(exc).__name__}")
    try:
        request.app.state.artifacts.exists("0" * 64)
    except Exception as exc:
        problems.append(f"artifact store: {type(exc).__name__}")
    if problems:
        return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ready"})
