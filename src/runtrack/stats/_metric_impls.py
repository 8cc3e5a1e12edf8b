"""How each named metric validates its inputs and builds its weighted evaluator.

One :class:`Impl` per metric name: ``check`` turns caller input into validated arrays
(raising ``ValidationError``), ``build`` binds them into an :class:`Evaluator`, ``loss``
(when the metric is an average of per-example losses) gives those losses for paired
effect sizes, and ``rank_based`` marks metrics that only see the order of the scores
(the permutation test then swaps ranks, so two models' scores need not share a scale).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ..errors import ValidationError
from . import _validate as v
from ._evaluators import (
    AUCEvaluator,
    EqualMassECEEvaluator,
    Evaluator,
    MacroAUCEvaluator,
    MeanEvaluator,
    mean_of,
    ratio_evaluator,
)
from ._types import FloatArray, IntArray

__all__ = ["IMPLS", "Binning", "Checked", "Impl", "build_ece", "check_ece"]

Checked = tuple[npt.NDArray[Any], npt.NDArray[Any]]
Binning = Literal["equal_width", "equal_mass"]
_EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class Impl:
    check: Callable[[npt.ArrayLike, npt.ArrayLike], Checked]
    build: Callable[[npt.NDArray[Any], npt.NDArray[Any]], Evaluator]
    loss: Callable[[npt.NDArray[Any], npt.NDArray[Any]], FloatArray] | None = None
    rank_based: bool = False


def _both_classes(y: IntArray, metric: str) -> None:
    positives = int(y.sum())
    if positives in (0, y.size):
        only = 1 if positives else 0
        raise ValidationError(
            f"y_true has only one class (all {only}); {metric} needs both positive and "
            "negative examples"
        )


def _check_multiclass(y_true: npt.ArrayLike, matrix: FloatArray, metric: str) -> IntArray:
    y = v.class_labels(y_true)
    v.same_length(("y_true", y), ("y_score", matrix))
    k = matrix.shape[1]
    if y.max() >= k:
        raise ValidationError(
            f"y_true has label {y.max()} but y_score has {k} columns (classes 0..{k - 1})"
        )
    if metric == "AUC":
        present = np.bincount(y, minlength=k)
        if np.count_nonzero(present) < 2:
            raise ValidationError(
                f"y_true has fewer than 2 classes present; {metric} needs at least 2"
            )
        missing = np.flatnonzero(present == 0)
        if missing.size:
            raise ValidationError(
                f"class {missing[0]} never occurs in y_true; its one-vs-rest AUC is undefined"
            )
    return y


def _check_binary(y_true: npt.ArrayLike, p: npt.ArrayLike, proba: bool) -> Checked:
    y = v.binary_labels(y_true)
    s = v.probabilities(p) if proba else v.finite_values(p, "y_score")
    v.same_length(("y_true", y), ("y_score", s))
    return y, s


# --- AUC ---------------------------------------------------------------------------------


def _check_auc(y_true: npt.ArrayLike, y_score: npt.ArrayLike) -> Checked:
    if v.ndim(y_score) == 2:
        s = v.score_matrix(y_score)
        return _check_multiclass(y_true, s, "AUC"), s
    y, s = _check_binary(y_true, y_score, proba=False)
    _both_classes(y, "AUC")
    return y, s


def _build_auc(y: npt.NDArray[Any], s: npt.NDArray[Any]) -> Evaluator:
    return MacroAUCEvaluator(y, s) if s.ndim == 2 else AUCEvaluator(y, s)


# --- accuracy and F1 ---------------------------------------------------------------------


def _check_labels(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> Checked:
    y = v.labels(y_true)
    p = v.labels(y_pred, "y_pred")
    v.same_length(("y_true", y), ("y_pred", p))
    return y, p


def _zero_one(y: npt.NDArray[Any], p: npt.NDArray[Any]) -> FloatArray:
    out: FloatArray = (y != p).astype(np.float64)
    return out


def _build_accuracy(y: npt.NDArray[Any], p: npt.NDArray[Any]) -> Evaluator:
    return mean_of((y == p).astype(np.float64))


def _check_f1(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> Checked:
    y = v.binary_labels(y_true)
    p = v.binary_labels(y_pred, "y_pred")
    v.same_length(("y_true", y), ("y_pred", p))
    if not (y.any() or p.any()):
        raise ValidationError("F1 is undefined: neither y_true nor y_pred has a positive example")
    return y, p


def _build_f1(y: npt.NDArray[Any], p: npt.NDArray[Any]) -> Evaluator:
    tp = (y * p).astype(np.float64)
    wrong = (y != p).astype(np.float64)  # false positives + false negatives
    return ratio_evaluator(np.stack([2.0 * tp, 2.0 * tp + wrong], axis=1))


# --- probabilistic: log loss, Brier, calibration ------------------------------------------


def _check_logloss(y_true: npt.ArrayLike, y_score: npt.ArrayLike) -> Checked:
    if v.ndim(y_score) == 2:
        s = v.proba_matrix(y_score)
        return _check_multiclass(y_true, s, "log loss"), s
    return _check_binary(y_true, y_score, proba=True)


def _logloss(y: npt.NDArray[Any], s: npt.NDArray[Any]) -> FloatArray:
    # like sklearn: the probability of the true class, clipped to [eps, 1 - eps]
    q: FloatArray = s[np.arange(y.size), y] if s.ndim == 2 else np.where(y == 1, s, 1.0 - s)
    out: FloatArray = -np.log(np.clip(q, _EPS, 1.0 - _EPS))
    return out


def _check_proba(y_true: npt.ArrayLike, y_score: npt.ArrayLike) -> Checked:
    return _check_binary(y_true, y_score, proba=True)


def _squared(y: npt.NDArray[Any], s: npt.NDArray[Any]) -> FloatArray:
    out: FloatArray = (s - y) ** 2
    return out


def _absolute(y: npt.NDArray[Any], s: npt.NDArray[Any]) -> FloatArray:
    out: FloatArray = np.abs(s - y)
    return out


def check_ece(y_true: npt.ArrayLike, y_score: npt.ArrayLike, n_bins: int, binning: str) -> Checked:
    v.check_count(n_bins, "n_bins", minimum=1)
    if binning not in ("equal_width", "equal_mass"):
        raise ValidationError(f"binning must be 'equal_width' or 'equal_mass'; got {binning!r}")
    return _check_proba(y_true, y_score)


def build_ece(y: IntArray, p: FloatArray, n_bins: int, binning: Binning) -> Evaluator:
    """Equal width: bins (0, 1/B], ..., ((B-1)/B, 1] (right-closed, the first also holding
    0, as ``sklearn.calibration.calibration_curve`` bins them). Equal mass: see
    :class:`EqualMassECEEvaluator`."""
    if binning == "equal_mass":
        return EqualMassECEEvaluator(y, p, n_bins)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    onehot = np.zeros((p.size, n_bins))
    onehot[np.arange(p.size), np.searchsorted(edges[1:-1], p, side="left")] = 1.0
    values = np.hstack([onehot * y[:, None], onehot * p[:, None]])

    def finish(sums: FloatArray, total: FloatArray) -> FloatArray:
        gap = np.abs(sums[:, :n_bins] - sums[:, n_bins:]).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out: FloatArray = np.where(total > 0, gap / total, np.nan)
        return out

    return MeanEvaluator(values, finish)


def _check_ece_default(y_true: npt.ArrayLike, y_score: npt.ArrayLike) -> Checked:
    return check_ece(y_true, y_score, 10, "equal_width")


def _build_ece_default(y: npt.NDArray[Any], p: npt.NDArray[Any]) -> Evaluator:
    return build_ece(y, p, 10, "equal_width")


# --- regression --------------------------------------------------------------------------


def _check_regression(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> Checked:
    y = v.finite_values(y_true, "y_true")
    p = v.finite_values(y_pred, "y_pred")
    v.same_length(("y_true", y), ("y_pred", p))
    return y, p


def _check_r2(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> Checked:
    y, p = _check_regression(y_true, y_pred)
    if np.ptp(y) == 0:
        raise ValidationError("y_true is constant; R² is undefined")
    return y, p


def _build_rmse(y: npt.NDArray[Any], p: npt.NDArray[Any]) -> Evaluator:
    def finish(sums: FloatArray, total: FloatArray) -> FloatArray:
        with np.errstate(invalid="ignore", divide="ignore"):
            out: FloatArray = np.sqrt(sums[:, 0] / total)
        return out

    return MeanEvaluator(_squared(y, p)[:, None], finish)


def _build_r2(y: npt.NDArray[Any], p: npt.NDArray[Any]) -> Evaluator:
    centred = y - y.mean()
    values = np.stack([_squared(y, p), centred, centred**2], axis=1)

    def finish(sums: FloatArray, total: FloatArray) -> FloatArray:
        with np.errstate(invalid="ignore", divide="ignore"):
            ss_tot = sums[:, 2] - sums[:, 1] ** 2 / total
            # a resample whose y values are all equal has no R²
            defined = ss_tot > 1e-12 * sums[:, 2]
            out: FloatArray = np.where(defined, 1.0 - sums[:, 0] / ss_tot, np.nan)
        return out

    return MeanEvaluator(values, finish)


def _mean_builder(
    loss: Callable[[npt.NDArray[Any], npt.NDArray[Any]], FloatArray],
) -> Callable[[npt.NDArray[Any], npt.NDArray[Any]], Evaluator]:
    return lambda y, p: mean_of(loss(y, p))


IMPLS: dict[str, Impl] = {
    "auc": Impl(_check_auc, _build_auc, rank_based=True),
    "accuracy": Impl(_check_labels, _build_accuracy, loss=_zero_one),
    "logloss": Impl(_check_logloss, _mean_builder(_logloss), loss=_logloss),
    "brier": Impl(_check_proba, _mean_builder(_squared), loss=_squared),
    "ece": Impl(_check_ece_default, _build_ece_default),
    "f1": Impl(_check_f1, _build_f1),
    "rmse": Impl(_check_regression, _build_rmse, loss=_squared),
    "mae": Impl(_check_regression, _mean_builder(_absolute), loss=_absolute),
    "r2": Impl(_check_r2, _build_r2, loss=_squared),
}
