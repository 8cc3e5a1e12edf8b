"""Repeats: runs of the same configuration with different seeds.

A metric measured on one run mixes the model's quality with the luck of its seed. With
several repeats the seed-to-seed spread can be estimated: :func:`summarize_repeats`
gives the mean, the standard deviation (ddof=1) and a Student-t interval for the mean
(``mean ± t_{1-alpha/2, n-1} · std / sqrt(n)``); :func:`welch_test` compares two groups of
repeats with Welch's unequal-variance t-test (Welch-Satterthwaite degrees of freedom).

With a single repeat in a group the seed variance is unknown: no interval, no test, and
the ``note`` says so (instead of silently treating one run as the truth).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy.typing as npt
from scipy import special

from . import _validate as v
from ._records import Record

__all__ = ["RepeatSummary", "WelchResult", "summarize_repeats", "welch_test"]


@dataclass(frozen=True)
class RepeatSummary(Record):
    """Mean over ``n`` repeats; ``std`` and ``ci`` are ``None`` (in JSON) for one repeat."""

    n: int
    mean: float
    std: float
    ci: tuple[float, float] | None
    alpha: float
    note: str


@dataclass(frozen=True)
class WelchResult(Record):
    """Welch's t-test of ``mean_b - mean_a``; ``t``, ``df``, ``p_value`` and ``ci`` are
    ``None`` (in JSON) when a group has a single repeat."""

    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    delta: float
    se: float
    df: float
    t: float
    p_value: float
    ci: tuple[float, float] | None
    alpha: float
    note: str


def _t_quantile(q: float, df: float) -> float:
    return float(special.stdtrit(df, q))


def summarize_repeats(values: npt.ArrayLike, alpha: float = 0.05) -> RepeatSummary:
    """Mean, std and t-based ``1 - alpha`` interval of one metric over a group of repeats."""
    alpha = v.check_alpha(alpha)
    x = v.finite_values(values, "values")
    n = x.size
    mean = float(x.mean())
    if n == 1:
        return RepeatSummary(1, mean, math.nan, None, alpha, _single("the group"))
    std = float(x.std(ddof=1))
    half = _t_quantile(1.0 - alpha / 2.0, n - 1) * std / math.sqrt(n)
    level = f"{100 * (1 - alpha):g}%"
    note = f"{n} repeats; {level} t-interval over seeds"
    return RepeatSummary(n, mean, std, (mean - half, mean + half), alpha, note)


def _single(who: str) -> str:
    return f"{who} has a single repeat: seed variance is unknown"


def welch_test(
    values_a: npt.ArrayLike, values_b: npt.ArrayLike, alpha: float = 0.05
) -> WelchResult:
    """Welch's two-sided t-test between two groups of repeats (H0: equal means)."""
    alpha = v.check_alpha(alpha)
    a = v.finite_values(values_a, "values_a")
    b = v.finite_values(values_b, "values_b")
    mean_a, mean_b = float(a.mean()), float(b.mean())
    delta = mean_b - mean_a
    nan = math.nan
    if a.size < 2 or b.size < 2:
        who = " and ".join(g for g, x in (("A", a), ("B", b)) if x.size < 2)
        each = "each have" if " and " in who else "has"
        note = (
            f"{who} {each} a single repeat: seed variance is unknown, so the difference "
            "between the groups cannot be tested; run more seeds"
        )
        return WelchResult(
            a.size, b.size, mean_a, mean_b, delta, nan, nan, nan, nan, None, alpha, note
        )
    va, vb = float(a.var(ddof=1)) / a.size, float(b.var(ddof=1)) / b.size
    se = math.sqrt(va + vb)
    note = (
        f"both groups have at least 2 repeats ({a.size} and {b.size}): "
        "the test accounts for seed variance"
    )
    if se == 0.0:  # every repeat identical within each group
        t = 0.0 if delta == 0.0 else math.copysign(math.inf, delta)
        p = 1.0 if delta == 0.0 else 0.0
        ci = (delta, delta)
        return WelchResult(a.size, b.size, mean_a, mean_b, delta, 0.0, nan, t, p, ci, alpha, note)
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    t = delta / se
    p = float(2.0 * special.stdtr(df, -abs(t)))
    half = _t_quantile(1.0 - alpha / 2.0, df) * se
    ci = (delta - half, delta + half)
    return WelchResult(a.size, b.size, mean_a, mean_b, delta, se, df, t, p, ci, alpha, note)
