"""McNemar's test: do two classifiers have the same accuracy on the same examples?

Only the *discordant* examples carry information: ``b`` = A right and B wrong,
``c`` = A wrong and B right. Under H0 each discordant example is a fair coin, so
``b ~ Binomial(b + c, 1/2)``.

Methods (all two-sided):

* ``"exact"``: the exact binomial test, ``p = min(1, 2 P(X <= min(b, c)))``; equal to
  ``scipy.stats.binomtest(b, b + c, 0.5).pvalue``. Conservative (true size <= alpha).
* ``"midp"``: the mid-p variant, ``2 P(X < min(b, c)) + P(X = min(b, c))``: closer to
  nominal size, at the price of occasionally exceeding it. Available, not the default.
* ``"chi2"``: the chi-square test with continuity correction,
  ``stat = max(|b - c| - 1, 0)^2 / (b + c)`` on 1 degree of freedom (clamped at 0 so that
  ``b == c`` gives p = 1, as the exact test does).
* ``"auto"`` (default): ``"exact"`` when ``b + c < 25``, else ``"chi2"``.

``statistic`` is always the corrected chi-square value (0 when ``b + c == 0``, and then
``p_value`` is 1). The result also carries the accuracy difference ``delta = (c - b) / n``
(B minus A) with the Agresti-Min interval (a Wald interval after adding 1/2 to each of
the four cells, which keeps its coverage near nominal for small counts) and the plain
Wald standard error ``sqrt(b + c - (c - b)^2 / n) / n``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import special

from ..errors import ValidationError
from . import _validate as v
from ._records import Record

__all__ = ["EXACT_BELOW", "McNemarMethod", "McNemarResult", "mcnemar"]

McNemarMethod = Literal["auto", "exact", "midp", "chi2"]

#: ``method="auto"`` uses the exact test when there are fewer discordant pairs than this.
EXACT_BELOW = 25


@dataclass(frozen=True)
class McNemarResult(Record):
    """``b``: A right, B wrong; ``c``: A wrong, B right; ``n``: all examples."""

    b: int
    c: int
    n: int
    statistic: float
    p_value: float
    method: Literal["exact", "midp", "chi2"]
    delta: float
    se: float
    ci: tuple[float, float]
    alpha: float


def _bool_vector(x: npt.ArrayLike, what: str) -> npt.NDArray[np.bool_]:
    out: npt.NDArray[np.bool_] = v.binary_labels(x, what) == 1
    return out


def _binom_cdf(k: int, n: int) -> float:
    return float(special.bdtr(k, n, 0.5)) if k >= 0 else 0.0


def mcnemar(
    correct_a: npt.ArrayLike,
    correct_b: npt.ArrayLike,
    *,
    method: McNemarMethod = "auto",
    alpha: float = 0.05,
) -> McNemarResult:
    """McNemar's test on two correctness vectors (bools or 0/1, one entry per example)."""
    if method not in ("auto", "exact", "midp", "chi2"):
        raise ValidationError(f"method must be auto, exact, midp or chi2; got {method!r}")
    alpha = v.check_alpha(alpha)
    a = _bool_vector(correct_a, "correct_a")
    b_ok = _bool_vector(correct_b, "correct_b")
    n = v.same_length(("correct_a", a), ("correct_b", b_ok))
    b = int(np.count_nonzero(a & ~b_ok))
    c = int(np.count_nonzero(~a & b_ok))
    d = b + c
    chosen: Literal["exact", "midp", "chi2"]
    chosen = ("exact" if d < EXACT_BELOW else "chi2") if method == "auto" else method
    stat = max(abs(b - c) - 1, 0) ** 2 / d if d else 0.0
    if d == 0:
        p = 1.0
    elif chosen == "chi2":
        p = float(special.chdtrc(1, stat))
    else:
        k = min(b, c)
        p = 2.0 * _binom_cdf(k, d)
        if chosen == "midp":
            p -= _binom_cdf(k, d) - _binom_cdf(k - 1, d)
        p = min(1.0, p)
    delta = (c - b) / n
    se = math.sqrt(max(d - (c - b) ** 2 / n, 0.0)) / n
    return McNemarResult(b, c, n, stat, p, chosen, delta, se, _agresti_min(b, c, n, alpha), alpha)


def _agresti_min(b: int, c: int, n: int, alpha: float) -> tuple[float, float]:
    bb, cc, nn = b + 0.5, c + 0.5, n + 2.0
    centre = (cc - bb) / nn
    se = math.sqrt(max(bb + cc - (cc - bb) ** 2 / nn, 0.0)) / nn
    half = float(special.ndtri(1.0 - alpha / 2.0)) * se
    return (max(-1.0, centre - half), min(1.0, centre + half))
