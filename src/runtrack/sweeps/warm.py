"""Warm start: completed runs of the project seeded into a new sweep as known trials.

A run qualifies when it finished (a trial of another sweep only if that trial completed:
a pruned trial's last value is not a result), its config holds a value inside the space
for every parameter active given the others (the fixed value for a fixed one), and it
logged every objective. Its trial row points at the run (``warm``), counts in the search
but not against the budget.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
)

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
        if r.tags.get("runtrack.trial_state", "complete") != "complete":
            continue  # a pruned trial's last value is an intermediate one
        flat = _flatten(r.config.to_dict() if hasattr(r.config, "to_dict") else dict(r.config))
        params = _fit(spec, dists, flat)
        if params is None:
            continue
        ok = True
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


def _fit(
    spec: Mapping[str, Any], dists: Mapping[str, BaseDistribution], flat: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The run's values of the parameters active for it, or None if one is missing or
    outside the space."""

    def pick(name: str) -> Any:
        if name not in flat:
            raise _Unfit(name)
        return _value_in(dists[name], flat[name], name)

    try:
        chosen = spec_mod.choose(spec, pick)
    except _Unfit:
        return None
    for name, p in spec["parameters"].items():
        if "value" in p and spec_mod.is_active(p, chosen) and not _has(flat, name, p["value"]):
            return None  # run with another value of a parameter the sweep holds fixed
    return chosen


def _has(flat: Mapping[str, Any], name: str, value: Any) -> bool:
    """Whether the flattened config holds ``value`` at ``name`` (a mapping key by key)."""
    if isinstance(value, Mapping):
        return bool(value) and all(_has(flat, f"{name}.{k}", v) for k, v in value.items())
    if name not in flat:
        return False
    return spec_mod.same_value(flat[name], value)


class _Unfit(Exception):
    """A run's config has no value inside the space for this parameter."""


def _value_in(d: BaseDistribution, v: Any, name: str) -> Any:
    """``v`` as the distribution's type when it lies inside it (bounds, step, choices)."""
    if isinstance(d, CategoricalDistribution):
        for c in d.choices:  # 1 and 1.0 are one choice, True is not 1
            if spec_mod.same_value(v, c):
                return c
        raise _Unfit(name)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise _Unfit(name)
    assert isinstance(d, FloatDistribution | IntDistribution)
    if isinstance(d, IntDistribution) and v != int(v):
        raise _Unfit(name)
    if not d.low <= v <= d.high:
        raise _Unfit(name)
    if d.step is not None:
        k = (v - d.low) / d.step
        if abs(k - round(k)) > 1e-8:
            raise _Unfit(name)
    return int(v) if isinstance(d, IntDistribution) else float(v)


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out
