"""What differs between runs: config, code, data, environment, hardware, seeds, duration
and model size, read from what each run recorded.

Sections built from key/value maps (config flattened to dotted keys, packages, hardware,
seeds) share one shape, :func:`map_diff`::

    {"same": bool,
     "differing": {key: {run_id: value or None (absent)}},
     "vs_baseline": {run_id: {"changed": {key: [baseline value, value]},
                              "added": {key: value}, "removed": {key: baseline value}}}}

The baseline is the first run given. Values are compared as JSON (``1 == 1.0``, NaN equals
NaN, ``True != 1``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..configdoc import flatten, same_value
from ._common import RunInfo, jsonable

__all__ = ["SEED_KEY_HINTS", "diff_runs", "is_seed_key", "map_diff", "model_size"]

#: a config key whose last part contains one of these names a seed
SEED_KEY_HINTS = ("seed", "random_state")

_MISSING = object()


def is_seed_key(dotted: str) -> bool:
    leaf = dotted.rsplit(".", 1)[-1].lower()
    return any(h in leaf for h in SEED_KEY_HINTS)


def _same(a: Any, b: Any) -> bool:
    if a is _MISSING or b is _MISSING:
        return a is b
    return same_value(a, b)


def map_diff(ids: Sequence[str], maps: Sequence[Mapping[str, Any] | None]) -> dict[str, Any]:
    """Keys whose value is not the same in every run, and each run against the first.
    A ``None`` map means "not recorded": its keys count as absent."""
    clean = [m if m is not None else {} for m in maps]
    keys: list[str] = sorted({k for m in clean for k in m})
    differing: dict[str, dict[str, Any]] = {}
    for key in keys:
        values = [m.get(key, _MISSING) for m in clean]
        if not all(_same(values[0], v) for v in values[1:]):
            differing[key] = {
                rid: None if v is _MISSING else jsonable(v)
                for rid, v in zip(ids, values, strict=True)
            }
    base = clean[0]
    vs: dict[str, dict[str, Any]] = {}
    for rid, m in zip(ids[1:], clean[1:], strict=True):
        changed = {
            k: [jsonable(base[k]), jsonable(m[k])]
            for k in keys
            if k in base and k in m and not same_value(base[k], m[k])
        }
        added = {k: jsonable(m[k]) for k in keys if k in m and k not in base}
        removed = {k: jsonable(base[k]) for k in keys if k in base and k not in m}
        vs[rid] = {"changed": changed, "added": added, "removed": removed}
    return {"same": not differing, "differing": differing, "vs_baseline": vs}


def _section(view: Any, name: str) -> Mapping[str, Any]:
    prov = view.provenance
    value = prov.get(name) if prov is not None else None
    return value if isinstance(value, Mapping) else {}


def flat_config(view: Any) -> dict[str, Any]:
    config = view.config
    data = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    try:
        return flatten(data)
    except Exception:  # a collision in an old record: show it nested rather than fail
        return {k: v for k, v in data.items()}


def _config(runs: Sequence[RunInfo]) -> dict[str, Any]:
    return map_diff([r.id for r in runs], [flat_config(r.view) for r in runs])


def _code(runs: Sequence[RunInfo]) -> dict[str, Any]:
    per: dict[str, dict[str, Any]] = {}
    for r in runs:
        git = _section(r.view, "git")
        if not git:
            per[r.id] = {"recorded": False}
            continue
        diff = git.get("diff") or ""
        digest = (
            git.get("diff_sha256")
            or hashlib.sha256(str(diff).encode("utf-8", "surrogatepass")).hexdigest()
        )
        per[r.id] = {
            "recorded": True,
            "commit": git.get("commit"),
            "branch": git.get("branch"),
            "remote": git.get("remote"),
            "dirty": git.get("dirty"),
            "diff_sha256": digest,
            "diff_bytes": len(str(diff).encode("utf-8", "surrogatepass")),
            "diff_truncated": bool(git.get("diff_truncated")),
        }
    rows = list(per.values())

    def same(field: str) -> bool:
        return all(row.get(field) == rows[0].get(field) for row in rows[1:])

    flags = {
        f"same_{k}": same(f)
        for k, f in (
            ("commit", "commit"),
            ("branch", "branch"),
            ("dirty", "dirty"),
            ("diff", "diff_sha256"),
        )
    }
    return {"same": all(flags.values()), **flags, "runs": per}


def _data(runs: Sequence[RunInfo]) -> dict[str, Any]:
    ids = [r.id for r in runs]
    datasets: dict[str, dict[str, Any]] = {}
    for r in runs:
        for d in r.view.inputs:
            key = d.name or d.path
            entry = datasets.setdefault(
                key, {"name": d.name, "path": d.path, "digests": dict.fromkeys(ids)}
            )
            entry["digests"][r.id] = d.digest
    for entry in datasets.values():
        values = list(entry["digests"].values())
        entry["same"] = all(v == values[0] for v in values)
    artifacts: dict[str, dict[str, Any]] = {}
    for r in runs:
        for v in r.view.used:
            key = f"{v.project}/{v.name}"
            entry = artifacts.setdefault(key, {"name": key, "versions": dict.fromkeys(ids)})
            entry["versions"][r.id] = {"version": v.version, "digest": v.digest}
    for entry in artifacts.values():
        digests = [None if x is None else x["digest"] for x in entry["versions"].values()]
        entry["same"] = all(d == digests[0] for d in digests)
    ds, arts = list(datasets.values()), list(artifacts.values())
    return {
        "same": all(e["same"] for e in ds) and all(e["same"] for e in arts),
        "datasets": ds,
        "artifacts": arts,
    }


def _environment(runs: Sequence[RunInfo]) -> dict[str, Any]:
    ids = [r.id for r in runs]
    envs = [_section(r.view, "environment") for r in runs]
    python = {
        rid: (env.get("python") or {}).get("version") if env else None
        for rid, env in zip(ids, envs, strict=True)
    }
    platform = {
        rid: (env.get("os") or {}).get("platform") if env else None
        for rid, env in zip(ids, envs, strict=True)
    }
    pkgs: list[Mapping[str, Any] | None] = []
    for env in envs:
        p = env.get("packages") if env else None
        pkgs.append(p if isinstance(p, Mapping) else None)
    packages = map_diff(ids, pkgs)
    packages["recorded"] = {rid: p is not None for rid, p in zip(ids, pkgs, strict=True)}

    def sub(name: str) -> dict[str, Any]:
        maps = [env.get(name) if env else None for env in envs]
        return map_diff(ids, [m if isinstance(m, Mapping) else None for m in maps])

    accel, editable, variables = sub("accelerators"), sub("editable"), sub("env")
    determinism = map_diff(ids, [_flat_section(r.view, "determinism") for r in runs])
    values_same = len(set(python.values())) <= 1 and len(set(platform.values())) <= 1
    subs = (packages, accel, editable, variables, determinism)
    return {
        "same": values_same and all(x["same"] for x in subs),
        "python": python,
        "platform": platform,
        "packages": packages,
        "editable": editable,
        "accelerators": accel,
        "env": variables,
        "determinism": determinism,
    }


def _flat_section(view: Any, name: str) -> dict[str, Any] | None:
    """A provenance section as dotted keys (None when not recorded)."""
    section = _section(view, name)
    if not section:
        return None
    data = section.to_dict() if hasattr(section, "to_dict") else dict(section)
    try:
        return flatten(data)
    except Exception:
        return dict(data)


def _hardware_of(view: Any) -> dict[str, Any]:
    env = _section(view, "environment")
    cpu = env.get("cpu") or {}
    gpus = env.get("gpus") or ()
    names = [str(g.get("name")) for g in gpus if isinstance(g, Mapping)]
    gpu_text = None
    if names:
        counts: dict[str, int] = {}
        for n in names:
            counts[n] = counts.get(n, 0) + 1
        gpu_text = ", ".join(f"{c}x {n}" for n, c in counts.items())
    out: dict[str, Any] = {"host": view.host}
    if env:
        out.update(
            cpu=cpu.get("model"),
            cpu_cores=cpu.get("logical"),
            ram_bytes=env.get("ram_total_bytes"),
            gpus=gpu_text,
        )
    return out


def _hardware(runs: Sequence[RunInfo]) -> dict[str, Any]:
    return map_diff([r.id for r in runs], [_hardware_of(r.view) for r in runs])


def seeds_of(view: Any) -> dict[str, Any]:
    """Recorded seeds (``seed_everything``) and seed-like config keys (``config.<key>``)."""
    out: dict[str, Any] = dict(_section(view, "seeds"))
    for k, v in flat_config(view).items():
        if is_seed_key(k):
            out[f"config.{k}"] = v
    return out


def _seeds(runs: Sequence[RunInfo]) -> dict[str, Any]:
    return map_diff([r.id for r in runs], [seeds_of(r.view) for r in runs])


def model_size(view: Any) -> int | None:
    """Bytes of the run's model outputs (type ``model``; the newest version of each name)."""
    latest: dict[str, Any] = {}
    for v in view.outputs:
        if v.type == "model" and (v.name not in latest or v.index > latest[v.name].index):
            latest[v.name] = v
    return sum(int(v.size) for v in latest.values()) if latest else None


def _scalars(runs: Sequence[RunInfo], fn: Any) -> dict[str, Any]:
    values = {r.id: fn(r.view) for r in runs}
    seen = list(values.values())
    return {"same": all(v == seen[0] for v in seen), "runs": values}


def _durations(runs: Sequence[RunInfo]) -> dict[str, Any]:
    """Seconds per run; "same" when every run is within 10% of the fastest."""
    values = {r.id: r.view.duration for r in runs}
    known = [v for v in values.values() if v is not None]
    same = len(known) == len(values) and (not known or max(known) <= 1.1 * min(known))
    return {"same": same, "runs": values}


def diff_runs(runs: Sequence[RunInfo]) -> dict[str, Any]:
    """Every section of what differs between ``runs`` (the first is the baseline)."""
    return {
        "baseline": runs[0].id,
        "config": _config(runs),
        "code": _code(runs),
        "data": _data(runs),
        "environment": _environment(runs),
        "hardware": _hardware(runs),
        "seeds": _seeds(runs),
        "duration": _durations(runs),
        "model_size": _scalars(runs, model_size),
    }


def canonical(value: Any) -> str:
    """A stable text of a JSON value (grouping runs by config)."""
    return json.dumps(jsonable(value), sort_keys=True, separators=(",", ":"))
