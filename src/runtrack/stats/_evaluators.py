"""Metrics bound to fixed data and evaluated under example weights, many weightings at once.

Every metric here is a function of the empirical distribution of ``(y, pred)`` pairs, so
evaluating it on a bootstrap resample is the same as evaluating it on the original
examples weighted by how often each was drawn. An :class:`Evaluator` is built once from
validated arrays (sorting, binning) and then maps a ``(k, n)`` matrix of non-negative
weights to ``k`` metric values, NaN where the metric is undefined for that weighting (a
resample without positives has no AUC). All-ones weights give the plain metric, so the
point estimate and its resamples share one implementation.

* :class:`MeanEvaluator`: metrics that are a function of weighted sums of per-example
  values (accuracy, log loss, Brier, F1 counts, equal-width calibration error, RMSE,
  MAE, R^2): one matrix product per chunk of weightings.
* :class:`AUCEvaluator`: the Mann-Whitney AUC with midrank ties. The examples are sorted
  once; a weighting then costs a cumulative sum over the smaller class and a gather over
  the larger one, O(n) instead of a sort per resample (the "rank trick").
* :class:`MacroAUCEvaluator`: one-vs-rest AUC averaged over classes.
* :class:`EqualMassECEEvaluator`: calibration error over bins of equal (weighted) mass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from ._types import FloatArray, IntArray

__all__ = [
    "AUCEvaluator",
    "EqualMassECEEvaluator",
    "Evaluator",
    "MacroAUCEvaluator",
    "MeanEvaluator",
    "Weights",
]

Weights = npt.NDArray[Any]  # (k, n) non-negative int64 or float64


class Evaluator(Protocol):
    """A metric bound to ``n`` examples: ``(k, n)`` weights -> ``k`` values (NaN = undefined)."""

    def __call__(self, w: Weights) -> FloatArray: ...


def _ratio(num: npt.NDArray[Any], den: npt.NDArray[Any]) -> FloatArray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


@dataclass(frozen=True)
class MeanEvaluator:
    """``finish(w @ values, w.sum(axis=1))``: per-example ``values`` of shape ``(n, q)``
    summed under each weighting; ``finish(sums (k, q), totals (k,)) -> (k,)``."""

    values: FloatArray
    finish: Callable[[FloatArray, FloatArray], FloatArray]

    def __call__(self, w: Weights) -> FloatArray:
        wf = np.asarray(w, dtype=np.float64)
        return self.finish(wf @ self.values, wf.sum(axis=1))


def mean_of(values: FloatArray) -> MeanEvaluator:
    """The weighted mean of one per-example value."""
    return MeanEvaluator(values[:, None], lambda s, t: _ratio(s[:, 0], t))


def ratio_evaluator(values: FloatArray) -> MeanEvaluator:
    """``values[:, 0].sum() / values[:, 1].sum()`` under the weights (e.g. F1 from counts)."""
    return MeanEvaluator(values, lambda s, t: _ratio(s[:, 0], s[:, 1]))


class AUCEvaluator:
    """Binary ROC AUC, P(score_pos > score_neg) + P(tie) / 2, under example weights.

    With the smaller class sorted by score, ``C`` its cumulative weight: each example of
    the larger class sees ``C[lo]`` smaller-class weight strictly below its score and
    ``C[hi] - C[lo]`` tied with it (``lo``/``hi`` precomputed by binary search).
    """

    def __init__(self, y: IntArray, score: FloatArray) -> None:
        pos = np.flatnonzero(y == 1)
        neg = np.flatnonzero(y == 0)
        self._small_is_pos = pos.size <= neg.size
        small, big = (pos, neg) if self._small_is_pos else (neg, pos)
        self._small = small[np.argsort(score[small], kind="stable")]
        # the larger class sorted too, so that lo/hi increase and their gathers stream
        self._big = big[np.argsort(score[big], kind="stable")]
        sorted_small = score[self._small]
        self._lo = np.searchsorted(sorted_small, score[self._big], side="left")
        self._hi = np.searchsorted(sorted_small, score[self._big], side="right")

    def __call__(self, w: Weights) -> FloatArray:
        k = w.shape[0]
        cum = np.zeros((k, self._small.size + 1), dtype=w.dtype)
        np.cumsum(np.take(w, self._small, axis=1), axis=1, out=cum[:, 1:])
        w_big = np.take(w, self._big, axis=1)
        below_or_tied = np.take(cum, self._lo, axis=1)
        below_or_tied += np.take(cum, self._hi, axis=1)
        # weight of (small, big) pairs with small scoring lower, ties counted half
        small_below = np.einsum("ij,ij->i", w_big, below_or_tied).astype(np.float64) / 2.0
        pairs = cum[:, -1].astype(np.float64) * w_big.sum(axis=1).astype(np.float64)
        num = pairs - small_below if self._small_is_pos else small_below
        return _ratio(num, pairs)


class MacroAUCEvaluator:
    """Unweighted mean over classes of the one-vs-rest AUC of each class's score column."""

    def __init__(self, y: IntArray, scores: FloatArray) -> None:
        self._per_class: Sequence[AUCEvaluator] = [
            AUCEvaluator((y == c).astype(np.int64), scores[:, c]) for c in range(scores.shape[1])
        ]

    def __call__(self, w: Weights) -> FloatArray:
        per_class = np.stack([ev(w) for ev in self._per_class], axis=1)
        out: FloatArray = per_class.mean(axis=1)  # NaN if a class vanished from a resample
        return out


class EqualMassECEEvaluator:
    """Expected calibration error with ``n_bins`` bins of equal weighted mass.

    An example goes to bin ``floor(n_bins * F(score))`` (capped at ``n_bins - 1``), where
    ``F(score)`` is the weight fraction of examples scoring strictly lower: bins hold equal
    mass up to ties, and tied scores always share a bin. Bins are recomputed for every
    weighting, exactly as they would be on a resample.
    """

    def __init__(self, y: IntArray, proba: FloatArray, n_bins: int) -> None:
        self._order = np.argsort(proba, kind="stable")
        sorted_p = proba[self._order]
        self._p = sorted_p
        self._y = y[self._order].astype(np.float64)
        new_group = np.r_[True, sorted_p[1:] != sorted_p[:-1]]
        # index (into the exclusive cumulative sum) of each example's tie-group start
        self._group_start = np.maximum.accumulate(np.where(new_group, np.arange(proba.size), 0))
        self._n_bins = n_bins

    def __call__(self, w: Weights) -> FloatArray:
        k, n = w.shape
        ws = np.take(w, self._order, axis=1).astype(np.float64)
        cum = np.zeros((k, n + 1))
        np.cumsum(ws, axis=1, out=cum[:, 1:])
        total = cum[:, -1:]
        below = np.take(cum, self._group_start, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            bins = np.floor(self._n_bins * below / total)
        bins = np.clip(np.nan_to_num(bins), 0, self._n_bins - 1).astype(np.int64)
        flat = (bins + (np.arange(k) * self._n_bins)[:, None]).ravel()
        size = k * self._n_bins
        sum_y = np.bincount(flat, weights=(ws * self._y).ravel(), minlength=size)
        sum_p = np.bincount(flat, weights=(ws * self._p).ravel(), minlength=size)
        gap = np.abs(sum_y - sum_p).reshape(k, self._n_bins).sum(axis=1)
        return _ratio(gap, total[:, 0])
