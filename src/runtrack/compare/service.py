"""Comparisons run by the team server for the web UI (``POST /api/v1/compare``).

The server holds the stores, so it builds an ``Api`` over them (prediction sets are read
from its own artifact store into a temporary directory that is removed afterwards). What
differs between the runs (config, code, data, environment and packages, hardware, seeds)
needs nothing beyond the standard library; the statistical comparison needs numpy and
scipy: without them the answer says so in ``unavailable`` and still carries the diffs.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError

if TYPE_CHECKING:
    from ..artifacts.base import ArtifactStore
    from ..store.base import TrackingStore

__all__ = ["UNAVAILABLE", "compare_in_store"]

UNAVAILABLE = (
    "the statistical comparison needs numpy and scipy on the server "
    "(pip install 'runtrack[compare]'); the differences between the runs are shown without it"
)


def _api(store: TrackingStore, artifacts: ArtifactStore, cache: Path) -> Any:
    from ..client.api import Api

    class ServerApi(Api):
        def _cache_dir(self) -> Path:
            return cache

    return ServerApi(store=store, artifacts=artifacts)


def compare_in_store(
    store: TrackingStore,
    artifacts: ArtifactStore,
    runs: Sequence[str],
    metric: str | None = None,
    *,
    prediction_set: str | None = None,
    alpha: float = 0.05,
    secondary: Sequence[str] = (),
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """``{"diffs": ..., "comparison": Comparison.to_json() | None, "unavailable": str |
    None, "note": str | None}``. ``comparison`` is None without a metric when no run
    recorded a prediction set (``note`` says why), or when numpy/scipy are missing
    (``unavailable``). Raises ``ValidationError`` / ``RunNotFoundError`` for bad input."""
    from ._common import jsonable
    from .diffs import diff_runs
    from .engine import resolve_runs

    cache = Path(tempfile.mkdtemp(prefix="runtrack-compare-"))
    try:
        api = _api(store, artifacts, cache)
        infos = resolve_runs(api, list(runs))
        out: dict[str, Any] = {
            "runs": [{"id": r.id, "label": r.label} for r in infos],
            "diffs": jsonable(diff_runs(infos)),
            "comparison": None,
            "unavailable": None,
            "note": None,
        }
        try:
            import numpy  # noqa: F401
            import scipy  # noqa: F401
        except ImportError:
            out["unavailable"] = UNAVAILABLE
            return out
        from .engine import compare_runs

        try:
            result = compare_runs(
                api,
                [r.view for r in infos],
                metric,
                prediction_set=prediction_set,
                alpha=alpha,
                secondary=secondary,
                n_boot=n_boot,
                seed=seed,
            )
        except ValidationError as e:
            if metric is not None or prediction_set is not None:
                raise
            out["note"] = str(e)  # nothing to compare without a metric: say so
            return out
        out["comparison"] = result.to_json()
        return out
    finally:
        shutil.rmtree(cache, ignore_errors=True)
