"""Hydra's view of a run: the command-line overrides and where the config came from.

The composed config itself is the run's config (the SDK records it); this module records
how it was composed, so ``runtrack reproduce`` can rebuild the command line. Hydra is
looked at only when the user's program already imported it.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["capture_hydra"]


def capture_hydra() -> dict[str, Any] | None:
    """Hydra's runtime information, or None when Hydra is not in use.

    Keys: ``overrides`` (the task overrides, e.g. ``["lr=0.1", "model=resnet"]``),
    ``hydra_overrides`` (overrides of Hydra's own settings), ``config_name``,
    ``config_sources`` (``[{"path", "schema", "provider"}]``, the search path),
    ``choices`` (the config group selections), ``runtime_output_dir``, ``job_name``,
    ``mode`` (``RUN``/``MULTIRUN``), ``job_num`` (the index within a multirun) and
    ``version``. Never raises: a field Hydra cannot give is None.
    """
    if "hydra" not in sys.modules:
        return None
    try:
        from hydra.core.hydra_config import HydraConfig

        if not HydraConfig.initialized():
            return None
        cfg = HydraConfig.get()
    except Exception:
        return None
    return {
        "overrides": _strings(_select(cfg, "overrides.task")),
        "hydra_overrides": _strings(_select(cfg, "overrides.hydra")),
        "config_name": _scalar(_select(cfg, "job.config_name")),
        "config_sources": _sources(_select(cfg, "runtime.config_sources")),
        "choices": _choices(_select(cfg, "runtime.choices")),
        "runtime_output_dir": _scalar(_select(cfg, "runtime.output_dir")),
        "job_name": _scalar(_select(cfg, "job.name")),
        "mode": _scalar(_select(cfg, "mode")),
        "job_num": _scalar(_select(cfg, "job.num")),
        "version": _scalar(_select(cfg, "runtime.version")),
    }


def _select(cfg: Any, dotted: str) -> Any:
    node = cfg
    for part in dotted.split("."):
        try:
            node = node[part]
        except Exception:  # missing key, MISSING value, unresolvable interpolation
            return None
        if node is None:
            return None
    return node


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    name = getattr(value, "name", None)  # enums such as RunMode.RUN
    return name if isinstance(name, str) else str(value)


def _strings(values: Any) -> list[str]:
    if values is None:
        return []
    try:
        return [str(v) for v in values]
    except Exception:
        return []


def _sources(values: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for source in values or ():
        try:
            out.append(
                {
                    "path": _scalar(source.get("path")),
                    "schema": _scalar(source.get("schema")),
                    "provider": _scalar(source.get("provider")),
                }
            )
        except Exception:
            continue
    return out


def _choices(values: Any) -> dict[str, Any]:
    try:
        return {str(k): _scalar(v) for k, v in (values or {}).items()}
    except Exception:
        return {}
