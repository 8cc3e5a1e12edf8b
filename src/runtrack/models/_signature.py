"""Model signatures: the dtype and shape of a model's inputs and outputs.

A signature is ``{"inputs": [spec, ...], "outputs": [spec, ...]}`` where a spec is
``{"name": str | None, "dtype": str, "shape": [int, ...]}`` and ``-1`` stands for the batch
(first) dimension. DataFrames and dicts give one named spec per column / key; a model's
outputs are named by the method that produced them (``predict``, ``predict_proba``) or,
for a torch module, ``output`` (``output_0``, ... for a tuple; the keys of a dict).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..errors import ValidationError
from ._document import json_value
from ._values import dtype_name, is_array, is_frame

__all__ = ["describe", "infer_signature", "user_signature"]

Outputs = Callable[[Any, Any], Iterable[tuple[str, Any]]]


def infer_signature(outputs: Outputs, model: Any, example: Any) -> dict[str, Any]:
    """The signature seen by calling the model on ``example`` (warnings it raises are muted:
    these calls are runtrack's probes, not the user's)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inputs = describe(example)
        out = [spec for name, value in outputs(model, example) for spec in describe(value, name)]
    return {"inputs": inputs, "outputs": out}


def user_signature(signature: Mapping[str, Any]) -> dict[str, Any]:
    doc = json_value(signature, "signature") if isinstance(signature, Mapping) else None
    if (
        not isinstance(doc, dict)
        or not set(doc) <= {"inputs", "outputs"}
        or not all(isinstance(v, list) for v in doc.values())
    ):
        raise ValidationError(
            'signature must be a mapping {"inputs": [...], "outputs": [...]} of lists of '
            '{"name", "dtype", "shape"} specs'
        )
    return {"inputs": doc.get("inputs", []), "outputs": doc.get("outputs", [])}


def describe(value: Any, name: str | None = None) -> list[dict[str, Any]]:
    """The specs of one value; ``TypeError`` when it has no dtype/shape to speak of."""
    if is_array(value):
        return [_spec(name, dtype_name(value), list(value.shape))]
    if is_frame(value):
        columns = zip(value.columns, value.dtypes, strict=True)
        return [_spec(str(c), str(d), [-1]) for c, d in columns]
    if isinstance(value, Mapping):
        return [s for k, v in value.items() for s in describe(v, _join(name, str(k)))]
    if isinstance(value, tuple) and value and all(is_array(v) for v in value):
        return [s for i, v in enumerate(value) for s in describe(v, _join(name, str(i)))]
    if isinstance(value, (list, tuple)):
        np = sys.modules.get("numpy")
        if np is not None:
            array = np.asarray(value)
            if array.dtype != object:
                return [_spec(name, str(array.dtype), list(array.shape))]
        return [_spec(name, *_python_shape(value))]
    if isinstance(value, (bool, int, float, str)):
        return [{"name": name, "dtype": type(value).__name__, "shape": []}]
    raise TypeError(f"cannot describe a {type(value).__module__}.{type(value).__qualname__}")


def _spec(name: str | None, dtype: str, shape: list[int]) -> dict[str, Any]:
    return {"name": name, "dtype": dtype, "shape": [-1, *shape[1:]] if shape else []}


def _join(prefix: str | None, name: str) -> str:
    return name if prefix is None else f"{prefix}.{name}"


def _python_shape(value: Any) -> tuple[str, list[int]]:
    """dtype and shape of nested lists of Python scalars (``mixed`` when types differ)."""
    shape = []
    level = [value]
    while all(isinstance(v, (list, tuple)) for v in level):
        sizes = {len(v) for v in level}
        if len(sizes) != 1:
            raise TypeError("ragged nested lists have no shape")
        shape.append(sizes.pop())
        level = [x for v in level for x in v]
    types = {type(v).__name__ for v in level}
    return (types.pop() if len(types) == 1 else "mixed"), shape
