"""Groups of repeated runs: t intervals and Welch's test against scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from runtrack.stats import summarize_repeats, welch_test


def test_summary_equals_scipy_t_interval() -> None:
    values = [0.912, 0.905, 0.921, 0.899, 0.915]
    res = summarize_repeats(values, alpha=0.1)
    lo, hi = stats.t.interval(0.9, 4, loc=np.mean(values), scale=stats.sem(values))
    assert res.mean == pytest.approx(np.mean(values))
    assert res.std == pytest.approx(np.std(values, ddof=1))
    assert res.ci == pytest.approx((lo, hi))
    assert res.n == 5 and "5 repeats" in res.note


def test_single_repeat_has_unknown_seed_variance() -> None:
    res = summarize_repeats([0.91])
    assert res.mean == 0.91 and math.isnan(res.std) and res.ci is None
    assert "seed variance is unknown" in res.note
    assert res.to_json()["std"] is None


@pytest.mark.parametrize(
    ("a", "b"),
    [([0.90, 0.91, 0.92], [0.93, 0.94]), ([1.0, 2.0, 4.0, 8.0], [3.0, 3.5, 2.5, 9.0, 1.0])],
)
def test_welch_equals_scipy(a: list[float], b: list[float]) -> None:
    res = welch_test(a, b)
    ref = stats.ttest_ind(b, a, equal_var=False)
    assert res.t == pytest.approx(ref.statistic)
    assert res.p_value == pytest.approx(ref.pvalue)
    assert res.df == pytest.approx(ref.df)
    ci = ref.confidence_interval(0.95)
    assert res.ci == pytest.approx((ci.low, ci.high))
    assert res.delta == pytest.approx(np.mean(b) - np.mean(a))
    assert "both groups have at least 2 repeats" in res.note


def test_welch_with_a_single_repeat_says_seed_variance_is_unknown() -> None:
    res = welch_test([0.90, 0.91, 0.92], [0.95])
    assert math.isnan(res.p_value) and res.ci is None
    assert res.note.startswith("B has a single repeat: seed variance is unknown")
    both = welch_test([0.9], [0.95])
    assert both.note.startswith("A and B each have a single repeat")
    assert both.to_json()["p_value"] is None and both.delta == pytest.approx(0.05)


def test_welch_without_spread() -> None:
    same = welch_test([0.9, 0.9], [0.9, 0.9])
    assert same.p_value == 1.0 and same.t == 0.0
    apart = welch_test([0.9, 0.9], [0.95, 0.95])
    assert apart.p_value == 0.0 and apart.t == math.inf and apart.to_json()["t"] is None
