"""Bootstrap intervals, the paired bootstrap and the permutation test."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy import stats

from runtrack.errors import ValidationError
from runtrack.stats import (
    METRICS,
    accuracy,
    bootstrap_ci,
    delong_auc,
    log_loss,
    mae,
    paired_bootstrap,
    paired_permutation,
    roc_auc,
)


def _scores(seed: int, n: int, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(np.int64)
    shared = rng.normal(size=n) + y
    a = shared + rng.normal(size=n)
    b = shared + rng.normal(size=n) + shift * y
    return y, a, b


def test_same_seed_same_result_other_seed_other_resamples() -> None:
    y, a, _ = _scores(0, 300)
    first = bootstrap_ci("auc", y, a, n_boot=300, seed=7)
    assert bootstrap_ci("auc", y, a, n_boot=300, seed=7) == first
    assert bootstrap_ci("auc", y, a, n_boot=300, seed=8).ci != first.ci
    gen = np.random.default_rng(7)
    assert bootstrap_ci("auc", y, a, n_boot=300, seed=gen).ci == first.ci


def test_bootstrap_result_fields() -> None:
    y, a, _ = _scores(1, 400)
    res = bootstrap_ci("auc", y, a, n_boot=500, alpha=0.1)
    assert res.estimate == roc_auc(y, a)
    assert res.ci[0] < res.estimate < res.ci[1]
    assert (res.metric, res.method, res.alpha) == ("auc", "percentile", 0.1)
    assert res.n_boot == res.n_valid == 500
    # the bootstrap se of an AUC is close to DeLong's
    assert res.se == pytest.approx(delong_auc(y, a).se, rel=0.15)
    fields = "metric estimate se ci alpha method n_boot n_valid"
    assert list(res.to_json()) == fields.split()


def test_percentile_interval_is_the_quantiles_of_the_replicates() -> None:
    """Rebuild the resamples by hand from the same seed: same replicates, same interval."""
    rng = np.random.default_rng(3)
    y = np.zeros(50)
    pred = rng.exponential(size=50)
    res = bootstrap_ci("mae", y, pred, n_boot=200, seed=5)
    draws = np.random.default_rng(5).integers(0, 50, size=(200, 50))
    reps = np.array([mae(y[d], pred[d]) for d in draws])
    assert res.ci == pytest.approx(tuple(np.quantile(reps, [0.025, 0.975])), abs=1e-12)
    assert res.se == pytest.approx(reps.std(ddof=1), abs=1e-12)


def test_bca_agrees_with_scipy_on_a_skewed_mean() -> None:
    rng = np.random.default_rng(4)
    pred = rng.lognormal(sigma=1.0, size=200)
    y = np.zeros(200)
    ours = bootstrap_ci("mae", y, pred, n_boot=8000, method="bca", seed=1)
    ref = stats.bootstrap(
        (pred,), np.mean, n_resamples=8000, method="BCa", random_state=np.random.default_rng(2)
    ).confidence_interval
    width = ref.high - ref.low
    assert ours.ci[0] == pytest.approx(ref.low, abs=0.05 * width)
    assert ours.ci[1] == pytest.approx(ref.high, abs=0.05 * width)
    pct = bootstrap_ci("mae", y, pred, n_boot=8000, seed=1)
    assert ours.ci[1] > pct.ci[1]  # BCa moves a right-skewed mean's interval right


def test_bca_with_grouped_jackknife_on_many_examples() -> None:
    y, a, _ = _scores(5, 3000)
    pct = bootstrap_ci("auc", y, a, n_boot=400, seed=0)
    bca = bootstrap_ci("auc", y, a, n_boot=400, seed=0, method="bca")
    assert bca.method == "bca" and bca.ci[0] < bca.estimate < bca.ci[1]
    assert bca.ci == pytest.approx(pct.ci, abs=0.3 * (pct.ci[1] - pct.ci[0]))


def test_undefined_resamples_are_dropped_or_refused() -> None:
    rng = np.random.default_rng(0)
    y = np.zeros(100, dtype=np.int64)
    y[:4] = 1
    s = rng.normal(size=100) + y
    res = bootstrap_ci("auc", y, s, n_boot=400)
    assert 370 < res.n_valid < 400  # ~2% of resamples draw no positive
    y1 = np.zeros(40, dtype=np.int64)
    y1[0] = 1  # a single positive: absent from ~37% of resamples
    with pytest.raises(ValidationError, match=r"undefined on \d+ of 200 resamples"):
        bootstrap_ci("auc", y1, rng.normal(size=40), n_boot=200)


def test_paired_bootstrap_of_identical_predictions() -> None:
    y, a, _ = _scores(2, 200)
    res = paired_bootstrap("auc", y, a, a.copy(), n_boot=200)
    assert res.delta == 0.0 and res.ci == (0.0, 0.0) and res.p_value == 1.0


def test_paired_bootstrap_p_value_definition() -> None:
    y, a, b = _scores(3, 400, shift=0.3)
    res = paired_bootstrap("auc", y, a, b, n_boot=1000, seed=2)
    assert res.delta == pytest.approx(roc_auc(y, b) - roc_auc(y, a))
    # p from the bootstrap distribution of the difference, two-sided
    draws = np.random.default_rng(2).integers(0, 400, size=(1000, 400))
    deltas = np.array([roc_auc(y[d], b[d]) - roc_auc(y[d], a[d]) for d in draws])
    below, above = np.sum(deltas <= 0) + 1, np.sum(deltas >= 0) + 1
    assert res.p_value == pytest.approx(min(1.0, 2 * min(below, above) / 1001))
    assert res.se == pytest.approx(deltas.std(ddof=1))
    assert res.ci == pytest.approx(tuple(np.quantile(deltas, [0.025, 0.975])))


def test_paired_bootstrap_for_label_and_multiclass_metrics() -> None:
    rng = np.random.default_rng(6)
    y = rng.integers(0, 3, 300)
    pa = rng.dirichlet([1, 1, 1], 300)
    pb = 0.5 * pa + 0.5 * np.eye(3)[y]
    res = paired_bootstrap("logloss", y, pa, pb, n_boot=300)
    assert res.delta == pytest.approx(log_loss(y, pb) - log_loss(y, pa)) and res.p_value < 0.01
    auc = paired_bootstrap("auc", y, pa, pb, n_boot=300)
    assert auc.delta > 0 and auc.p_value < 0.01
    la, lb = pa.argmax(1), pb.argmax(1)
    acc = paired_bootstrap("accuracy", y, la, lb, n_boot=300, method="bca")
    assert acc.delta == pytest.approx(accuracy(y, lb) - accuracy(y, la))


def _brute_permutation(fn, y, a, b, n_perm: int, seed: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_perm):
        swap = rng.random(y.size) < 0.5
        out.append(fn(y, np.where(swap, a, b)) - fn(y, np.where(swap, b, a)))
    return np.array(out)


@pytest.mark.parametrize("metric", ["accuracy", "logloss", "f1", "rmse", "r2"])
def test_permutation_fast_path_equals_brute_force(metric: str) -> None:
    rng = np.random.default_rng(8)
    n = 120
    if metric in ("rmse", "r2"):
        y = rng.normal(size=n)
        a, b = y + rng.normal(size=n), y + 0.8 * rng.normal(size=n)
    else:
        y = rng.integers(0, 2, n).astype(np.float64)
        a = np.clip(0.5 * y + 0.5 * rng.random(n), 0.01, 0.99)
        b = np.clip(0.6 * y + 0.4 * rng.random(n), 0.01, 0.99)
        if metric in ("accuracy", "f1"):
            a, b = (a > 0.5).astype(np.float64), (b > 0.5).astype(np.float64)
    res = paired_permutation(metric, y, a, b, n_perm=300, seed=4)
    fn = METRICS[metric].fn
    brute = _brute_permutation(fn, y, a, b, 300, 4)
    delta = fn(y, b) - fn(y, a)
    extreme = np.sum(np.abs(brute) >= abs(delta) - 1e-12)
    assert res.delta == pytest.approx(delta)
    assert res.p_value == pytest.approx((1 + extreme) / 301)


def test_permutation_for_auc_swaps_ranks_so_scales_do_not_matter() -> None:
    y, a, b = _scores(9, 300, shift=1.0)
    res = paired_permutation("auc", y, a, b, n_perm=200, seed=1)
    squashed = paired_permutation("auc", y, a, 1 / (1 + np.exp(-b / 3)), n_perm=200, seed=1)
    assert squashed.delta == pytest.approx(res.delta) and squashed.p_value == res.p_value
    assert res.p_value < 0.05
    same = paired_permutation("auc", y, a, a.copy(), n_perm=200)
    assert same.p_value == 1.0


def _perf_data(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = (rng.random(n) < 0.3).astype(np.int64)
    a = np.round(rng.normal(size=n) + y, 3)
    return y, a, np.round(a + 0.3 * rng.normal(size=n) + 0.05 * y, 3)


def test_bootstrap_is_vectorised() -> None:
    """20k examples x 2000 resamples of an AUC: well under a few seconds (the slow test
    below checks the 100k x 2000 figure)."""
    y, a, _ = _perf_data(20_000)
    start = time.perf_counter()
    bootstrap_ci("auc", y, a, n_boot=2000)
    assert time.perf_counter() - start < 8.0


@pytest.mark.slow
def test_bootstrap_of_100k_examples_2000_resamples() -> None:
    y, a, b = _perf_data(100_000)
    start = time.perf_counter()
    bootstrap_ci("auc", y, a, n_boot=2000)
    single = time.perf_counter() - start
    start = time.perf_counter()
    paired_bootstrap("auc", y, a, b, n_boot=2000)
    paired = time.perf_counter() - start
    assert single < 15.0 and paired < 25.0, (single, paired)  # ~3 s and ~5 s on 2 cores
