"""Effect sizes, and how many examples a comparison would need.

Effect sizes (all signed as ``b`` minus ``a``):

* :func:`auc_difference`: AUC is already on an interpretable scale, so the effect is
  the difference itself.
* :func:`cohens_h`: for two accuracies (proportions),
  ``h = 2 asin(sqrt(p_b)) - 2 asin(sqrt(p_a))``; |h| of 0.2 / 0.5 / 0.8 is
  conventionally small / medium / large.
* :func:`paired_cohens_d`: for per-example losses of two runs on the same examples,
  ``d = mean(loss_b - loss_a) / std(loss_b - loss_a)`` (ddof=1), the paired ("d_z")
  standardisation.

Sample size: a paired difference estimated on ``n`` examples has a standard error that
shrinks as ``1 / sqrt(n)``. From the standard error observed on ``n_observed`` examples,
a two-sided test at level ``alpha`` detects a true difference ``delta`` with probability
``power`` once ``(z_{1-alpha/2} + z_{power}) · se(n) <= |delta|``, i.e. at
``n = n_observed · ((z_{1-alpha/2} + z_{power}) · se_observed / delta)^2`` (rounded up).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy import special

from ..errors import ValidationError
from . import _validate as v

__all__ = ["auc_difference", "cohens_h", "needed_n", "paired_cohens_d"]


def _finite(x: float, what: str) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float | np.floating | np.integer):
        raise ValidationError(f"{what} must be a number; got {x!r}")
    if not math.isfinite(float(x)):
        raise ValidationError(f"{what} must be finite; got {x!r}")
    return float(x)


def _unit(x: float, what: str) -> float:
    value = _finite(x, what)
    if not 0.0 <= value <= 1.0:
        raise ValidationError(f"{what} must be in [0, 1]; got {x!r}")
    return value


def auc_difference(auc_a: float, auc_b: float) -> float:
    """``auc_b - auc_a``."""
    return _unit(auc_b, "auc_b") - _unit(auc_a, "auc_a")


def cohens_h(p_a: float, p_b: float) -> float:
    """Cohen's h between two proportions (e.g. accuracies), ``b`` minus ``a``."""
    return 2.0 * math.asin(math.sqrt(_unit(p_b, "p_b"))) - 2.0 * math.asin(
        math.sqrt(_unit(p_a, "p_a"))
    )


def paired_cohens_d(loss_a: npt.ArrayLike, loss_b: npt.ArrayLike) -> float:
    """Paired Cohen's d of per-example losses: ``mean(loss_b - loss_a) / std(...)``.

    Positive means B has the larger loss. With no spread in the differences the result
    is 0 if they are all 0, else an infinity of their sign. Needs at least 2 examples.
    """
    a = v.finite_values(loss_a, "loss_a")
    b = v.finite_values(loss_b, "loss_b")
    n = v.same_length(("loss_a", a), ("loss_b", b))
    if n < 2:
        raise ValidationError("paired Cohen's d needs at least 2 examples")
    d = b - a
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    if sd == 0.0:
        return 0.0 if mean == 0.0 else math.copysign(math.inf, mean)
    return mean / sd


def needed_n(
    se_observed: float,
    n_observed: int,
    delta: float,
    alpha: float = 0.05,
    power: float = 0.8,
) -> int:
    """Examples needed to detect a true difference ``delta`` with probability ``power``
    in a two-sided test at level ``alpha``, given the paired standard error
    ``se_observed`` measured on ``n_observed`` examples."""
    se = _finite(se_observed, "se_observed")
    if se <= 0.0:
        raise ValidationError(f"se_observed must be positive; got {se_observed!r}")
    n_obs = v.check_count(n_observed, "n_observed", minimum=1)
    effect = abs(_finite(delta, "delta"))
    if effect == 0.0:
        raise ValidationError("delta must be non-zero: no sample size detects no difference")
    alpha = v.check_alpha(alpha)
    power = v.check_fraction(power, "power")
    z = float(special.ndtri(1.0 - alpha / 2.0)) + float(special.ndtri(power))
    return max(1, math.ceil(n_obs * (z * se / effect) ** 2 - 1e-9))
