"""Compare runs on the server, for the web UI (READ on every run's project).

::

    POST /compare  {runs: [id, ...], metric?, prediction_set?, alpha?, secondary?, n_boot?, seed?}
        -> {runs, diffs, comparison, unavailable, note}

``diffs`` (config, code, data, environment and packages, hardware, seeds, duration, model
size) is always there; ``comparison`` is :meth:`runtrack.Api.compare`'s JSON (intervals,
paired tests, verdicts, recommendation) when numpy and scipy are installed on the server
(else ``unavailable`` says so) and there is something to compare (a metric, or prediction
sets; else ``note`` says why). The work is CPU-bound (bootstrap): it runs in a worker
thread, with at most 20 runs and 10,000 bootstrap resamples.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from ...errors import ValidationError
from ...validation import check_existing_run_id
from .._deps import artifacts, store
from .._io import reply
from ..auth import Access, Principal, Role, policy
from ..auth import check_project as authorize
from .catalog import body_object

router = APIRouter(prefix="/api/v1", tags=["runs"])

MAX_RUNS = 20
MAX_BOOT = 10_000
_FIELDS = {"runs", "metric", "prediction_set", "alpha", "secondary", "n_boot", "seed"}


def _opt_str(body: dict[str, Any], key: str, limit: int = 600) -> str | None:
    v = body.get(key)
    if v is None or v == "":
        return None
    if not isinstance(v, str) or len(v) > limit:
        raise ValidationError(f"{key!r} must be a string of at most {limit} characters")
    return v


def parse_body(body: dict[str, Any]) -> dict[str, Any]:
    """The arguments of ``compare_in_store`` from a request body (ValidationError else)."""
    unknown = sorted(
        set(body) - {"runs", "metric", "prediction_set", "alpha", "secondary", "n_boot", "seed"}
    )
    if unknown:
        raise ValidationError(f"unknown field(s) {', '.join(map(repr, unknown))}")
    runs = body.get("runs")
    if not isinstance(runs, list) or not all(isinstance(r, str) for r in runs):
        raise ValidationError("'runs' must be a list of run ids")
    if not 2 <= len(runs) <= MAX_RUNS:
        raise ValidationError(f"'runs' must name 2 to {MAX_RUNS} runs; got {len(runs)}")
    for r in runs:
        check_existing_run_id(r)
    alpha = body.get("alpha", 0.05)
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 0.5:
        raise ValidationError(f"'alpha' must be a number between 0 and 0.5; got {alpha!r}")
    n_boot = body.get("n_boot", 2000)
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or not 100 <= n_boot <= MAX_BOOT:
        raise ValidationError(f"'n_boot' must be an integer from 100 to {MAX_BOOT}; got {n_boot!r}")
    seed = body.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValidationError(f"'seed' must be a non-negative integer; got {seed!r}")
    secondary = body.get("secondary", [])
    if (
        not isinstance(secondary, list)
        or len(secondary) > 10
        or not all(isinstance(s, str) and 0 < len(s) <= 600 for s in secondary)
    ):
        raise ValidationError("'secondary' must be a list of at most 10 criteria ('name:min')")
    return {
        "runs": list(runs),
        "metric": _opt_str(body, "metric"),
        "prediction_set": _opt_str(body, "prediction_set"),
        "alpha": float(alpha),
        "secondary": list(secondary),
        "n_boot": n_boot,
        "seed": seed,
    }


@router.post("/compare")
async def compare(request: Request, principal: Principal = policy(Access.USER)) -> Response:
    args = parse_body(await body_object(request))
    s = store(request)

    def go() -> Response:
        for project in sorted({s.run_project(r) for r in args["runs"]}):
            authorize(request, principal, project, Role.VIEWER)
        from ...compare.service import compare_in_store

        runs = args.pop("runs")
        result = compare_in_store(s, artifacts(request), runs, **args)
        return reply(request, result)

    return await run_in_threadpool(go)
