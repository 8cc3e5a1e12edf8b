"""DeLong's test: the variance of an ROC AUC, and of the difference of two correlated
AUCs measured on the same examples.

The AUC is a two-sample U-statistic; DeLong, DeLong & Clarke-Pearson (1988) estimate its
variance from the *structural components*: for each positive ``i`` the fraction of
negatives it outranks, ``V10_i``, and for each negative ``j`` the fraction of positives
outranking it, ``V01_j`` (ties count 1/2). With ``m`` positives and ``n`` negatives,
``cov(AUC_r, AUC_s) = S10[r, s] / m + S01[r, s] / n``, where ``S10`` and ``S01`` are the
sample covariances (ddof=1) of the components across models. Sun & Xu (2014) compute the
components from midranks in O(n log n):
``V10_i = (rank of x_i among all - rank of x_i among positives) / n`` and
``V01_j = 1 - (rank of y_j among all - rank of y_j among negatives) / m``.

Intervals and tests use the normal approximation (Wald): ``est ± z_{1-alpha/2} · se`` and a
two-sided p-value ``2 Φ(-|z|)``. The AUC interval is clipped to [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special

from ..errors import ValidationError
from . import _validate as v
from ._ranks import midranks
from ._records import Record
from ._types import FloatArray

__all__ = ["AUCResult", "PairedResult", "delong_auc", "delong_covariance", "delong_paired"]


@dataclass(frozen=True)
class AUCResult(Record):
    """One AUC with its DeLong variance and Wald confidence interval."""

    auc: float
    variance: float
    se: float
    ci: tuple[float, float]
    alpha: float
    n_pos: int
    n_neg: int


@dataclass(frozen=True)
class PairedResult(Record):
    """Two AUCs on the same examples: ``delta = b - a``, its standard error, Wald interval,
    z statistic and two-sided p-value (H0: the two AUCs are equal)."""

    a: float
    b: float
    delta: float
    se: float
    ci: tuple[float, float]
    z: float
    p_value: float
    alpha: float
    n_pos: int
    n_neg: int


def _checked(
    y_true: npt.ArrayLike, scores: Sequence[npt.ArrayLike], names: Sequence[str]
) -> tuple[npt.NDArray[np.bool_], FloatArray]:
    y = v.binary_labels(y_true)
    arrays = [v.finite_values(s, name) for s, name in zip(scores, names, strict=True)]
    v.same_length(("y_true", y), *zip(names, arrays, strict=True))
    positives = int(y.sum())
    if min(positives, y.size - positives) < 2:
        raise ValidationError(
            f"y_true has {positives} positive and {y.size - positives} negative examples; "
            "DeLong's variance needs at least 2 of each"
        )
    return y == 1, np.stack(arrays)


def _components(
    is_pos: npt.NDArray[np.bool_], scores: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """AUCs ``(k,)``, V10 ``(k, m)`` and V01 ``(k, n)`` for ``k`` score rows."""
    m = int(is_pos.sum())
    n = is_pos.size - m
    k = scores.shape[0]
    aucs = np.empty(k)
    v10 = np.empty((k, m))
    v01 = np.empty((k, n))
    for r in range(k):
        x, y = scores[r, is_pos], scores[r, ~is_pos]
        tz = midranks(np.concatenate([x, y]))
        v10[r] = (tz[:m] - midranks(x)) / n
        v01[r] = 1.0 - (tz[m:] - midranks(y)) / m
        aucs[r] = v10[r].mean()
    return aucs, v10, v01


def _covariance(v10: FloatArray, v01: FloatArray) -> FloatArray:
    """``S10 / m + S01 / n`` from components of shape ``(k, m)`` and ``(k, n)``."""
    out: FloatArray = (
        np.atleast_2d(np.cov(v10)) / v10.shape[1] + np.atleast_2d(np.cov(v01)) / v01.shape[1]
    )
    return out


def delong_covariance(
    y_true: npt.ArrayLike, scores: Sequence[npt.ArrayLike]
) -> tuple[FloatArray, FloatArray]:
    """AUCs ``(k,)`` of ``k`` score vectors on the same examples and their DeLong
    covariance matrix ``(k, k)``."""
    if len(scores) < 1:
        raise ValidationError("scores is empty; pass at least one score vector")
    names = [f"scores[{i}]" for i in range(len(scores))]
    is_pos, matrix = _checked(y_true, scores, names)
    aucs, v10, v01 = _components(is_pos, matrix)
    return aucs, _covariance(v10, v01)


def _z_crit(alpha: float) -> float:
    return float(special.ndtri(1.0 - alpha / 2.0))


def delong_auc(y_true: npt.ArrayLike, y_score: npt.ArrayLike, alpha: float = 0.05) -> AUCResult:
    """The AUC of one score vector, its DeLong variance and ``1 - alpha`` Wald interval."""
    alpha = v.check_alpha(alpha)
    is_pos, matrix = _checked(y_true, [y_score], ["y_score"])
    aucs, v10, v01 = _components(is_pos, matrix)
    var = float(_covariance(v10, v01)[0, 0])
    se = math.sqrt(var)
    auc = float(aucs[0])
    half = _z_crit(alpha) * se
    ci = (max(0.0, auc - half), min(1.0, auc + half))
    m = int(is_pos.sum())
    return AUCResult(auc, var, se, ci, alpha, m, is_pos.size - m)


def delong_paired(
    y_true: npt.ArrayLike,
    score_a: npt.ArrayLike,
    score_b: npt.ArrayLike,
    alpha: float = 0.05,
) -> PairedResult:
    """DeLong's two-sided test of ``AUC_b = AUC_a`` on the same examples.

    When the difference has zero estimated variance (e.g. identical scores), ``z`` is 0
    and ``p_value`` 1 if the AUCs are equal, else ``z`` is infinite and ``p_value`` 0.
    """
    alpha = v.check_alpha(alpha)
    is_pos, matrix = _checked(y_true, [score_a, score_b], ["score_a", "score_b"])
    aucs, v10, v01 = _components(is_pos, matrix)
    # the variance of the difference, from the per-example differences of components
    var = float(_covariance((v10[1] - v10[0])[None, :], (v01[1] - v01[0])[None, :])[0, 0])
    se = math.sqrt(max(var, 0.0))
    a, b = float(aucs[0]), float(aucs[1])
    delta = b - a
    if se > 0.0:
        z = delta / se
        p = float(2.0 * special.ndtr(-abs(z)))
    else:
        z = 0.0 if delta == 0.0 else math.copysign(math.inf, delta)
        p = 1.0 if delta == 0.0 else 0.0
    half = _z_crit(alpha) * se
    ci = (max(-1.0, delta - half), min(1.0, delta + half))
    m = int(is_pos.sum())
    return PairedResult(a, b, delta, se, ci, z, p, alpha, m, is_pos.size - m)
