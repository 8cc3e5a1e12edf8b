"""Flavors stored as one pickle: ``sklearn`` (any estimator, pipelines included) and
``pickle`` (the fallback for any other picklable object)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from ._document import model_file
from ._flavor import Flavor, SaveRequest, class_name
from ._pickling import dump, joblib_available, load

__all__ = ["PickleFlavor", "SklearnFlavor"]


class SklearnFlavor(Flavor):
    """A scikit-learn estimator (``BaseEstimator`` subclass), saved with joblib."""

    name = "sklearn"
    module = "sklearn"
    distribution = "scikit-learn"
    saves: ClassVar[str] = "scikit-learn estimators"

    def accepts(self, obj: object) -> bool:
        base = sys.modules.get("sklearn.base")
        return base is not None and isinstance(obj, base.BaseEstimator)

    def save(self, obj: Any, request: SaveRequest) -> dict[str, Any]:
        spec = dump(obj, request.directory, what=class_name(type(obj)), serializer="joblib")
        return {**spec, "files": [spec["file"]]}

    def load(self, directory: Path, spec: Mapping[str, Any]) -> Any:
        return load(model_file(directory, spec.get("file")), serializer="joblib")


class PickleFlavor(Flavor):
    """Any picklable object: joblib when it is installed (numpy arrays stored efficiently),
    else the standard library's pickle."""

    name = "pickle"
    module = "joblib"
    distribution = "joblib"
    saves: ClassVar[str] = "picklable objects"

    def accepts(self, obj: object) -> bool:
        return True

    def library(self) -> tuple[str, str] | None:
        return ("joblib", "joblib") if joblib_available() else None

    def save(self, obj: Any, request: SaveRequest) -> dict[str, Any]:
        serializer = "joblib" if joblib_available() else "pickle"
        spec = dump(obj, request.directory, what=class_name(type(obj)), serializer=serializer)
        return {**spec, "files": [spec["file"]]}

    def load(self, directory: Path, spec: Mapping[str, Any]) -> Any:
        return load(model_file(directory, spec.get("file")), serializer=str(spec.get("format")))
