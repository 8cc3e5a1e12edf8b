"""Bad inputs raise ValidationError with a message that names the problem."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from runtrack.errors import ValidationError
from runtrack.stats import (
    accuracy,
    bootstrap_ci,
    delong_auc,
    delong_covariance,
    delong_paired,
    expected_calibration_error,
    f1,
    log_loss,
    mcnemar,
    paired_bootstrap,
    paired_permutation,
    r2,
    rmse,
    roc_auc,
    summarize_repeats,
    welch_test,
)

Y = np.array([0, 1, 0, 1, 1, 0, 1, 0])
S = np.array([0.1, 0.8, 0.3, 0.7, 0.6, 0.2, 0.9, 0.4])
NAN = S.copy()
NAN[[2, 5]] = np.nan
P3 = np.full((8, 3), 1 / 3)

CASES: list[tuple[str, Callable[[], Any], str]] = [
    ("lengths", lambda: roc_auc(Y, S[:-1]), "lengths differ: y_true has 8 examples but y_score"),
    ("not binary", lambda: roc_auc(Y + 1, S), r"y_true is not binary: found labels \{1, 2\}"),
    (
        "nan scores",
        lambda: roc_auc(Y, NAN),
        r"y_score contains 2 NaN value\(s\) \(first at index 2",
    ),
    ("inf scores", lambda: roc_auc(Y, np.r_[S[:-1], np.inf]), "NaN/infinite"),
    ("one class", lambda: roc_auc(np.zeros(8), S), r"only one class \(all 0\)"),
    ("nan labels", lambda: roc_auc(np.r_[Y[:-1], np.nan], S), "y_true contains 1 NaN"),
    ("fractional labels", lambda: accuracy(Y * 0.5, Y), "integer class labels"),
    ("strings", lambda: accuracy(["a"] * 8, Y), "must hold numbers"),
    ("empty", lambda: roc_auc([], []), "y_true is empty"),
    ("2-D labels", lambda: accuracy(np.ones((2, 2)), Y), "must be a 1-D array"),
    ("ragged", lambda: roc_auc([[0, 1], [1]], S), "not an array of numbers"),
    ("proba range", lambda: log_loss(Y, S * 2), r"probabilities in \[0, 1\]"),
    ("rows sum", lambda: log_loss(np.arange(8) % 3, P3 * 0.9), "rows must sum to 1"),
    ("label >= K", lambda: log_loss(np.arange(8) % 4, P3), "label 3 but y_score has 3 columns"),
    ("class missing", lambda: roc_auc(np.arange(8) % 2, P3), "class 2 never occurs"),
    ("one class multi", lambda: roc_auc(np.zeros(8), P3), "fewer than 2 classes"),
    ("single column", lambda: roc_auc(Y, S[:, None]), "one column per class"),
    ("f1 undefined", lambda: f1(np.zeros(8), np.zeros(8)), "F1 is undefined"),
    ("r2 constant", lambda: r2(np.ones(8), S), "y_true is constant"),
    ("regression nan", lambda: rmse(S, NAN), "y_pred contains 2 NaN"),
    ("ece bins", lambda: expected_calibration_error(Y, S, n_bins=0), "n_bins must be at least 1"),
    ("ece binning", lambda: expected_calibration_error(Y, S, binning="k"), "binning must be"),  # type: ignore[arg-type]
    ("delong few", lambda: delong_auc([0, 0, 1, 0], [0.1, 0.2, 0.3, 0.4]), "at least 2 of each"),
    (
        "delong lengths",
        lambda: delong_paired(Y, S, S[:-1]),
        "y_true has 8 examples but score_b has 7",
    ),
    ("delong nan", lambda: delong_paired(Y, S, NAN), "score_b contains 2 NaN"),
    ("delong none", lambda: delong_covariance(Y, []), "scores is empty"),
    ("alpha", lambda: delong_auc(Y, S, alpha=0.0), "alpha must be strictly between 0 and 1"),
    ("mcnemar method", lambda: mcnemar(Y, Y, method="fisher"), "method must be"),  # type: ignore[arg-type]
    ("mcnemar lengths", lambda: mcnemar(Y, Y[:3]), "correct_a has 8 .* correct_b has 3"),
    ("mcnemar values", lambda: mcnemar(Y, Y * 2), "correct_b is not binary"),
    ("unknown metric", lambda: bootstrap_ci("auroc", Y, S), "unknown metric 'auroc'"),
    ("n_boot", lambda: bootstrap_ci("auc", Y, S, n_boot=10), "n_boot must be at least 100"),
    ("n_boot type", lambda: bootstrap_ci("auc", Y, S, n_boot=1e3), "n_boot must be an integer"),  # type: ignore[arg-type]
    ("boot method", lambda: bootstrap_ci("auc", Y, S, method="basic"), "method must be"),  # type: ignore[arg-type]
    ("seed", lambda: bootstrap_ci("auc", Y, S, seed="x"), "seed must be"),  # type: ignore[arg-type]
    ("paired arm", lambda: paired_bootstrap("auc", Y, S, NAN), "pred_b: y_score contains 2 NaN"),
    ("paired shapes", lambda: paired_bootstrap("auc", np.arange(8) % 3, P3, P3[:, :2]), "pred_b"),
    ("perm count", lambda: paired_permutation("auc", Y, S, S, n_perm=5), "n_perm must be at least"),
    ("repeats nan", lambda: summarize_repeats([0.9, np.nan]), "values contains 1 NaN"),
    ("repeats empty", lambda: welch_test([], [0.9]), "values_a is empty"),
]


@pytest.mark.parametrize(("fn", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_a_validation_error(fn: Callable[[], Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        fn()


def test_good_inputs_in_other_forms_are_accepted() -> None:
    assert roc_auc(Y.astype(bool), S) == roc_auc(Y.astype(float).tolist(), S.tolist())
    assert accuracy(Y, Y) == 1.0
    assert log_loss(Y, S.astype(np.float32)) == pytest.approx(log_loss(Y, S), rel=1e-6)
    p32 = (np.full((8, 3), 1 / 3, dtype=np.float32) + 1e-7).astype(np.float32)
    assert log_loss(np.arange(8) % 3, p32) == pytest.approx(np.log(3), rel=1e-5)


def test_import_runtrack_does_not_import_stats() -> None:
    code = (
        "import sys, runtrack; import runtrack.errors; "
        "print(any(m.startswith('runtrack.stats') for m in sys.modules), 'scipy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
