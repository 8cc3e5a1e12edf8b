"""Which run is better? Pairwise comparisons with the right test, Holm-corrected verdicts
and a sentence a person can read.

:func:`compare_pair` picks the test from the metric:

==================  ====================  =====================================  ==================
metric              test                  interval for delta = B - A             effect_size
==================  ====================  =====================================  ==================
auc (binary)        DeLong                Wald, DeLong standard error            AUC difference
accuracy            McNemar (exact below  Agresti-Min (paired proportions)       Cohen's h
                    25 discordant pairs,
                    else chi-square with
                    continuity correction)
any other metric    paired bootstrap      percentile, ``n_boot`` resamples       see below
(and multiclass
auc)
==================  ====================  =====================================  ==================

For the paired bootstrap the effect size is the paired Cohen's d of per-example losses
for metrics that average them (log loss, Brier, MAE; squared errors for RMSE and R²),
and the raw difference otherwise (F1, ECE, multiclass AUC). ``effect_size_kind`` names
it, and ``effect_size`` always has the sign of ``delta``.

:func:`judge` (and :func:`compare_many`, which runs every pair first) adjusts the
p-values with Holm's method across the comparisons and calls a pair ``a_better`` /
``b_better`` when its adjusted p-value is below ``alpha``, respecting the metric's
direction (for log loss, lower is better), else ``indistinguishable``. Intervals are
per-comparison (not adjusted). In the records ``delta`` is always ``b_value - a_value``;
a sentence names the better run first and its Δ is that run minus the other, so
"A is better than B on auc (Δ=0.004, ...)" reads as A's AUC minus B's.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from ..errors import ValidationError
from . import _validate as v
from ._metric_impls import IMPLS
from ._records import Record
from ._types import Task
from ._wording import indistinguishable_sentence, significant_sentence
from .correction import holm
from .delong import delong_paired
from .mcnemar import mcnemar
from .metrics import get_metric
from .power import cohens_h, paired_cohens_d
from .resampling import paired_bootstrap

__all__ = ["Comparison", "Verdict", "VerdictKind", "compare_many", "compare_pair", "judge"]

VerdictKind = Literal["a_better", "b_better", "indistinguishable"]


@dataclass(frozen=True)
class Comparison(Record):
    """Run ``b`` against run ``a`` on one metric: ``delta = b_value - a_value`` with its
    ``1 - alpha`` interval, standard error, two-sided p-value and effect size."""

    a: str
    b: str
    metric: str
    a_value: float
    b_value: float
    delta: float
    ci: tuple[float, float]
    p_value: float
    test: str
    effect_size: float
    effect_size_kind: str
    n: int
    se: float
    alpha: float
    higher_is_better: bool


@dataclass(frozen=True)
class Verdict(Record):
    """A comparison with its Holm-adjusted p-value, verdict and sentence. ``to_json()``
    flattens the comparison's fields into the same object."""

    comparison: Comparison
    p_value_adjusted: float
    verdict: VerdictKind
    sentence: str

    def to_json(self) -> dict[str, Any]:
        out = self.comparison.to_json()
        out.update(
            p_value_adjusted=self.p_value_adjusted, verdict=self.verdict, sentence=self.sentence
        )
        return out


def _check_shapes(task: Task, metric: str, a: npt.ArrayLike, b: npt.ArrayLike) -> None:
    want = 2 if task == "multiclass" and get_metric(metric).needs == "y_score" else 1
    for arm, pred in (("a", a), ("b", b)):
        if v.ndim(pred) != want:
            shape = "an (n, K) matrix" if want == 2 else "a 1-D array"
            raise ValidationError(
                f"{metric} on a {task} task needs {shape} of predictions; "
                f"{arm} has shape {np.shape(pred)}"
            )


class _Measured(NamedTuple):
    a_value: float
    b_value: float
    delta: float
    ci: tuple[float, float]
    p_value: float
    test: str
    effect_size: float
    effect_size_kind: str
    n: int
    se: float


def compare_pair(
    task: Task,
    metric: str,
    y: npt.ArrayLike,
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    alpha: float = 0.05,
    *,
    names: tuple[str, str] = ("A", "B"),
    n_boot: int = 2000,
    seed: int = 0,
) -> Comparison:
    """Compare run ``b`` with run ``a`` on ``metric``, both predicted on the examples of
    ``y`` (``a``/``b`` are the column ``METRICS[metric].needs`` names)."""
    spec = get_metric(metric, task)
    alpha = v.check_alpha(alpha)
    _check_shapes(task, metric, a, b)
    if task == "binary" and spec.needs == "y_pred":
        v.binary_labels(y)
        v.binary_labels(a, "a")
        v.binary_labels(b, "b")
    if metric == "auc" and task == "binary":
        measured = _delong(y, a, b, alpha)
    elif metric == "accuracy":
        measured = _mcnemar(y, a, b, alpha)
    else:
        measured = _bootstrap(metric, y, a, b, alpha, n_boot, seed, spec.higher_is_better)
    return Comparison(names[0], names[1], metric, *measured, alpha, spec.higher_is_better)


def _delong(y: npt.ArrayLike, a: npt.ArrayLike, b: npt.ArrayLike, alpha: float) -> _Measured:
    d = delong_paired(y, a, b, alpha)
    n = d.n_pos + d.n_neg
    return _Measured(
        d.a, d.b, d.delta, d.ci, d.p_value, "delong", d.delta, "auc_difference", n, d.se
    )


def _mcnemar(y: npt.ArrayLike, a: npt.ArrayLike, b: npt.ArrayLike, alpha: float) -> _Measured:
    impl = IMPLS["accuracy"]
    y_true, pa = impl.check(y, a)
    _, pb = impl.check(y, b)
    mc = mcnemar(pa == y_true, pb == y_true, alpha=alpha)
    acc_a, acc_b = float(np.mean(pa == y_true)), float(np.mean(pb == y_true))
    h = cohens_h(acc_a, acc_b)
    test = f"mcnemar_{mc.method}"
    return _Measured(acc_a, acc_b, mc.delta, mc.ci, mc.p_value, test, h, "cohens_h", mc.n, mc.se)


def _bootstrap(
    metric: str,
    y: npt.ArrayLike,
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    alpha: float,
    n_boot: int,
    seed: int,
    higher_is_better: bool,
) -> _Measured:
    boot = paired_bootstrap(metric, y, a, b, n_boot=n_boot, alpha=alpha, seed=seed)
    effect, kind = _bootstrap_effect(metric, y, a, b, boot.delta, higher_is_better)
    n = int(np.shape(y)[0])
    return _Measured(
        boot.a,
        boot.b,
        boot.delta,
        boot.ci,
        boot.p_value,
        "paired_bootstrap",
        effect,
        kind,
        n,
        boot.se,
    )


def _bootstrap_effect(
    metric: str,
    y: npt.ArrayLike,
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    delta: float,
    higher_is_better: bool,
) -> tuple[float, str]:
    impl = IMPLS[metric]
    if impl.loss is None:
        return delta, "auc_difference" if metric == "auc" else "difference"
    y_true, pa = impl.check(y, a)
    _, pb = impl.check(y, b)
    d = paired_cohens_d(impl.loss(y_true, pa), impl.loss(y_true, pb))
    return (-d if higher_is_better else d), "cohens_d_paired"


def judge(
    comparisons: Sequence[Comparison],
    alpha: float | None = None,
    *,
    min_effect: float | None = None,
) -> list[Verdict]:
    """Holm-adjust the comparisons' p-values together and give each a verdict and a
    sentence. ``alpha`` defaults to the comparisons' own; ``min_effect`` is the
    difference the "would be needed" sentence sizes a study for (default: the observed
    ``|delta|``)."""
    if not comparisons:
        return []
    level = v.check_alpha(comparisons[0].alpha if alpha is None else alpha)
    if min_effect is not None and not min_effect > 0:
        raise ValidationError(f"min_effect must be positive; got {min_effect!r}")
    adjusted = holm([c.p_value for c in comparisons])
    m = len(comparisons)
    out = []
    for c, p_adj in zip(comparisons, adjusted.tolist(), strict=True):
        kind: VerdictKind = "indistinguishable"
        if p_adj < level and c.delta != 0.0:
            kind = "b_better" if (c.delta > 0) == c.higher_is_better else "a_better"
        if kind == "indistinguishable":
            effect = abs(c.delta) if min_effect is None else float(min_effect)
            sentence = indistinguishable_sentence(
                c.a, c.b, c.metric, c.n, level, c.p_value, m, c.se, effect
            )
        else:
            # the sentence names the better run first; its Δ is "first minus second"
            if kind == "b_better":
                names, delta, ci = (c.b, c.a), c.delta, c.ci
            else:
                names, delta, ci = (c.a, c.b), -c.delta, (-c.ci[1], -c.ci[0])
            sentence = significant_sentence(*names, c.metric, delta, ci, c.alpha, p_adj, m)
        out.append(Verdict(c, p_adj, kind, sentence))
    return out


def compare_many(
    task: Task,
    metric: str,
    y: npt.ArrayLike,
    preds: Mapping[str, npt.ArrayLike],
    alpha: float = 0.05,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    min_effect: float | None = None,
) -> list[Verdict]:
    """Compare every pair of runs in ``preds`` (run name -> predictions), in the mapping's
    order (the earlier run is ``a``), and :func:`judge` them together."""
    if len(preds) < 2:
        raise ValidationError(f"compare_many needs at least 2 runs; got {len(preds)}")
    comparisons = [
        compare_pair(
            task,
            metric,
            y,
            preds[ka],
            preds[kb],
            alpha,
            names=(str(ka), str(kb)),
            n_boot=n_boot,
            seed=seed,
        )
        for ka, kb in itertools.combinations(preds, 2)
    ]
    return judge(comparisons, alpha, min_effect=min_effect)
