"""Input checks shared by every public function of :mod:`runtrack.stats`.

Each function takes what the caller passed, returns a normalised numpy array (or value)
and raises :class:`~runtrack.errors.ValidationError` naming the argument and what is wrong
with it: a wrong shape, NaN or infinite values, labels that are not binary, lengths that
differ, too few classes present.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import ValidationError
from ._types import FloatArray, IntArray, Seed

__all__ = [
    "PROBA_SUM_TOLERANCE",
    "binary_labels",
    "check_alpha",
    "check_count",
    "check_fraction",
    "class_labels",
    "finite_values",
    "generator",
    "labels",
    "ndim",
    "proba_matrix",
    "probabilities",
    "same_length",
    "score_matrix",
]

#: How far a row of class probabilities may sum from 1 (float32 softmax outputs drift ~1e-7).
PROBA_SUM_TOLERANCE = 1e-5


def _numeric(x: npt.ArrayLike, what: str, ndim: int = 1) -> npt.NDArray[Any]:
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as exc:  # ragged nested sequences
        raise ValidationError(f"{what} is not an array of numbers: {exc}") from exc
    if arr.dtype == np.bool_:
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iuf":
        raise ValidationError(f"{what} must hold numbers; got dtype {arr.dtype}")
    if arr.ndim != ndim:
        shape = "a 1-D array" if ndim == 1 else f"a {ndim}-D array"
        raise ValidationError(f"{what} must be {shape}; got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValidationError(f"{what} is empty")
    return arr


def _check_finite(arr: npt.NDArray[Any], what: str) -> None:
    if arr.dtype.kind != "f":
        return
    bad = ~np.isfinite(arr)
    if bad.any():
        first = np.argwhere(bad)[0]
        where = int(first[0]) if first.size == 1 else tuple(int(i) for i in first)
        nan = int(np.isnan(arr).sum())
        kind = f"{nan} NaN" if nan == int(bad.sum()) else f"{int(bad.sum())} NaN/infinite"
        raise ValidationError(f"{what} contains {kind} value(s) (first at index {where})")


def _integral(arr: npt.NDArray[Any], what: str) -> IntArray:
    _check_finite(arr, what)
    if arr.dtype.kind == "f" and not np.array_equal(arr, np.round(arr)):
        raise ValidationError(f"{what} must hold integer class labels; got fractional values")
    return arr.astype(np.int64)


def ndim(x: npt.ArrayLike) -> int:
    """The number of dimensions of ``x``, or 1 when it is not array-like (checked later)."""
    try:
        return int(np.ndim(x))
    except (ValueError, TypeError):
        return 1


def binary_labels(y: npt.ArrayLike, what: str = "y_true") -> IntArray:
    """0/1 labels (bools and integral floats accepted) as int64."""
    labels = _integral(_numeric(y, what), what)
    found = np.unique(labels)
    if not np.isin(found, (0, 1)).all():
        shown = ", ".join(str(v) for v in found[:6]) + (", ..." if found.size > 6 else "")
        raise ValidationError(f"{what} is not binary: found labels {{{shown}}}; expected 0 and 1")
    return labels


def labels(y: npt.ArrayLike, what: str = "y_true") -> IntArray:
    """Integer labels of any value (bools and integral floats accepted) as int64."""
    return _integral(_numeric(y, what), what)


def class_labels(y: npt.ArrayLike, what: str = "y_true") -> IntArray:
    """Class indices 0..K-1 (integral floats accepted) as int64."""
    labels = _integral(_numeric(y, what), what)
    if labels.min() < 0:
        raise ValidationError(f"{what} holds negative class labels; expected 0..K-1")
    return labels


def finite_values(x: npt.ArrayLike, what: str) -> FloatArray:
    """A 1-D array of finite numbers as float64."""
    arr = _numeric(x, what)
    _check_finite(arr, what)
    return arr.astype(np.float64)


def probabilities(p: npt.ArrayLike, what: str = "y_score") -> FloatArray:
    """A 1-D array of probabilities (of the positive class) in [0, 1]."""
    arr = finite_values(p, what)
    if arr.min() < 0.0 or arr.max() > 1.0:
        raise ValidationError(
            f"{what} must hold probabilities in [0, 1]; found values in "
            f"[{arr.min():.4g}, {arr.max():.4g}]"
        )
    return arr


def score_matrix(s: npt.ArrayLike, what: str = "y_score") -> FloatArray:
    """An (n, K) matrix of finite per-class scores, K >= 2."""
    arr = _numeric(s, what, ndim=2)
    _check_finite(arr, what)
    if arr.shape[1] < 2:
        raise ValidationError(f"{what} must have one column per class (>= 2); got {arr.shape}")
    return arr.astype(np.float64)


def proba_matrix(p: npt.ArrayLike, what: str = "y_score") -> FloatArray:
    """An (n, K) matrix of class probabilities, K >= 2, rows summing to 1."""
    arr = _numeric(p, what, ndim=2)
    _check_finite(arr, what)
    if arr.shape[1] < 2:
        raise ValidationError(f"{what} must have one column per class (>= 2); got {arr.shape}")
    out = arr.astype(np.float64)
    if out.min() < 0.0 or out.max() > 1.0:
        raise ValidationError(f"{what} must hold probabilities in [0, 1]")
    sums = out.sum(axis=1)
    off = np.abs(sums - 1.0) > PROBA_SUM_TOLERANCE
    if off.any():
        i = int(np.argmax(off))
        raise ValidationError(
            f"{what} rows must sum to 1; row {i} sums to {sums[i]:.6g} "
            f"({int(off.sum())} row(s) off by more than {PROBA_SUM_TOLERANCE:g})"
        )
    return out


def same_length(*arrays: tuple[str, npt.NDArray[Any]]) -> int:
    """The common length of the named arrays; raises if they differ."""
    (first_name, first), *rest = arrays
    for name, arr in rest:
        if arr.shape[0] != first.shape[0]:
            raise ValidationError(
                f"lengths differ: {first_name} has {first.shape[0]} examples "
                f"but {name} has {arr.shape[0]}"
            )
    return int(first.shape[0])


def check_alpha(alpha: float, what: str = "alpha") -> float:
    """A significance level strictly between 0 and 1."""
    return check_fraction(alpha, what)


def check_fraction(value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValidationError(f"{what} must be a number; got {value!r}")
    if not 0.0 < float(value) < 1.0:
        raise ValidationError(f"{what} must be strictly between 0 and 1; got {value!r}")
    return float(value)


def check_count(value: int, what: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValidationError(f"{what} must be an integer; got {value!r}")
    if int(value) < minimum:
        raise ValidationError(f"{what} must be at least {minimum}; got {value}")
    return int(value)


def generator(seed: Seed) -> np.random.Generator:
    """A numpy Generator from an int seed, a Generator (used as is) or None (fresh entropy)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise ValidationError(f"seed must be an int, a numpy Generator or None; got {seed!r}")
    return np.random.default_rng(seed)
