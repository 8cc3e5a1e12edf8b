"""The software a model was saved with, and the checks made when it is loaded.

Nothing is imported to look: library versions are read from modules the process already
imported (``sys.modules``), installed distributions from ``importlib.metadata``.
"""

from __future__ import annotations

import importlib
import platform
import sys
import warnings
from collections.abc import Mapping
from typing import Any, Final

from ..errors import ValidationError
from ._warnings import ModelEnvironmentWarning

__all__ = [
    "check_versions",
    "imported_libraries",
    "installed_distributions",
    "module_version",
    "python_info",
    "require_library",
]

# import name -> distribution name, for the libraries worth recording beside a model
LIBRARIES: Final = {
    "sklearn": "scikit-learn",
    "numpy": "numpy",
    "scipy": "scipy",
    "joblib": "joblib",
    "pandas": "pandas",
    "torch": "torch",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "cloudpickle": "cloudpickle",
}


def python_info() -> dict[str, str]:
    return {"version": platform.python_version(), "implementation": sys.implementation.name}


def module_version(module: str) -> str | None:
    """``__version__`` of an already imported module, else its distribution's version."""
    mod = sys.modules.get(module)
    version = getattr(mod, "__version__", None) if mod is not None else None
    if isinstance(version, str):
        return version
    from importlib import metadata

    try:
        return metadata.version(LIBRARIES.get(module, module))
    except metadata.PackageNotFoundError:
        return None


def imported_libraries() -> dict[str, str]:
    """``{distribution: version}`` of the known ML libraries this process has imported."""
    out: dict[str, str] = {}
    for module, dist in LIBRARIES.items():
        if module in sys.modules and (version := module_version(module)) is not None:
            out[dist] = version
    return dict(sorted(out.items()))


def installed_distributions() -> list[str]:
    """Every distribution visible on ``sys.path`` as ``name==version`` (PEP 503 names),
    sorted; when a name is installed twice, the one imported wins (see
    ``runtrack._packages``)."""
    from .._packages import installed_packages

    return [f"{name}=={version}" for name, version in installed_packages().items()]


def require_library(doc: Mapping[str, Any]) -> None:
    """Import the flavor's library, or say which package (and version) to install."""
    library = doc.get("library")
    if not isinstance(library, dict) or not isinstance(library.get("module"), str):
        return
    try:
        importlib.import_module(library["module"])
    except ImportError as exc:
        name, version = library.get("name") or library["module"], library.get("version")
        pin = f"{name}=={version}" if version else name
        raise ValidationError(
            f"this {doc['flavor']} model needs {name} (it was saved with {name} "
            f"{version or '(unknown version)'}), which cannot be imported here ({exc}): "
            f"install it, e.g. pip install '{pin}'"
        ) from None


def version_differences(doc: Mapping[str, Any]) -> list[str]:
    """``"name saved-version -> installed-version"`` for recorded libraries imported now."""
    recorded = doc.get("libraries")
    if not isinstance(recorded, dict):
        return []
    by_dist = {dist: module for module, dist in LIBRARIES.items()}
    out = []
    for dist, saved in recorded.items():
        module = by_dist.get(dist)
        if module is None or module not in sys.modules:
            continue
        now = module_version(module)
        if now is not None and now != saved:
            out.append(f"{dist} {saved} -> {now}")
    return out


def check_versions(doc: Mapping[str, Any]) -> None:
    """Warn (``ModelEnvironmentWarning``) when a recorded library has another version here."""
    diffs = version_differences(doc)
    if diffs:
        warnings.warn(
            ModelEnvironmentWarning(
                f"this {doc['flavor']} model was saved with other library versions than "
                f"the ones installed here ({', '.join(diffs)}): it may fail or predict "
                "differently; the saving environment is listed in runtrack-model.json "
                "('packages')"
            ),
            stacklevel=3,
        )
