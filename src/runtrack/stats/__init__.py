"""Statistics for comparing runs evaluated on the same examples (``runtrack compare``).

Pure functions on numpy arrays; every input is validated and a bad one raises
:class:`runtrack.errors.ValidationError` naming the argument and the problem. Results
are frozen dataclasses (immutable, safe to share between threads) with ``to_json()``.
Needs numpy and scipy (the ``compare`` extra); ``import runtrack`` never imports this
package.

Modules, one concept each:

* :mod:`~runtrack.stats.metrics`: metrics and the ``METRICS`` registry.
* :mod:`~runtrack.stats.delong`: DeLong variance of an AUC and test of two paired AUCs.
* :mod:`~runtrack.stats.mcnemar`: McNemar's test of two paired accuracies.
* :mod:`~runtrack.stats.resampling`: bootstrap intervals, paired bootstrap and
  permutation tests for any metric.
* :mod:`~runtrack.stats.repeats`: groups of repeated runs (seeds): t intervals, Welch.
* :mod:`~runtrack.stats.correction`: Holm-adjusted p-values.
* :mod:`~runtrack.stats.power`: effect sizes and the sample size a comparison needs.
* :mod:`~runtrack.stats.verdict`: the test for each metric, verdicts and sentences.
"""

from __future__ import annotations

from .correction import holm
from .delong import AUCResult, PairedResult, delong_auc, delong_covariance, delong_paired
from .mcnemar import McNemarResult, mcnemar
from .metrics import (
    METRICS,
    Metric,
    accuracy,
    brier_score,
    expected_calibration_error,
    f1,
    get_metric,
    log_loss,
    mae,
    r2,
    rmse,
    roc_auc,
)
from .power import auc_difference, cohens_h, needed_n, paired_cohens_d
from .repeats import RepeatSummary, WelchResult, summarize_repeats, welch_test
from .resampling import (
    BootstrapResult,
    PairedBootstrapResult,
    PermutationResult,
    bootstrap_ci,
    paired_bootstrap,
    paired_permutation,
)
from .verdict import Comparison, Verdict, compare_many, compare_pair, judge

__all__ = [
    "METRICS",
    "AUCResult",
    "BootstrapResult",
    "Comparison",
    "McNemarResult",
    "Metric",
    "PairedBootstrapResult",
    "PairedResult",
    "PermutationResult",
    "RepeatSummary",
    "Verdict",
    "WelchResult",
    "accuracy",
    "auc_difference",
    "bootstrap_ci",
    "brier_score",
    "cohens_h",
    "compare_many",
    "compare_pair",
    "delong_auc",
    "delong_covariance",
    "delong_paired",
    "expected_calibration_error",
    "f1",
    "get_metric",
    "holm",
    "judge",
    "log_loss",
    "mae",
    "mcnemar",
    "needed_n",
    "paired_bootstrap",
    "paired_cohens_d",
    "paired_permutation",
    "r2",
    "rmse",
    "roc_auc",
    "summarize_repeats",
    "welch_test",
]
