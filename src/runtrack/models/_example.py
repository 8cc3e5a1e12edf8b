"""The input example: a few rows kept beside the model, in a format that is not pickle.

============================  =========================  ==========================
example                       file                       ``type`` in the document
============================  =========================  ==========================
numpy array                   ``input_example.npy``      ``numpy.ndarray``
torch tensor                  ``input_example.npy``      ``torch.Tensor``
tuple / dict of arrays        ``input_example.npz``      ``tuple`` / ``dict``
pandas DataFrame              ``input_example.json``     ``dataframe`` (split form)
JSON values                   ``input_example.json``     ``json``
============================  =========================  ==========================

Only the first :data:`MAX_ROWS` rows are kept. Arrays are written with
``allow_pickle=False`` and read the same way: an example never runs code when loaded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from ..errors import ValidationError
from ._values import dtype_name, is_array, is_frame, is_tensor, to_numpy

__all__ = ["MAX_ROWS", "load_example", "save_example", "truncate"]

MAX_ROWS: Final = 5


def truncate(example: Any) -> Any:
    """The first :data:`MAX_ROWS` rows of an example (containers are truncated per item)."""
    if is_array(example):
        return example[:MAX_ROWS] if example.ndim else example
    if is_frame(example):
        return example.head(MAX_ROWS)
    if isinstance(example, tuple) and example and all(is_array(v) for v in example):
        return tuple(truncate(v) for v in example)
    if isinstance(example, Mapping):
        return {
            k: truncate(v) if is_array(v) or isinstance(v, list) else v for k, v in example.items()
        }
    if isinstance(example, (list, tuple)):
        return example[:MAX_ROWS]
    return example


def save_example(example: Any, directory: Path) -> dict[str, Any]:
    """Write a (truncated) example into ``directory``; returns its document entry."""
    if is_array(example):
        file = "input_example.npy"
        _np().save(directory / file, to_numpy(example), allow_pickle=False)
        kind = "torch.Tensor" if is_tensor(example) else "numpy.ndarray"
        return {"file": file, "type": kind, **_shape(example)}
    if _is_array_container(example):
        file = "input_example.npz"
        items = example.items() if isinstance(example, Mapping) else enumerate(example)
        arrays = {f"arg{k}" if isinstance(k, int) else k: to_numpy(v) for k, v in items}
        with open(directory / file, "wb") as fh:
            _np().savez(fh, allow_pickle=False, **arrays)
        values = list(example.values() if isinstance(example, Mapping) else example)
        kind = "dict" if isinstance(example, Mapping) else "tuple"
        return {"file": file, "type": kind, "tensors": all(is_tensor(v) for v in values)}
    if is_frame(example):
        content: Any = {
            "columns": [str(c) for c in example.columns],
            "dtypes": [str(d) for d in example.dtypes],
            "data": example.to_numpy().tolist(),
        }
        kind = "dataframe"
    else:
        content, kind = example, "json"
    file = "input_example.json"
    try:
        text = json.dumps(content, default=_plain, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"the input example ({type(example).__name__}) cannot be stored: {exc}; give a "
            "numpy array, a tensor, a DataFrame or JSON values"
        ) from None
    (directory / file).write_text(text, encoding="utf-8")
    return {"file": file, "type": kind}


def load_example(directory: Path, info: Mapping[str, Any]) -> Any:
    """The example as saved: arrays/tensors for array files, plain JSON otherwise.

    A ``dataframe`` example comes back pandas-free: ``{"columns", "dtypes", "data"}``.
    """
    path = Path(directory) / str(info["file"])
    kind = info.get("type")
    if path.suffix == ".json":
        return json.loads(path.read_text(encoding="utf-8"))
    np = _np()
    if path.suffix == ".npy":
        array = np.load(path, allow_pickle=False)
        return _torch().from_numpy(array) if kind == "torch.Tensor" else array
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    if info.get("tensors"):
        arrays = {k: _torch().from_numpy(v) for k, v in arrays.items()}
    if kind == "tuple":
        return tuple(arrays[f"arg{i}"] for i in range(len(arrays)))
    return arrays


def _is_array_container(example: Any) -> bool:
    if isinstance(example, Mapping):
        values = list(example.values())
        if not all(isinstance(k, str) for k in example):
            return False
    elif isinstance(example, tuple):
        values = list(example)
    else:
        return False
    return bool(values) and all(is_array(v) for v in values)


def _shape(example: Any) -> dict[str, Any]:
    return {"dtype": dtype_name(example), "shape": list(example.shape)}


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays inside JSON values
        return value.tolist()
    if hasattr(value, "isoformat"):  # timestamps in a DataFrame
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _np() -> Any:
    import numpy

    return numpy


def _torch() -> Any:
    import torch

    return torch
