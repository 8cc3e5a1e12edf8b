"""What distributions are installed: ``name -> version`` of everything on ``sys.path``,
read once per change of ``sys.path`` (standard library only; shared by run provenance
and the model document)."""

from __future__ import annotations

import os
import re
import sys
from typing import Any

_NORMALIZE = re.compile(r"[-_.]+")


def normalize_package_name(name: str) -> str:
    """PEP 503 normalisation: ``Scikit_Learn`` -> ``scikit-learn``."""
    return _NORMALIZE.sub("-", name).lower()


_PACKAGES_CACHE: list[Any] = [None, None]  # [key, result]: this process's last scan


def installed_packages() -> dict[str, str]:
    """``{normalised name: version}`` of every distribution visible on ``sys.path``.

    When a name is installed twice, the first on ``sys.path`` (the one imported) wins.
    Wheel installs are read from their ``name-version.dist-info`` directory names (the
    metadata files are parsed only for other layouts); the result is kept for the
    process until ``sys.path`` or one of its directories changes (a ``pip install``
    changes the directory's mtime), so a sweep of many runs scans once.
    """
    key = tuple((p, _mtime(p)) for p in sys.path)
    if _PACKAGES_CACHE[0] == key:
        return dict(_PACKAGES_CACHE[1])
    found: dict[str, str] = {}
    for entry in sys.path:
        for name, version in _scan_path_entry(entry):
            found.setdefault(normalize_package_name(name), version)
    result = dict(sorted(found.items()))
    _PACKAGES_CACHE[:] = [key, result]
    return dict(result)


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path or ".").st_mtime_ns
    except OSError:
        return None


def _scan_path_entry(entry: str) -> list[tuple[str, str]]:
    from importlib import metadata

    try:
        names = os.listdir(entry or ".")
    except OSError:
        return []
    out: list[tuple[str, str]] = []
    for item in names:
        if item.endswith(".dist-info"):
            stem = item[: -len(".dist-info")]
            name, sep, version = stem.rpartition("-")
            if sep and name and version and "-" not in version:
                out.append((name, version))
                continue
        elif not item.endswith(".egg-info"):
            continue
        try:  # an unusual layout: read the metadata itself
            dist = metadata.Distribution.at(os.path.join(entry or ".", item))
            meta_name, meta_version = dist.metadata["Name"], dist.version
        except Exception:  # a broken dist-info must not break a run
            continue
        if meta_name and meta_version:
            out.append((meta_name, meta_version))
    return out
