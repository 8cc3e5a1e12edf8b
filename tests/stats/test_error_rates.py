"""The tests and intervals keep their promises, checked by simulation.

Every simulation uses fixed seeds, so a run is deterministic; the acceptance bands are
wide enough (about 3 binomial standard errors) that a correct method passes for almost
any seed, and narrow enough to catch a wrong variance or p-value definition.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from runtrack.stats import (
    bootstrap_ci,
    delong_paired,
    mcnemar,
    paired_bootstrap,
    paired_permutation,
)

ALPHA = 0.05


def _pair(
    rng: np.random.Generator, n: int, shift: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two correlated models scoring the same examples; ``shift`` plants an advantage for
    B (0: both scores drawn from the same model)."""
    y = (rng.random(n) < 0.5).astype(np.int64)
    shared = rng.normal(size=n) + y
    a = shared + 0.7 * rng.normal(size=n)
    b = shared + 0.7 * rng.normal(size=n) + shift * y
    return y, a, b


def _binormal(rng: np.random.Generator, n: int, mu: float) -> tuple[np.ndarray, np.ndarray]:
    y = (rng.random(n) < 0.5).astype(np.int64)
    return y, rng.normal(size=n) + mu * y


def test_delong_false_positive_rate() -> None:
    """1,000 repetitions without an effect (n=200): rejections at alpha=0.05 in 2-9%."""
    rng = np.random.default_rng(2024)
    rejections = [delong_paired(*_pair(rng, 200)).p_value < ALPHA for _ in range(1000)]
    assert 0.02 <= np.mean(rejections) <= 0.09, np.mean(rejections)


def test_paired_bootstrap_false_positive_rate() -> None:
    """400 repetitions without an effect (n=200, 400 resamples each): 2-9% rejections."""
    rng = np.random.default_rng(7)
    p = [paired_bootstrap("auc", *_pair(rng, 200), n_boot=400, seed=i).p_value for i in range(400)]
    assert 0.02 <= np.mean(np.array(p) < ALPHA) <= 0.09, np.mean(np.array(p) < ALPHA)


def test_permutation_false_positive_rate() -> None:
    """400 repetitions without an effect on log loss (n=200, 400 permutations): 2-9%."""
    rng = np.random.default_rng(11)
    rejected = []
    for i in range(400):
        y, a, b = _pair(rng, 200)
        prob_a, prob_b = 1 / (1 + np.exp(-(a - 0.5))), 1 / (1 + np.exp(-(b - 0.5)))
        res = paired_permutation("logloss", y, prob_a, prob_b, n_perm=400, seed=i)
        rejected.append(res.p_value < ALPHA)
    assert 0.02 <= np.mean(rejected) <= 0.09, np.mean(rejected)


def test_mcnemar_false_positive_rate_is_at_most_nominal() -> None:
    """1,000 repetitions of two equally accurate classifiers (n=300): the exact/chi-square
    test is conservative, so 1-7% rejections."""
    rng = np.random.default_rng(3)
    rejected = []
    for _ in range(1000):
        shared = rng.random(300)
        correct_a = shared + 0.3 * rng.random(300) > 0.5
        correct_b = shared + 0.3 * rng.random(300) > 0.5
        rejected.append(mcnemar(correct_a, correct_b).p_value < ALPHA)
    assert 0.01 <= np.mean(rejected) <= 0.07, np.mean(rejected)


def test_planted_effect_is_detected() -> None:
    """100 repetitions with B better (AUC +0.076 at n=400, ~95% power): both tests detect
    it in at least 85% of them, and in the right direction."""
    rng = np.random.default_rng(5)
    delong_hits, boot_hits = [], []
    for i in range(100):
        y, a, b = _pair(rng, 400, shift=0.4)
        d = delong_paired(y, a, b)
        delong_hits.append(d.p_value < ALPHA and d.delta > 0)
        res = paired_bootstrap("auc", y, a, b, n_boot=400, seed=i)
        boot_hits.append(res.p_value < ALPHA and res.delta > 0)
    assert np.mean(delong_hits) >= 0.85 and np.mean(boot_hits) >= 0.85


def _coverage(method: str, datasets: int, n: int, n_boot: int, seed: int) -> float:
    mu = 1.0
    true_auc = stats.norm.cdf(mu / np.sqrt(2))
    rng = np.random.default_rng(seed)
    covered = 0
    for i in range(datasets):
        y, s = _binormal(rng, n, mu)
        lo, hi = bootstrap_ci("auc", y, s, n_boot=n_boot, seed=i, method=method).ci  # type: ignore[arg-type]
        covered += lo <= true_auc <= hi
    return covered / datasets


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_bootstrap_auc_interval_coverage(method: str) -> None:
    """200 binormal datasets (n=150, true AUC = Phi(1/sqrt 2) = 0.760): the 95% interval
    covers the true AUC in 90-99% of them."""
    coverage = _coverage(method, datasets=200, n=150, n_boot=400, seed=1)
    assert 0.90 <= coverage <= 0.99, coverage


def test_bootstrap_mean_interval_coverage() -> None:
    """200 datasets of exponential errors (n=100, true MAE 1): 95% interval covers 1 in
    90-99% (a skewed statistic: the percentile interval runs slightly short)."""
    rng = np.random.default_rng(8)
    covered = 0
    for i in range(200):
        err = rng.exponential(size=100)
        lo, hi = bootstrap_ci("mae", np.zeros(100), err, n_boot=400, seed=i).ci
        covered += lo <= 1.0 <= hi
    assert 0.90 <= covered / 200 <= 0.99, covered / 200


@pytest.mark.slow
@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_bootstrap_auc_interval_coverage_precise(method: str) -> None:
    """1,000 datasets (n=300, 1,000 resamples): coverage within 92.5-97%."""
    coverage = _coverage(method, datasets=1000, n=300, n_boot=1000, seed=2)
    assert 0.925 <= coverage <= 0.97, coverage


@pytest.mark.slow
def test_false_positive_rates_precise() -> None:
    """4,000 DeLong and 1,000 paired-bootstrap repetitions without an effect: 4-6.5%."""
    rng = np.random.default_rng(99)
    delong = np.mean([delong_paired(*_pair(rng, 300)).p_value < ALPHA for _ in range(4000)])
    boot = np.mean(
        [
            paired_bootstrap("auc", *_pair(rng, 300), n_boot=1000, seed=i).p_value < ALPHA
            for i in range(1000)
        ]
    )
    assert 0.04 <= delong <= 0.065 and 0.035 <= boot <= 0.07, (delong, boot)
