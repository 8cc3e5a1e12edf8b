"""Holm-adjusted p-values, effect sizes and the sample-size calculation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from runtrack.errors import ValidationError
from runtrack.stats import auc_difference, cohens_h, holm, needed_n, paired_cohens_d


def test_holm_hand_checked_example() -> None:
    # sorted: 0.005 x4 = 0.02; 0.01 x3 = 0.03; 0.03 x2 = 0.06; 0.04 x1 = 0.04 -> max(0.06)
    got = holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(got, [0.03, 0.06, 0.06, 0.02], rtol=1e-12)


def test_holm_caps_at_one_and_keeps_order() -> None:
    got = holm([0.5, 0.2, 0.9, 0.01, 0.2])
    np.testing.assert_allclose(got, [1.0, 0.8, 1.0, 0.05, 0.8])
    rng = np.random.default_rng(0)
    p = rng.random(50) ** 3
    adj = holm(p)
    order = np.argsort(p)
    assert np.all(np.diff(adj[order]) >= 0) and np.all(adj >= p) and np.all(adj <= 1)
    assert holm([0.02]).tolist() == [0.02] and holm([]).size == 0


def test_holm_rejects_what_is_not_a_p_value() -> None:
    for bad in ([0.1, 1.2], [float("nan")], [[0.1, 0.2]], ["a"]):
        with pytest.raises(ValidationError, match="p_values"):
            holm(bad)


def test_needed_n_formula_and_scaling() -> None:
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    se, n = 0.002, 2000
    assert needed_n(se, n, 0.004) == math.ceil(n * (z * se / 0.004) ** 2)
    # se scales as 1/sqrt(n): halving the difference quadruples the examples needed
    base = needed_n(se, n, 0.004)
    assert needed_n(se, n, 0.002) == pytest.approx(4 * base, abs=4)
    assert needed_n(se, n, 0.001) == pytest.approx(16 * base, abs=16)
    # the observed se at n is the se of any other n scaled: the answer does not change
    assert needed_n(se / 2, 4 * n, 0.004) == pytest.approx(base, abs=1)
    assert needed_n(se, n, -0.004) == base
    assert needed_n(se, n, 0.004, power=0.9) > base and needed_n(se, n, 0.004, alpha=0.2) < base


def test_needed_n_errors() -> None:
    with pytest.raises(ValidationError, match="delta must be non-zero"):
        needed_n(0.01, 100, 0.0)
    with pytest.raises(ValidationError, match="se_observed must be positive"):
        needed_n(0.0, 100, 0.01)
    with pytest.raises(ValidationError, match="power"):
        needed_n(0.01, 100, 0.01, power=1.0)
    with pytest.raises(ValidationError, match="n_observed"):
        needed_n(0.01, 0, 0.01)


def test_effect_sizes() -> None:
    assert auc_difference(0.8, 0.83) == pytest.approx(0.03)
    assert cohens_h(0.5, 0.75) == pytest.approx(2 * math.asin(math.sqrt(0.75)) - math.pi / 2)
    assert cohens_h(0.9, 0.9) == 0.0 and cohens_h(0.75, 0.5) < 0
    loss_a = np.array([1.0, 2.0, 3.0, 4.0])
    loss_b = np.array([1.5, 2.1, 3.9, 4.2])
    d = loss_b - loss_a
    assert paired_cohens_d(loss_a, loss_b) == pytest.approx(d.mean() / d.std(ddof=1))
    assert paired_cohens_d(loss_a, loss_a) == 0.0
    assert paired_cohens_d(loss_a, loss_a + 1) == math.inf
    with pytest.raises(ValidationError, match="in \\[0, 1\\]"):
        cohens_h(0.5, 1.5)
    with pytest.raises(ValidationError, match="lengths differ"):
        paired_cohens_d(loss_a, loss_b[:3])
