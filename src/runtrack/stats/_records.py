"""The base of every result record: frozen dataclasses that render themselves as JSON."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

__all__ = ["Record", "jsonable"]


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: numpy scalars unwrapped, tuples as lists, non-finite
    floats (NaN, infinity: "undefined" or "unknown") as ``None``."""
    if isinstance(value, Record):
        return value.to_json()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list | np.ndarray):
        return [jsonable(v) for v in value]
    raise TypeError(f"cannot render {type(value).__name__} as JSON")


class Record:
    """Mixin for frozen dataclasses: ``to_json()`` gives a dict of the fields, in order,
    ready for ``json.dumps`` (no NaN, no numpy types). Records are immutable values and
    safe to share between threads."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {name: jsonable(getattr(self, name)) for name in self.__dataclass_fields__}
