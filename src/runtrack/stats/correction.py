"""Multiple comparisons: Holm-Bonferroni adjusted p-values.

Comparing many runs pairwise multiplies the chances of a fluke. Holm's step-down method
controls the family-wise error rate (the chance of *any* false "better") at ``alpha``
under any dependence between the tests, and is uniformly more powerful than Bonferroni.

For ``m`` p-values sorted ascending, ``p_(1) <= ... <= p_(m)``, the adjusted values are
``p~_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``: monotone in the raw p-values and
capped at 1. Rejecting where ``p~ < alpha`` is Holm's procedure.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ..errors import ValidationError
from ._types import FloatArray

__all__ = ["holm"]


def holm(p_values: npt.ArrayLike) -> FloatArray:
    """Holm-adjusted p-values, in the order given (an empty input gives an empty array)."""
    try:
        p = np.asarray(p_values, dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"p_values must be numbers: {exc}") from exc
    if p.ndim != 1:
        raise ValidationError(f"p_values must be a 1-D sequence; got shape {p.shape}")
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValidationError("p_values must all be in [0, 1] (no NaN)")
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.maximum.accumulate(scaled)
    return out
