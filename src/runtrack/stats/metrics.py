"""Evaluation metrics on per-example predictions, and the registry that names them.

Every function validates its inputs (raising :class:`~runtrack.errors.ValidationError`
that names the argument and the problem) and returns a float.

Classification labels are integers (bools and integral floats are accepted); binary
labels are 0/1 with 1 the positive class. ``y_score`` is a 1-D array of scores (or
probabilities of class 1) for binary tasks, and an ``(n, K)`` matrix with one column per
class for multiclass tasks, where ``y_true`` holds class indices ``0..K-1``.

==============  ====================  =======  =========  ==================================
name            tasks                 better   needs      definition
==============  ====================  =======  =========  ==================================
``auc``         binary, multiclass    higher   y_score    ROC AUC, Mann-Whitney, ties count
                                                          1/2 (midranks); multiclass: macro
                                                          mean of one-vs-rest AUCs
``accuracy``    binary, multiclass    higher   y_pred     fraction of y_pred == y_true
``logloss``     binary, multiclass    lower    y_score    mean -log p(true class), p clipped
                                                          to [eps, 1 - eps] (as sklearn)
``brier``       binary                lower    y_score    mean (p - y)^2
``ece``         binary                lower    y_score    expected calibration error of
                                                          P(y=1), 10 equal-width bins
``f1``          binary                higher   y_pred     2 TP / (2 TP + FP + FN)
``rmse``        regression            lower    y_pred     sqrt(mean (y_pred - y)^2)
``mae``         regression            lower    y_pred     mean abs(y_pred - y)
``r2``          regression            higher   y_pred     1 - SS_res / SS_tot
==============  ====================  =======  =========  ==================================

Expected calibration error is ``sum_b (n_b / n) * |mean(y)_b - mean(p)_b|`` over bins of
the predicted probability ``p`` of class 1. *Equal-width* bins split [0, 1] into
``n_bins`` intervals (0, 1/B], ..., ((B-1)/B, 1], the first also holding 0 (the bins of
``sklearn.calibration.calibration_curve(strategy="uniform")``). *Equal-mass* bins put
each example in bin ``floor(B * F)``, ``F`` the fraction of examples with a strictly
lower ``p``: bins of n/B examples each, except that tied probabilities share a bin.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from ..errors import ValidationError
from ._metric_impls import IMPLS, Binning, build_ece, check_ece
from ._types import Needs, Task

__all__ = [
    "METRICS",
    "Metric",
    "accuracy",
    "brier_score",
    "expected_calibration_error",
    "f1",
    "get_metric",
    "log_loss",
    "mae",
    "r2",
    "rmse",
    "roc_auc",
]


def _evaluate(name: str, y_true: npt.ArrayLike, pred: npt.ArrayLike) -> float:
    impl = IMPLS[name]
    y, p = impl.check(y_true, pred)
    return float(impl.build(y, p)(np.ones((1, y.shape[0])))[0])


def roc_auc(y_true: npt.ArrayLike, y_score: npt.ArrayLike) -> float:
    """ROC AUC: binary with 1-D ``y_score``, macro one-vs-rest with an ``(n, K)`` matrix."""
    return _evaluate("auc", y_true, y_score)


def accuracy(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Fraction of examples whose predicted label equals the true label."""
    return _evaluate("accuracy", y_true, y_pred)


def log_loss(y_true: npt.ArrayLike, y_score: npt.ArrayLike) -> float:
    """Mean negative log-likelihood (natural log); 1-D probabilities of class 1 or an
    ``(n, K)`` matrix of class probabilities whose rows sum to 1."""
    return _evaluate("logloss", y_true, y_score)


def brier_score(y_true: npt.ArrayLike, y_score: npt.ArrayLike) -> float:
    """Mean squared difference between the probability of class 1 and the 0/1 label."""
    return _evaluate("brier", y_true, y_score)


def expected_calibration_error(
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike,
    *,
    n_bins: int = 10,
    binning: Binning = "equal_width",
) -> float:
    """Expected calibration error of the probabilities of class 1 (see the module docs
    for the two binnings)."""
    y, p = check_ece(y_true, y_score, n_bins, binning)
    return float(build_ece(y, p, n_bins, binning)(np.ones((1, y.size)))[0])


def f1(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """F1 score of the positive class (1); undefined (an error) when neither ``y_true``
    nor ``y_pred`` contains a positive."""
    return _evaluate("f1", y_true, y_pred)


def rmse(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Root mean squared error."""
    return _evaluate("rmse", y_true, y_pred)


def mae(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Mean absolute error."""
    return _evaluate("mae", y_true, y_pred)


def r2(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Coefficient of determination; undefined (an error) when ``y_true`` is constant."""
    return _evaluate("r2", y_true, y_pred)


class Metric(NamedTuple):
    """A registered metric: ``fn(y_true, pred) -> float``, the tasks it applies to,
    its direction and which prediction column (``y_pred`` or ``y_score``) it reads."""

    fn: Callable[[npt.ArrayLike, npt.ArrayLike], float]
    tasks: tuple[Task, ...]
    higher_is_better: bool
    needs: Needs


_CLASSIFICATION: tuple[Task, ...] = ("binary", "multiclass")

#: name -> Metric; read-only.
METRICS: Mapping[str, Metric] = MappingProxyType(
    {
        "auc": Metric(roc_auc, _CLASSIFICATION, True, "y_score"),
        "accuracy": Metric(accuracy, _CLASSIFICATION, True, "y_pred"),
        "logloss": Metric(log_loss, _CLASSIFICATION, False, "y_score"),
        "brier": Metric(brier_score, ("binary",), False, "y_score"),
        "ece": Metric(expected_calibration_error, ("binary",), False, "y_score"),
        "f1": Metric(f1, ("binary",), True, "y_pred"),
        "rmse": Metric(rmse, ("regression",), False, "y_pred"),
        "mae": Metric(mae, ("regression",), False, "y_pred"),
        "r2": Metric(r2, ("regression",), True, "y_pred"),
    }
)

_TASKS: tuple[Task, ...] = ("binary", "multiclass", "regression")


def get_metric(name: str, task: Task | None = None) -> Metric:
    """The registered metric ``name``, checked to apply to ``task`` when one is given."""
    metric = METRICS.get(name)
    if metric is None:
        raise ValidationError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")
    if task is not None:
        if task not in _TASKS:
            raise ValidationError(f"unknown task {task!r}; expected one of {', '.join(_TASKS)}")
        if task not in metric.tasks:
            raise ValidationError(
                f"metric {name!r} does not apply to {task} tasks "
                f"(it applies to: {', '.join(metric.tasks)})"
            )
    return metric
