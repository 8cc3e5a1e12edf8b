"""Gradient boosting flavors: ``xgboost`` and ``lightgbm``, in their libraries' own formats.

* xgboost: a ``Booster`` or a scikit-learn wrapper of xgboost's own (``XGBClassifier``,
  ``XGBRegressor``, ...) is written with ``save_model`` as UBJSON (``model.ubj``). The
  file keeps the wrapper's parameters, so the wrapper is rebuilt as
  ``xgboost.<Class>()`` + ``load_model``. A subclass defined outside xgboost is pickled
  (joblib) instead, as only pickle can bring back its own code.
* lightgbm: a ``Booster`` is written in LightGBM's text format (``model.txt``). A
  scikit-learn wrapper (``LGBMClassifier``, ...) is pickled with joblib
  (``model.joblib``): LightGBM's model file has no place for what the wrapper adds
  (its classes and label encoder, fitted parameters), so the text format cannot give a
  working wrapper back. The wrapper's booster is also written as ``booster.txt``, a
  pickle-free copy that ``lightgbm.Booster(model_file=...)`` reads.

Only classes that are attributes of the ``xgboost`` package are rebuilt from a name in
the document, so a document cannot make the loader import anything else.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from ..errors import ValidationError
from ._document import model_file
from ._flavor import Flavor, SaveRequest, class_name, predict_outputs
from ._pickling import dump, load

__all__ = ["LightGBMFlavor", "XGBoostFlavor"]


class XGBoostFlavor(Flavor):
    name = "xgboost"
    module = "xgboost"
    distribution = "xgboost"
    saves: ClassVar[str] = "xgboost Booster and XGBModel (XGBClassifier, ...) objects"

    def accepts(self, obj: object) -> bool:
        xgb = sys.modules.get("xgboost")
        return xgb is not None and isinstance(obj, (xgb.Booster, xgb.XGBModel))

    def save(self, obj: Any, request: SaveRequest) -> dict[str, Any]:
        import xgboost as xgb

        file = "model.ubj"
        if isinstance(obj, xgb.Booster):
            obj.save_model(request.directory / file)
            return {"format": "ubj", "kind": "booster", "file": file, "files": [file]}
        cls = type(obj)
        if getattr(xgb, cls.__name__, None) is cls:
            obj.save_model(request.directory / file)
            return {
                "format": "ubj",
                "kind": "sklearn",
                "class": cls.__name__,
                "file": file,
                "files": [file],
            }
        spec = dump(obj, request.directory, what=class_name(cls), serializer="joblib")
        return {**spec, "kind": "pickled", "files": [spec["file"]]}

    def load(self, directory: Path, spec: Mapping[str, Any]) -> Any:
        import xgboost as xgb

        path = model_file(directory, spec.get("file"))
        kind = spec.get("kind")
        if kind == "booster":
            booster = xgb.Booster()
            booster.load_model(path)
            return booster
        if kind == "sklearn":
            cls = getattr(xgb, str(spec.get("class")), None)
            if not (isinstance(cls, type) and issubclass(cls, xgb.XGBModel)):
                raise ValidationError(f"unknown xgboost model class {spec.get('class')!r}")
            model = cls()
            model.load_model(path)
            return model
        if kind == "pickled":
            return load(path, serializer="joblib")
        raise ValidationError(f"unknown xgboost model kind {kind!r} in the model document")

    def outputs(self, model: Any, example: Any) -> Iterable[tuple[str, Any]]:
        import xgboost as xgb

        if isinstance(model, xgb.Booster):
            return [("predict", model.inplace_predict(example))]
        return predict_outputs(model, example)


class LightGBMFlavor(Flavor):
    name = "lightgbm"
    module = "lightgbm"
    distribution = "lightgbm"
    saves: ClassVar[str] = "lightgbm Booster and LGBMModel (LGBMClassifier, ...) objects"

    def accepts(self, obj: object) -> bool:
        lgb = sys.modules.get("lightgbm")
        return lgb is not None and isinstance(obj, (lgb.Booster, lgb.LGBMModel))

    def save(self, obj: Any, request: SaveRequest) -> dict[str, Any]:
        import lightgbm as lgb

        if isinstance(obj, lgb.Booster):
            file = "model.txt"
            obj.save_model(request.directory / file)
            return {"format": "text", "kind": "booster", "file": file, "files": [file]}
        spec = dump(obj, request.directory, what=class_name(type(obj)), serializer="joblib")
        booster_file = None
        booster = _fitted_booster(obj)
        if booster is not None:
            booster_file = "booster.txt"
            booster.save_model(request.directory / booster_file)
        files = [spec["file"], *([booster_file] if booster_file else [])]
        return {**spec, "kind": "sklearn", "booster": booster_file, "files": files}

    def load(self, directory: Path, spec: Mapping[str, Any]) -> Any:
        import lightgbm as lgb

        path = model_file(directory, spec.get("file"))
        if spec.get("kind") == "booster":
            return lgb.Booster(model_file=str(path))
        return load(path, serializer="joblib")

    def outputs(self, model: Any, example: Any) -> Iterable[tuple[str, Any]]:
        import lightgbm as lgb

        if isinstance(model, lgb.Booster):
            return [("predict", model.predict(example))]
        return predict_outputs(model, example)


def _fitted_booster(model: Any) -> Any:
    try:
        return model.booster_
    except Exception:  # an unfitted wrapper has no booster; LightGBM raises its own error
        return None
