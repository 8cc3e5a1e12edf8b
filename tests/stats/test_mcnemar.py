"""McNemar's test against scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from runtrack.stats import mcnemar


def _vectors(b: int, c: int, both_right: int = 7, both_wrong: int = 3) -> tuple[list[int], ...]:
    a = [1] * b + [0] * c + [1] * both_right + [0] * both_wrong
    bb = [0] * b + [1] * c + [1] * both_right + [0] * both_wrong
    return a, bb


GRID = [(b, c) for b in range(0, 31, 3) for c in range(0, 31, 4) if b + c > 0]


@pytest.mark.parametrize(("b", "c"), GRID)
def test_exact_equals_scipy_binomtest(b: int, c: int) -> None:
    res = mcnemar(*_vectors(b, c), method="exact")
    assert (res.b, res.c, res.method) == (b, c, "exact")
    assert res.p_value == pytest.approx(stats.binomtest(b, b + c, 0.5).pvalue, rel=1e-10)


@pytest.mark.parametrize(("b", "c"), GRID)
def test_chi2_equals_scipy_with_continuity_correction(b: int, c: int) -> None:
    res = mcnemar(*_vectors(b, c), method="chi2")
    stat = max(abs(b - c) - 1, 0) ** 2 / (b + c)
    assert res.statistic == pytest.approx(stat, rel=1e-12)
    assert res.p_value == pytest.approx(stats.chi2.sf(stat, 1), rel=1e-10)


@pytest.mark.parametrize(("b", "c"), GRID)
def test_midp(b: int, c: int) -> None:
    k, n = min(b, c), b + c
    expected = min(1.0, 2 * stats.binom.cdf(k, n, 0.5) - stats.binom.pmf(k, n, 0.5))
    assert mcnemar(*_vectors(b, c), method="midp").p_value == pytest.approx(expected, rel=1e-10)


def test_auto_is_exact_below_25_discordant_pairs() -> None:
    assert mcnemar(*_vectors(10, 14)).method == "exact"
    res = mcnemar(*_vectors(10, 15))
    assert res.method == "chi2"
    assert res.p_value == pytest.approx(stats.chi2.sf(16 / 25, 1))


def test_no_discordant_pairs() -> None:
    res = mcnemar([1, 0, 1], [1, 0, 1])
    assert (res.b, res.c, res.statistic, res.p_value, res.delta) == (0, 0, 0.0, 1.0, 0.0)


def test_counts_and_difference_from_bools() -> None:
    rng = np.random.default_rng(0)
    a = rng.random(500) < 0.7
    b = rng.random(500) < 0.75
    res = mcnemar(a, b)
    assert res.b == int(np.sum(a & ~b)) and res.c == int(np.sum(~a & b)) and res.n == 500
    assert res.delta == pytest.approx(b.mean() - a.mean())
    lo, hi = res.ci
    assert lo < res.delta < hi
    # Agresti-Min: a Wald interval after adding 1/2 to each of the four cells
    bb, cc, n = res.b + 0.5, res.c + 0.5, 502
    se = np.sqrt(bb + cc - (cc - bb) ** 2 / n) / n
    centre = (cc - bb) / n
    z = 1.959963984540054
    assert res.ci == pytest.approx((centre - z * se, centre + z * se))
    assert res.to_json()["method"] == "chi2"
