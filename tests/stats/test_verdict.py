"""Test selection, verdicts, Holm across pairs and the plain-words sentences."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from runtrack.errors import ValidationError
from runtrack.stats import (
    Comparison,
    compare_many,
    compare_pair,
    delong_paired,
    holm,
    judge,
    mcnemar,
    needed_n,
    paired_bootstrap,
)

FIELDS = {"metric", "a_value", "b_value", "delta", "ci", "p_value", "test", "effect_size", "n"}


def _runs(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(np.int64)
    shared = rng.normal(size=n) + y
    a = shared + 0.8 * rng.normal(size=n)
    b = shared + 0.5 * rng.normal(size=n) + 0.3 * y  # clearly better
    c = a + 0.05 * rng.normal(size=n)  # A with a little noise
    return y, {"A": a, "B": b, "C": c}


def _proba(s: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-(s - 0.7)))


def test_auc_uses_delong() -> None:
    y, runs = _runs()
    c = compare_pair("binary", "auc", y, runs["A"], runs["B"])
    d = delong_paired(y, runs["A"], runs["B"])
    assert c.test == "delong"
    assert (c.a_value, c.b_value, c.delta) == (d.a, d.b, d.delta)
    assert (c.ci, c.p_value, c.se) == (d.ci, d.p_value, d.se)
    assert c.effect_size == c.delta and c.effect_size_kind == "auc_difference" and c.n == 2000
    out = c.to_json()
    assert set(out) >= FIELDS and isinstance(out["ci"], list) and len(out["ci"]) == 2
    json.dumps(out, allow_nan=False)


def test_accuracy_uses_mcnemar() -> None:
    y, runs = _runs()
    pa, pb = (runs["A"] > 0.7).astype(int), (runs["B"] > 0.7).astype(int)
    c = compare_pair("binary", "accuracy", y, pa, pb)
    mc = mcnemar(pa == y, pb == y)
    assert c.test == f"mcnemar_{mc.method}" and c.p_value == mc.p_value and c.ci == mc.ci
    assert c.b_value - c.a_value == pytest.approx(c.delta)
    assert c.effect_size_kind == "cohens_h" and np.sign(c.effect_size) == np.sign(c.delta)
    small = compare_pair("multiclass", "accuracy", [0, 1, 2, 2], [0, 1, 2, 1], [0, 1, 1, 2])
    assert small.test == "mcnemar_exact" and small.p_value == 1.0


@pytest.mark.parametrize(
    ("metric", "kind"),
    [("logloss", "cohens_d_paired"), ("brier", "cohens_d_paired"), ("ece", "difference")],
)
def test_other_binary_metrics_use_the_paired_bootstrap(metric: str, kind: str) -> None:
    y, runs = _runs()
    pa, pb = _proba(runs["A"]), _proba(runs["B"])
    c = compare_pair("binary", metric, y, pa, pb, n_boot=300, seed=3)
    boot = paired_bootstrap(metric, y, pa, pb, n_boot=300, seed=3)
    assert c.test == "paired_bootstrap"
    assert (c.delta, c.ci, c.p_value) == (boot.delta, boot.ci, boot.p_value)
    assert c.effect_size_kind == kind and np.sign(c.effect_size) == np.sign(c.delta)
    assert not c.higher_is_better


def test_regression_effect_size_has_the_sign_of_delta() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=500)
    a, b = y + rng.normal(size=500), y + 0.7 * rng.normal(size=500)
    for metric in ("rmse", "mae", "r2"):
        c = compare_pair("regression", metric, y, a, b, n_boot=200)
        assert c.effect_size_kind == "cohens_d_paired"
        assert np.sign(c.effect_size) == np.sign(c.delta) != 0
        assert c.delta > 0 if metric == "r2" else c.delta < 0  # B is better


def test_multiclass_auc_uses_the_bootstrap() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 400)
    pa = rng.dirichlet([1, 1, 1], 400)
    pb = 0.7 * pa + 0.3 * np.eye(3)[y]
    c = compare_pair("multiclass", "auc", y, pa, pb, n_boot=200)
    assert (c.test, c.effect_size_kind) == ("paired_bootstrap", "auc_difference")
    assert c.delta > 0


def test_compare_many_runs_every_pair_and_adjusts_with_holm() -> None:
    y, runs = _runs()
    verdicts = compare_many("binary", "auc", y, runs)
    pairs = [(v.comparison.a, v.comparison.b) for v in verdicts]
    assert pairs == [("A", "B"), ("A", "C"), ("B", "C")]
    raw = [v.comparison.p_value for v in verdicts]
    assert [v.p_value_adjusted for v in verdicts] == pytest.approx(holm(raw).tolist())
    ab, ac, bc = verdicts
    assert ab.verdict == "b_better" and bc.verdict == "a_better"
    assert ac.verdict == "indistinguishable"
    pattern = (
        r"B is better than A on auc \(Δ=0\.\d{3}, 95% CI \[0\.\d{3}, 0\.\d{3}\], "
        r"Holm-adjusted p(=0\.\d+|<0\.001)\)"
    )
    assert re.fullmatch(pattern, ab.sentence), ab.sentence
    # the better run is named first and Δ is it minus the other: positive for an AUC
    assert bc.sentence.startswith("B is better than C on auc (Δ=0.")
    assert bc.comparison.delta < 0
    out = ab.to_json()
    assert FIELDS | {"p_value_adjusted", "verdict", "sentence", "a", "b"} <= set(out)
    json.dumps([v.to_json() for v in verdicts], allow_nan=False)


def test_lower_is_better_metrics_flip_the_verdict() -> None:
    y, runs = _runs()
    probas = {"A": _proba(runs["A"]), "B": _proba(runs["B"])}
    [v] = compare_many("binary", "logloss", y, probas, n_boot=300)
    assert v.comparison.delta < 0 and v.verdict == "b_better"
    assert v.sentence.startswith("B is better than A on logloss (Δ=-0.")
    assert ", p=" in v.sentence  # one comparison: no Holm adjustment to mention


def test_indistinguishable_sentence_gives_the_needed_sample_size() -> None:
    y, runs = _runs()
    [v] = compare_many("binary", "auc", y, {"A": runs["A"], "C": runs["C"]}, min_effect=0.0005)
    c = v.comparison
    need = needed_n(c.se, c.n, 0.0005)
    assert need > 2000
    about = f"{round(need, 2 - len(str(need))):,}"
    assert v.sentence == (
        "A and C are not distinguishable on auc at \u03b1=0.05 on n=2,000 examples; "
        f"about n={about} would be needed to tell a 0.0005 difference"
    )
    [big] = compare_many("binary", "auc", y, {"A": runs["A"], "C": runs["C"]}, min_effect=0.2)
    assert "n=2,000 would detect a 0.200 difference 80% of the time" in big.sentence


def _comparison(p: float, delta: float, higher: bool = True) -> Comparison:
    return Comparison(
        a="A",
        b="B",
        metric="auc",
        a_value=0.8,
        b_value=0.8 + delta,
        delta=delta,
        ci=(delta - 0.01, delta + 0.01),
        p_value=p,
        test="delong",
        effect_size=delta,
        effect_size_kind="auc_difference",
        n=1000,
        se=0.005,
        alpha=0.05,
        higher_is_better=higher,
    )


def test_judge_explains_a_difference_lost_to_the_holm_correction() -> None:
    first, second = judge([_comparison(0.03, 0.01), _comparison(0.04, -0.01)])
    assert first.p_value_adjusted == pytest.approx(0.06)
    assert first.verdict == second.verdict == "indistinguishable"
    assert first.sentence.endswith("after Holm correction over 2 comparisons (unadjusted p=0.03)")
    [lower] = judge([_comparison(0.001, 0.01, higher=False)])
    assert lower.verdict == "a_better"  # B's value is higher, and lower is better
    assert lower.sentence == "A is better than B on auc (Δ=-0.010, 95% CI [-0.020, 0.000], p=0.001)"
    assert judge([]) == []


def test_bad_requests() -> None:
    y, runs = _runs(200)
    with pytest.raises(ValidationError, match="does not apply to regression"):
        compare_pair("regression", "auc", y, runs["A"], runs["B"])
    with pytest.raises(ValidationError, match=r"needs a 1-D array .* b has shape \(200, 2\)"):
        compare_pair("binary", "auc", y, runs["A"], np.stack([runs["B"]] * 2, axis=1))
    with pytest.raises(ValidationError, match="at least 2 runs"):
        compare_many("binary", "auc", y, {"A": runs["A"]})
    with pytest.raises(ValidationError, match="b is not binary"):
        compare_pair("binary", "accuracy", y, y, np.where(y == 1, 2, 0))
    with pytest.raises(ValidationError, match="min_effect"):
        compare_many("binary", "auc", y, runs, min_effect=-1.0)
    with pytest.raises(ValidationError, match="alpha"):
        compare_pair("binary", "auc", y, runs["A"], runs["B"], alpha=5)
