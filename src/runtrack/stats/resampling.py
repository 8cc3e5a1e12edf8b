"""Bootstrap intervals and paired resampling tests for any registered metric.

``metric`` is a name from :data:`runtrack.stats.metrics.METRICS`. Resampling is
vectorised: each resample is a vector of draw counts, evaluated for blocks of resamples
at once (the AUC via a cumulative-sum "rank trick", no sort per resample), so 2,000
resamples of 100,000 examples take a few seconds.

* :func:`bootstrap_ci`: the nonparametric bootstrap over examples for one run's metric,
  with a percentile or BCa interval (BCa acceleration from the jackknife).
* :func:`paired_bootstrap`: both runs evaluated on the *same* resamples; the interval is
  for ``delta = metric(b) - metric(a)``. Two-sided p-value:
  ``p = min(1, 2 * min(#{δ* <= 0} + 1, #{δ* >= 0} + 1) / (B + 1))`` over the ``B``
  bootstrap differences ``δ*``: it is below ``alpha`` exactly when 0 lies outside the
  central ``1 - alpha`` percentile interval (up to the +1 that keeps it from being 0).
* :func:`paired_permutation`: under H0 the two runs are exchangeable on every example,
  so each permutation swaps A's and B's predictions on a random half of the examples;
  ``p = (1 + #{|δ_perm| >= |δ|}) / (1 + n_perm)``. For the AUC, which only sees the order
  of scores, the swapped values are each run's normalised midranks, so two models whose
  scores live on different scales (logits vs probabilities) can still be compared.

Resamples on which the metric is undefined (no positive example drawn, say) are dropped
and counted (``n_valid``); if fewer than 90% remain, a ``ValidationError`` says the
data are too small (for an AUC: a class with 2 examples or fewer). The same ``seed``
gives the same resamples and results.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ..errors import ValidationError
from . import _validate as v
from ._evaluators import Evaluator, MeanEvaluator
from ._metric_impls import IMPLS, Checked, Impl
from ._ranks import midranks
from ._records import Record
from ._resample import bca_interval, bootstrap_replicates, jackknife_values, percentile_interval
from ._types import FloatArray, Seed

__all__ = [
    "BootstrapMethod",
    "BootstrapResult",
    "PairedBootstrapResult",
    "PermutationResult",
    "bootstrap_ci",
    "paired_bootstrap",
    "paired_permutation",
]

BootstrapMethod = Literal["percentile", "bca"]
_MIN_RESAMPLES = 100
# fewer resamples with the metric defined than this fraction means too little data (for an
# AUC: a class with 2 examples or fewer, absent from e^-2 = 14% of the resamples)
_MIN_DEFINED = 0.9


@dataclass(frozen=True)
class BootstrapResult(Record):
    """A metric on one run with its bootstrap standard error and ``1 - alpha`` interval."""

    metric: str
    estimate: float
    se: float
    ci: tuple[float, float]
    alpha: float
    method: BootstrapMethod
    n_boot: int
    n_valid: int


@dataclass(frozen=True)
class PairedBootstrapResult(Record):
    """Two runs on the same resamples: ``delta = b - a``, its bootstrap standard error,
    ``1 - alpha`` interval and two-sided p-value (see the module docs)."""

    metric: str
    a: float
    b: float
    delta: float
    se: float
    ci: tuple[float, float]
    p_value: float
    alpha: float
    method: BootstrapMethod
    n_boot: int
    n_valid: int


@dataclass(frozen=True)
class PermutationResult(Record):
    """The observed ``delta = b - a`` and its two-sided permutation p-value."""

    metric: str
    a: float
    b: float
    delta: float
    p_value: float
    n_perm: int


def _impl(metric: str) -> Impl:
    impl = IMPLS.get(metric) if isinstance(metric, str) else None
    if impl is None:
        raise ValidationError(f"unknown metric {metric!r}; known: {', '.join(IMPLS)}")
    return impl


def _check_arm(impl: Impl, y_true: npt.ArrayLike, pred: npt.ArrayLike, arm: str) -> Checked:
    try:
        return impl.check(y_true, pred)
    except ValidationError as exc:
        raise ValidationError(f"{arm}: {exc.message}") from exc


def _check_pair(
    impl: Impl, y_true: npt.ArrayLike, pred_a: npt.ArrayLike, pred_b: npt.ArrayLike
) -> tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any]]:
    y, a = _check_arm(impl, y_true, pred_a, "pred_a")
    _, b = _check_arm(impl, y_true, pred_b, "pred_b")
    if a.shape != b.shape:
        raise ValidationError(f"pred_a has shape {a.shape} but pred_b has shape {b.shape}")
    return y, a, b


def _point(ev: Evaluator, n: int) -> float:
    return float(ev(np.ones((1, n)))[0])


def _valid(reps: FloatArray, n_boot: int) -> npt.NDArray[np.bool_]:
    ok: npt.NDArray[np.bool_] = np.asarray(np.isfinite(reps).all(axis=0))
    if int(ok.sum()) < _MIN_DEFINED * n_boot:
        raise ValidationError(
            f"the metric was undefined on {n_boot - int(ok.sum())} of {n_boot} resamples "
            "(too few examples of some class); the bootstrap needs more data"
        )
    return ok


def _interval(
    method: str,
    reps: FloatArray,
    estimate: float,
    alpha: float,
    jackknife: Callable[[], FloatArray],
) -> tuple[float, float]:
    if method == "percentile":
        return percentile_interval(reps, alpha)
    return bca_interval(reps, estimate, jackknife(), alpha)


def _check_common(n_boot: int, alpha: float, method: str) -> tuple[int, float]:
    if method not in ("percentile", "bca"):
        raise ValidationError(f"method must be 'percentile' or 'bca'; got {method!r}")
    return v.check_count(n_boot, "n_boot", _MIN_RESAMPLES), v.check_alpha(alpha)


def bootstrap_ci(
    metric: str,
    y_true: npt.ArrayLike,
    pred: npt.ArrayLike,
    n_boot: int = 2000,
    alpha: float = 0.05,
    seed: Seed = 0,
    method: BootstrapMethod = "percentile",
) -> BootstrapResult:
    """Bootstrap ``1 - alpha`` interval of ``metric`` on one run's predictions."""
    impl = _impl(metric)
    n_boot, alpha = _check_common(n_boot, alpha, method)
    rng = v.generator(seed)
    y, p = impl.check(y_true, pred)
    n = y.shape[0]
    ev = impl.build(y, p)
    estimate = _point(ev, n)
    reps = bootstrap_replicates([ev], n, n_boot, rng)
    ok = _valid(reps, n_boot)
    values = reps[0, ok]
    ci = _interval(method, values, estimate, alpha, lambda: jackknife_values([ev], n, rng)[0])
    se = float(values.std(ddof=1))
    return BootstrapResult(metric, estimate, se, ci, alpha, method, n_boot, int(ok.sum()))


def _bootstrap_p(deltas: FloatArray) -> float:
    b = deltas.size
    low = int(np.count_nonzero(deltas <= 0.0)) + 1
    high = int(np.count_nonzero(deltas >= 0.0)) + 1
    return min(1.0, 2.0 * min(low, high) / (b + 1))


def paired_bootstrap(
    metric: str,
    y_true: npt.ArrayLike,
    pred_a: npt.ArrayLike,
    pred_b: npt.ArrayLike,
    n_boot: int = 2000,
    alpha: float = 0.05,
    seed: Seed = 0,
    method: BootstrapMethod = "percentile",
) -> PairedBootstrapResult:
    """Paired bootstrap of ``delta = metric(pred_b) - metric(pred_a)`` on the same examples."""
    impl = _impl(metric)
    n_boot, alpha = _check_common(n_boot, alpha, method)
    rng = v.generator(seed)
    y, a, b = _check_pair(impl, y_true, pred_a, pred_b)
    n = y.shape[0]
    ev_a, ev_b = impl.build(y, a), impl.build(y, b)
    value_a, value_b = _point(ev_a, n), _point(ev_b, n)
    delta = value_b - value_a
    reps = bootstrap_replicates([ev_a, ev_b], n, n_boot, rng)
    ok = _valid(reps, n_boot)
    deltas = reps[1, ok] - reps[0, ok]

    def jackknife() -> FloatArray:
        jack = jackknife_values([ev_a, ev_b], n, rng)
        out: FloatArray = jack[1] - jack[0]
        return out

    ci = _interval(method, deltas, delta, alpha, jackknife)
    return PairedBootstrapResult(
        metric,
        value_a,
        value_b,
        delta,
        float(deltas.std(ddof=1)),
        ci,
        _bootstrap_p(deltas),
        alpha,
        method,
        n_boot,
        int(ok.sum()),
    )


def _ranks01(pred: npt.NDArray[Any]) -> FloatArray:
    n = pred.shape[0]
    ranks = midranks(pred) if pred.ndim == 1 else np.stack([midranks(c) for c in pred.T], 1)
    out: FloatArray = ranks / n
    return out


def _permuted_deltas(
    impl: Impl,
    y: npt.NDArray[Any],
    a: npt.NDArray[Any],
    b: npt.NDArray[Any],
    n_perm: int,
    rng: np.random.Generator,
) -> FloatArray:
    n = y.shape[0]
    ev_a, ev_b = impl.build(y, a), impl.build(y, b)
    if isinstance(ev_a, MeanEvaluator) and isinstance(ev_b, MeanEvaluator):
        # sums of per-example values: a swap moves an example's values to the other arm
        diff = ev_b.values - ev_a.values
        sum_a, sum_b = ev_a.values.sum(axis=0), ev_b.values.sum(axis=0)
        out = np.empty(n_perm)
        rows = max(1, (1 << 20) // n)
        for start in range(0, n_perm, rows):
            k = min(rows, n_perm - start)
            moved = (rng.random((k, n)) < 0.5).astype(np.float64) @ diff
            total = np.full(k, float(n))
            va = ev_a.finish(sum_a + moved, total)
            vb = ev_b.finish(sum_b - moved, total)
            out[start : start + k] = vb - va
        return out
    if impl.rank_based:
        a, b = _ranks01(a), _ranks01(b)
    ones = np.ones((1, n))
    out = np.empty(n_perm)
    for i in range(n_perm):
        swap: npt.NDArray[np.bool_] = np.asarray(rng.random(n) < 0.5)
        mask = swap[:, None] if a.ndim == 2 else swap
        pa, pb = np.where(mask, b, a), np.where(mask, a, b)
        out[i] = impl.build(y, pb)(ones)[0] - impl.build(y, pa)(ones)[0]
    return out


def paired_permutation(
    metric: str,
    y_true: npt.ArrayLike,
    pred_a: npt.ArrayLike,
    pred_b: npt.ArrayLike,
    n_perm: int = 2000,
    seed: Seed = 0,
) -> PermutationResult:
    """Two-sided paired permutation test of ``metric(pred_b) = metric(pred_a)``."""
    impl = _impl(metric)
    n_perm = v.check_count(n_perm, "n_perm", _MIN_RESAMPLES)
    rng = v.generator(seed)
    y, a, b = _check_pair(impl, y_true, pred_a, pred_b)
    n = y.shape[0]
    value_a, value_b = _point(impl.build(y, a), n), _point(impl.build(y, b), n)
    delta = value_b - value_a
    perms = _permuted_deltas(impl, y, a, b, n_perm, rng)
    perms = perms[np.asarray(np.isfinite(perms))]
    tol = 1e-12 * max(1.0, abs(delta))  # the identity permutation must count as extreme
    extreme = int(np.count_nonzero(np.abs(perms) >= abs(delta) - tol))
    p = (1 + extreme) / (1 + perms.size)
    return PermutationResult(metric, value_a, value_b, delta, p, n_perm)
