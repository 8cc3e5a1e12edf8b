"""Recognising array-like values by duck typing, without importing numpy, torch or pandas."""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["is_array", "is_frame", "is_tensor", "to_numpy"]


def is_tensor(value: object) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def is_ndarray(value: object) -> bool:
    np = sys.modules.get("numpy")
    return np is not None and isinstance(value, np.ndarray)


def is_array(value: object) -> bool:
    """A numpy array or a torch tensor."""
    return is_ndarray(value) or is_tensor(value)


def is_frame(value: object) -> bool:
    """A pandas DataFrame (or anything shaped like one: columns, dtypes, head, to_numpy)."""
    return all(hasattr(value, a) for a in ("columns", "dtypes", "head", "to_numpy")) and not (
        is_array(value)
    )


def to_numpy(value: Any) -> Any:
    """A tensor as a numpy array (on the CPU, detached); other values unchanged."""
    if is_tensor(value):
        return value.detach().cpu().numpy()
    return value


def dtype_name(value: Any) -> str:
    """``float32`` for numpy and torch dtypes alike."""
    return str(value.dtype).removeprefix("torch.")
