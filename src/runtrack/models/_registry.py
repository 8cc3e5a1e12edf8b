"""The flavors runtrack knows, in detection order (most specific first: xgboost and
lightgbm wrappers are scikit-learn estimators too)."""

from __future__ import annotations

from typing import Final

from ..errors import ValidationError
from ._boosting import LightGBMFlavor, XGBoostFlavor
from ._flavor import Flavor, class_name
from ._generic import PickleFlavor, SklearnFlavor
from ._pytorch import PytorchFlavor

__all__ = ["FLAVORS", "choose_flavor", "detect_flavor", "get_flavor"]

FLAVORS: Final[dict[str, Flavor]] = {
    f.name: f
    for f in (PytorchFlavor(), XGBoostFlavor(), LightGBMFlavor(), SklearnFlavor(), PickleFlavor())
}


def detect_flavor(obj: object) -> str:
    """The flavor that saves ``obj``, from its type alone (imports no library).

    ``pytorch`` for a ``torch.nn.Module``, ``xgboost`` / ``lightgbm`` for their boosters
    and scikit-learn wrappers, ``sklearn`` for any other scikit-learn estimator (pipelines
    included), else ``pickle``.
    """
    return next(name for name, flavor in FLAVORS.items() if flavor.accepts(obj))


def get_flavor(name: str) -> Flavor:
    flavor = FLAVORS.get(name) if isinstance(name, str) else None
    if flavor is None:
        raise ValidationError(
            f"unknown model flavor {name!r}: runtrack knows {', '.join(sorted(FLAVORS))}"
        )
    return flavor


def choose_flavor(obj: object, name: str | None) -> Flavor:
    """The flavor asked for (checked against the object), or the detected one."""
    if name is None:
        return FLAVORS[detect_flavor(obj)]
    flavor = get_flavor(name)
    if not flavor.accepts(obj):
        raise ValidationError(
            f"flavor {name!r} saves {flavor.saves}, not a {class_name(type(obj))}; its "
            f"detected flavor is {detect_flavor(obj)!r} (flavor='pickle' saves any "
            "picklable object)"
        )
    return flavor
