"""Warm start: completed runs of the project seeded into a new sweep as known trials.

A run qualifies when it finished, its config holds a value inside the space for every
parameter active given the others, and it logged every objective. Its trial row points at
the run (``warm``), counts in the search but not against the budget.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from optuna.distributions import FloatDistribution, IntDistribution, distribution_to_json

from . import spec as spec_mod
from .engine import distributions

if TYPE_CHECKING:
    from ..store.base import TrackingStore


def warm_trials(
    store: TrackingStore, project: str, spec: Mapping[str, Any], exclude: set[str]
) -> list[dict[str, Any]]:
    """Trial rows (without number/seq) for completed runs of the project whose config fits
    the space and that logged every objective: known results the search starts from."""
    ws = spec.get("warm_start")
    if not ws:
        return []
    flt = "run.status = 'finished'"
    if ws.get("filter"):
        flt = f"({ws['filter']}) and {flt}"
    runs = store.search_runs(project, filter=flt, limit=int(ws["limit"]))
    dists = distributions(spec)
    names = spec_mod.objective_names(spec)
    out: list[dict[str, Any]] = []
    for r in runs:
        if r.id in exclude or r.tags.get("runtrack.kind") == "sweep":
            continue
        flat = _flatten(r.config.to_dict() if hasattr(r.config, "to_dict") else dict(r.config))
        params: dict[str, Any] = {}
        chosen: dict[str, Any] = {}
        ok = True
        for name, p in spec["parameters"].items():
            if "value" in p:
                chosen[name] = p["value"]
                continue
            if not spec_mod.is_active(p, chosen):
                continue
            if name not in flat:
                ok = False
                break
            v = flat[name]
            d = dists[name]
            try:
                internal = d.to_internal_repr(v)
            except (ValueError, TypeError):
                ok = False
                break
            if not d._contains(internal):
                ok = False
                break
            if isinstance(d, IntDistribution):
                v = int(v)
            elif isinstance(d, FloatDistribution):
                v = float(v)
            params[name] = chosen[name] = v
        if not ok:
            continue
        vals: list[float] = []
        for k in names:
            m = r.summary.get(k)
            if m is None and k in r.metrics:
                m = r.metrics[k].last
            if not isinstance(m, int | float) or isinstance(m, bool) or not math.isfinite(m):
                ok = False
                break
            vals.append(float(m))
        if not ok:
            continue
        used = {k: dists[k] for k in params}
        out.append(
            {
                "run_id": r.id,
                "state": "complete",
                "warm": True,
                "params": json.dumps(params),
                "distributions": json.dumps({k: distribution_to_json(d) for k, d in used.items()}),
                "vals": json.dumps(vals),
                "intermediate": "[]",
                "system_attrs": "{}",
                "user_attrs": json.dumps({"runtrack:warm": r.id}),
                "sampler": "warm",
                "error": None,
                "retry_of": None,
                "retried": False,
                "started_at": r.start_time.timestamp(),
                "ended_at": r.end_time.timestamp() if r.end_time else None,
            }
        )
    return out


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out
