"""Metric series for charts: downsampled on the server, extremes kept.

::

    GET /runs/{run_id}/history/downsampled?key=loss&key=acc&points=2000&x=step&start=&end=
        (READ) -> {"x": "step", "series": {key: {"x": [...], "y": [...], "total", "exact"}}}

Each series keeps its first and last points and each bucket's minimum and maximum, so a
1,000,000-point series draws from ~2,000 points without losing a spike. ``start`` and
``end`` bound the steps (a zoomed chart asks again for its range).
"""

from __future__ import annotations

import math
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from ...errors import ValidationError
from ...validation import check_key
from .._deps import config, project_of_run, store
from .._io import reply
from ..auth import Access, Principal, policy

router = APIRouter(prefix="/api/v1", tags=["runs"])


def preload() -> None:
    """Import at start-up what a server's first chart request would pay for (~0.2 s):
    numpy (when installed) and the downsampling modules. With numpy loaded, the server's
    writes also store the envelopes of the full chunks they create (``_downsample``)."""
    from array import array

    from ...store.downsample import extremes
    from ...store.sql import _downsample  # noqa: F401

    try:
        import numpy  # noqa: F401
    except ImportError:
        return
    extremes(array("d", range(64)), 4)  # numpy's first calls


@router.get("/runs/{run_id}/history/downsampled")
async def downsampled_history(
    request: Request,
    run_id: str,
    key: list[str] = Query(..., min_length=1),
    points: int = Query(2000, ge=10, le=20_000),
    x: Literal["step", "time"] = "step",
    start: float | None = None,
    end: float | None = None,
    _: Principal = policy(Access.READ, project_of_run),
) -> Response:
    """About ``points`` points per key (``?key=loss&key=acc``): first, last, and each
    bucket's minimum and maximum; ``x`` is ``step`` or ``time``."""
    limits = config(request).limits
    if len(key) > limits.history_keys:
        raise ValidationError(f"at most {limits.history_keys} keys per request")
    for k in key:
        check_key(k)
    if any(v is not None and not math.isfinite(v) for v in (start, end)):
        raise ValidationError("start and end must be finite numbers (steps)")
    if start is not None and end is not None and end < start:
        raise ValidationError("end must not be before start")
    series = await run_in_threadpool(
        store(request).get_history_downsampled, run_id, key, points, x, start, end
    )
    body: dict[str, Any] = {
        "x": x,
        "series": {
            k: {"x": list(s.x), "y": list(s.y), "total": s.total, "exact": s.exact}
            for k, s in series.items()
        },
    }
    return reply(request, body)
