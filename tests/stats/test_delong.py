"""Fast DeLong against a straightforward O(n^2) computation written out here."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from runtrack.stats import delong_auc, delong_covariance, delong_paired


def _psi(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The Mann-Whitney kernel for every (positive, negative) pair: 1, 1/2 or 0."""
    out: np.ndarray = (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])
    return out


def _reference(labels: np.ndarray, scores: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """DeLong (1988) directly: structural components V10 (per positive) and V01 (per
    negative), their covariance across score vectors, S10 / m + S01 / n."""
    pos, neg = labels == 1, labels == 0
    m, n = int(pos.sum()), int(neg.sum())
    k = len(scores)
    aucs = np.empty(k)
    v10 = np.empty((k, m))
    v01 = np.empty((k, n))
    for r, s in enumerate(scores):
        psi = _psi(s[pos], s[neg])
        aucs[r] = psi.sum() / (m * n)
        v10[r] = psi.sum(axis=1) / n
        v01[r] = psi.sum(axis=0) / m
    s10 = np.empty((k, k))
    s01 = np.empty((k, k))
    for r in range(k):
        for q in range(k):
            s10[r, q] = np.sum((v10[r] - aucs[r]) * (v10[q] - aucs[q])) / (m - 1)
            s01[r, q] = np.sum((v01[r] - aucs[r]) * (v01[q] - aucs[q])) / (n - 1)
    return aucs, s10 / m + s01 / n


def _dataset(seed: int, n: int, decimals: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < rng.uniform(0.1, 0.6)).astype(np.int64)
    y[:2], y[2:4] = 1, 0
    shared = rng.normal(size=n) + y
    a = np.round(shared + rng.normal(size=n) * 0.8, decimals)
    b = np.round(shared + rng.normal(size=n) * 0.6 + 0.2 * y, decimals)
    return y, a, b


DATASETS = [(0, 40, 1), (1, 150, 1), (2, 300, 2), (3, 500, 0), (4, 997, 3), (5, 64, 0)]


@pytest.mark.parametrize(("seed", "n", "decimals"), DATASETS)
def test_fast_delong_equals_quadratic_reference(seed: int, n: int, decimals: int) -> None:
    y, a, b = _dataset(seed, n, decimals)
    assert len(np.unique(a)) < n  # ties within and across the classes
    ref_aucs, ref_cov = _reference(y, [a, b])
    aucs, cov = delong_covariance(y, [a, b])
    np.testing.assert_allclose(aucs, ref_aucs, rtol=0, atol=1e-10)
    np.testing.assert_allclose(cov, ref_cov, rtol=0, atol=1e-10)
    np.testing.assert_allclose(cov, cov.T, rtol=0, atol=0)

    single = delong_auc(y, a)
    assert single.auc == pytest.approx(ref_aucs[0], abs=1e-10)
    assert single.variance == pytest.approx(ref_cov[0, 0], abs=1e-10)
    assert single.auc == pytest.approx(roc_auc_score(y, a), abs=1e-12)

    paired = delong_paired(y, a, b)
    ref_var = ref_cov[0, 0] + ref_cov[1, 1] - 2 * ref_cov[0, 1]
    ref_z = (ref_aucs[1] - ref_aucs[0]) / math.sqrt(ref_var)
    ref_p = 2 * stats.norm.sf(abs(ref_z))
    assert (paired.a, paired.b) == pytest.approx(tuple(ref_aucs), abs=1e-10)
    assert paired.delta == pytest.approx(ref_aucs[1] - ref_aucs[0], abs=1e-10)
    assert paired.se**2 == pytest.approx(ref_var, abs=1e-10)
    assert paired.z == pytest.approx(ref_z, abs=1e-8)
    assert paired.p_value == pytest.approx(ref_p, abs=1e-10)
    half = stats.norm.ppf(0.975) * math.sqrt(ref_var)
    assert paired.ci == pytest.approx((paired.delta - half, paired.delta + half), abs=1e-10)


def test_three_score_vectors() -> None:
    y, a, b = _dataset(9, 200, 1)
    c = np.round(a * 0.5 + b * 0.5, 1)
    ref_aucs, ref_cov = _reference(y, [a, b, c])
    aucs, cov = delong_covariance(y, [a, b, c])
    np.testing.assert_allclose(aucs, ref_aucs, atol=1e-10, rtol=0)
    np.testing.assert_allclose(cov, ref_cov, atol=1e-10, rtol=0)


def test_auc_interval() -> None:
    y, a, _ = _dataset(2, 300, 2)
    res = delong_auc(y, a, alpha=0.1)
    half = stats.norm.ppf(0.95) * res.se
    assert res.ci == pytest.approx((res.auc - half, res.auc + half))
    assert res.n_pos + res.n_neg == 300 and res.n_pos == int(y.sum())
    perfect = delong_auc([0, 0, 0, 1, 1, 1], [0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    assert perfect.auc == 1.0 and perfect.ci == (1.0, 1.0)  # clipped to [0, 1]


def test_identical_scores_are_not_different() -> None:
    y, a, _ = _dataset(1, 150, 1)
    res = delong_paired(y, a, a.copy())
    assert res.delta == 0.0 and res.se == 0.0 and res.z == 0.0 and res.p_value == 1.0


def test_paired_is_antisymmetric() -> None:
    y, a, b = _dataset(4, 400, 2)
    ab, ba = delong_paired(y, a, b), delong_paired(y, b, a)
    assert ab.delta == pytest.approx(-ba.delta) and ab.p_value == pytest.approx(ba.p_value)
    assert ab.to_json()["ci"] == list(ab.ci)
