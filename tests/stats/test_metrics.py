"""Metrics against scikit-learn, and the weighted evaluators against explicit resampling."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from runtrack.errors import ValidationError
from runtrack.stats import METRICS, get_metric
from runtrack.stats import metrics as m
from runtrack.stats._metric_impls import IMPLS, build_ece

SEEDS = [0, 1, 2, 3]


def _binary(seed: int, n: int = 500) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.35).astype(np.int64)
    # rounded to 2 decimals: plenty of ties, including across classes; 0 and 1 included
    p = np.clip(np.round(1 / (1 + np.exp(-(rng.normal(size=n) + 1.2 * y - 0.5))), 2), 0, 1)
    p[:3] = [0.0, 1.0, 0.5]
    return y, p


def _multiclass(seed: int, n: int = 600, k: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, p


def _regression(seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n) * 3 + 1
    return y, y + rng.standard_t(3, size=n)


@pytest.mark.parametrize("seed", SEEDS)
def test_binary_metrics_equal_sklearn(seed: int) -> None:
    y, p = _binary(seed)
    label = (p >= 0.5).astype(np.int64)
    assert m.roc_auc(y, p) == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
    assert m.accuracy(y, label) == pytest.approx(skm.accuracy_score(y, label), abs=1e-12)
    assert m.log_loss(y, p) == pytest.approx(skm.log_loss(y, p), abs=1e-12)
    assert m.brier_score(y, p) == pytest.approx(skm.brier_score_loss(y, p), abs=1e-12)
    assert m.f1(y, label) == pytest.approx(skm.f1_score(y, label), abs=1e-12)


def test_auc_of_scores_that_are_not_probabilities() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.normal(size=300) * 50 + 30 * y)  # integers: many ties
    assert m.roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert m.roc_auc(y.astype(bool), s) == m.roc_auc(y.astype(float), s)


@pytest.mark.parametrize("seed", SEEDS)
def test_multiclass_metrics_equal_sklearn(seed: int) -> None:
    y, p = _multiclass(seed)
    label = p.argmax(axis=1)
    expected_auc = skm.roc_auc_score(y, p, multi_class="ovr", average="macro")
    assert m.roc_auc(y, p) == pytest.approx(expected_auc, abs=1e-12)
    assert m.log_loss(y, p) == pytest.approx(skm.log_loss(y, p), abs=1e-12)
    assert m.accuracy(y, label) == pytest.approx(skm.accuracy_score(y, label), abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_regression_metrics_equal_sklearn(seed: int) -> None:
    y, p = _regression(seed)
    assert m.rmse(y, p) == pytest.approx(skm.root_mean_squared_error(y, p), abs=1e-12)
    assert m.mae(y, p) == pytest.approx(skm.mean_absolute_error(y, p), abs=1e-12)
    assert m.r2(y, p) == pytest.approx(skm.r2_score(y, p), abs=1e-12)


@pytest.mark.parametrize("n_bins", [5, 10, 15])
@pytest.mark.parametrize("seed", SEEDS)
def test_equal_width_ece_matches_sklearn_calibration_curve(seed: int, n_bins: int) -> None:
    y, p = _binary(seed)
    p[3:8] = [0.1, 0.2, 0.3, 0.7, 0.9]  # values on bin edges go to the lower bin
    prob_true, prob_pred = calibration_curve(y, p, n_bins=n_bins, strategy="uniform")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    counts = np.bincount(np.searchsorted(edges[1:-1], p), minlength=n_bins)
    counts = counts[counts > 0]
    expected = float(np.sum(counts / p.size * np.abs(prob_true - prob_pred)))
    got = m.expected_calibration_error(y, p, n_bins=n_bins)
    assert got == pytest.approx(expected, abs=1e-12)


def _equal_mass_ece_loop(y: np.ndarray, p: np.ndarray, n_bins: int) -> float:
    n = p.size
    bins = [min(int(n_bins * np.sum(p < p[i]) / n), n_bins - 1) for i in range(n)]
    total = 0.0
    for b in set(bins):
        members = [i for i in range(n) if bins[i] == b]
        total += abs(sum(y[i] - p[i] for i in members))
    return total / n


@pytest.mark.parametrize("seed", SEEDS)
def test_equal_mass_ece_matches_its_definition(seed: int) -> None:
    y, p = _binary(seed, n=300)
    got = m.expected_calibration_error(y, p, n_bins=7, binning="equal_mass")
    assert got == pytest.approx(_equal_mass_ece_loop(y, p, 7), abs=1e-12)


def test_equal_mass_bins_hold_equal_counts_without_ties() -> None:
    rng = np.random.default_rng(0)
    p = rng.random(1000)
    y = (rng.random(1000) < p).astype(np.int64)
    # bin sums: with distinct p, each of 10 bins holds exactly 100 examples
    order = np.argsort(p)
    expected = sum(abs(np.sum(y[idx] - p[idx])) for idx in np.split(order, 10)) / 1000
    got = m.expected_calibration_error(y, p, n_bins=10, binning="equal_mass")
    assert got == pytest.approx(expected, abs=1e-12)


def test_perfectly_calibrated_bins_have_zero_ece() -> None:
    y = np.array([0, 1, 0, 1, 1, 1, 1, 0])
    p = np.array([0.5, 0.5, 0.5, 0.5, 0.75, 0.75, 0.75, 0.75])
    assert m.expected_calibration_error(y, p) == pytest.approx(0.0, abs=1e-15)
    assert m.expected_calibration_error(y, p, binning="equal_mass") == pytest.approx(0.0)


def _data_for(name: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if name in ("rmse", "mae", "r2"):
        return _regression(seed, 200)
    y, p = _binary(seed, 200)
    if name in ("accuracy", "f1"):
        return y, (p >= 0.5).astype(np.int64)
    return y, p


CASES = [*IMPLS, "auc_multiclass", "logloss_multiclass", "accuracy_multiclass"]


@pytest.mark.parametrize("case", CASES)
def test_weighted_evaluation_equals_evaluating_the_resample(case: str) -> None:
    """The bootstrap's count vectors give exactly the metric of the resampled data."""
    name = case.removesuffix("_multiclass")
    y, p = _data_for(name, 7) if case == name else _multiclass(7, 200, 3)
    if case == "accuracy_multiclass":
        p = p.argmax(axis=1)
    impl = IMPLS[name]
    yc, pc = impl.check(y, p)
    evaluator = impl.build(yc, pc)
    rng = np.random.default_rng(11)
    draws = rng.integers(0, y.size, size=(6, y.size))
    counts = np.stack([np.bincount(d, minlength=y.size) for d in draws])
    got = evaluator(counts)
    for row, d in enumerate(draws):
        assert got[row] == pytest.approx(METRICS[name].fn(y[d], p[d]), abs=1e-10)
    assert evaluator(np.ones((1, y.size)))[0] == pytest.approx(METRICS[name].fn(y, p), abs=1e-12)


def test_equal_mass_ece_weighted_equals_resample() -> None:
    y, p = _binary(3, 250)
    ev = build_ece(y, p, 8, "equal_mass")
    rng = np.random.default_rng(2)
    for _ in range(5):
        d = rng.integers(0, y.size, y.size)
        counts = np.bincount(d, minlength=y.size)[None, :]
        expected = m.expected_calibration_error(y[d], p[d], n_bins=8, binning="equal_mass")
        assert ev(counts)[0] == pytest.approx(expected, abs=1e-12)


def test_undefined_weightings_give_nan() -> None:
    y = np.array([0, 0, 1, 1])
    s = np.array([0.1, 0.4, 0.35, 0.8])
    ev = IMPLS["auc"].build(y, s)
    out = ev(np.array([[2, 2, 0, 0], [1, 1, 1, 1]]))
    assert np.isnan(out[0]) and out[1] == pytest.approx(0.75)


def test_registry() -> None:
    assert set(METRICS) == {"auc", "accuracy", "logloss", "brier", "ece", "f1", "rmse", "mae", "r2"}
    assert set(METRICS) == set(IMPLS)
    lower = {name for name, spec in METRICS.items() if not spec.higher_is_better}
    assert lower == {"logloss", "brier", "ece", "rmse", "mae"}
    fn, tasks, higher, needs = METRICS["auc"]
    assert fn is m.roc_auc and tasks == ("binary", "multiclass") and higher and needs == "y_score"
    assert METRICS["accuracy"].needs == "y_pred" and METRICS["r2"].tasks == ("regression",)
    assert get_metric("ece", "binary") is METRICS["ece"]
    with pytest.raises(ValidationError, match="unknown metric 'auroc'"):
        get_metric("auroc")
    with pytest.raises(ValidationError, match="does not apply to regression"):
        get_metric("auc", "regression")
    with pytest.raises(ValidationError, match="unknown task"):
        get_metric("auc", "ranking")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        METRICS["x"] = METRICS["auc"]  # type: ignore[index]
