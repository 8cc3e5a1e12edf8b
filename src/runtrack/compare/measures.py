"""Each run's numbers: the primary metric with its bootstrap interval, the secondary
criteria (summary metrics, model size, metrics computed from the predictions such as the
calibration error, the worst slice), and means over repeats.

* The primary metric on a prediction set: :func:`runtrack.stats.bootstrap_ci`
  (percentile interval over examples). From a summary (no prediction set): the value
  only; there is nothing to resample.
* ``worst_slice``: the primary metric computed on each value of each recorded slice
  column; the worst of them (lowest for a higher-is-better metric). Slices where the
  metric is undefined (one class only, fewer than ``MIN_SLICE`` examples) are skipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..errors import ValidationError
from ._common import Criterion, RunInfo
from .diffs import model_size
from .pairing import EvalData

__all__ = ["MIN_SLICE", "RunMetric", "primary_from_predictions", "secondary_value"]

#: slices with fewer examples are not measured for ``worst_slice``
MIN_SLICE = 10


@dataclass(frozen=True)
class RunMetric:
    """The primary metric of one run; ``ci``/``se`` are None without per-example data."""

    run: str
    value: float
    ci: tuple[float, float] | None
    se: float | None
    n: int | None
    source: str  # "predictions" | "summary"
    eval_set: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "value": self.value,
            "ci": list(self.ci) if self.ci else [None, None],
            "se": self.se,
            "n": self.n,
            "source": self.source,
            "eval_set": self.eval_set,
        }


def primary_from_predictions(
    d: EvalData, metric: str, alpha: float, n_boot: int, seed: int
) -> RunMetric:
    from ..stats import bootstrap_ci

    try:
        b = bootstrap_ci(metric, d.y, d.pred, n_boot=n_boot, alpha=alpha, seed=seed)
    except ValidationError as exc:
        raise ValidationError(f"run {d.run.label}: {exc.message}") from None
    return RunMetric(d.run.id, b.estimate, b.ci, b.se, len(d.y), "predictions", d.eval_set)


def primary_from_summary(run: RunInfo, metric: str, *, has_sets: bool = False) -> RunMetric:
    """The run's summary value of ``metric`` (``has_sets``: some run logged predictions,
    so the message explains why they were not used)."""
    from ..stats import METRICS

    value = run.view.summary.get(metric)
    if isinstance(value, bool) or not isinstance(value, int | float):
        keys = sorted(k for k in run.view.summary if not str(k).startswith("system/"))
        shown = ", ".join(keys[:12]) + (", ..." if len(keys) > 12 else "")
        head = f"run {run.label} has no prediction set and no summary metric {metric!r}"
        if has_sets:
            head = (
                f"{metric!r} is not a metric computed from predictions ({', '.join(METRICS)}) "
                f"and run {run.label} has no summary metric {metric!r}"
            )
        raise ValidationError(
            head + (f" (its summary has: {shown})" if shown else " (its summary is empty)")
        )
    if not math.isfinite(float(value)):
        raise ValidationError(f"run {run.label}'s summary value of {metric!r} is {value}")
    return RunMetric(run.id, float(value), None, None, None, "summary", None)


def _metric_on(metric: str, task: str, d: EvalData, rows: Any = None) -> float | None:
    """``metric`` on run ``d``'s predictions (a subset of ``rows``), None when it does not
    apply (another task, a missing column, undefined on these examples)."""
    from ..stats import get_metric

    try:
        spec = get_metric(metric, task)  # type: ignore[arg-type]
    except ValidationError:
        return None
    column = d.labels if spec.needs == "y_pred" else d.score
    if column is None:
        return None
    y = d.y if rows is None else d.y[rows]
    p = column if rows is None else column[rows]
    try:
        value = float(spec.fn(y, p))
    except ValidationError:
        return None
    return value if math.isfinite(value) else None


def worst_slice(d: EvalData, metric: str, higher_is_better: bool) -> tuple[float, str] | None:
    """(value, "slice=value") of the worst slice on the primary metric, or None."""
    import numpy as np

    worst: tuple[float, str] | None = None
    for name, column in d.preds.slices.items():
        for value in np.unique(column):
            rows = np.flatnonzero(column == value)
            if rows.size < MIN_SLICE:
                continue
            m = _metric_on(metric, d.task, d, rows)
            if m is None:
                continue
            if worst is None or (m < worst[0] if higher_is_better else m > worst[0]):
                worst = (m, f"{name}={value}")
    return worst


def secondary_value(
    c: Criterion,
    run: RunInfo,
    data: EvalData | None,
    metric: str,
    higher_is_better: bool,
) -> tuple[float | None, str]:
    """(value, where it came from) of criterion ``c`` for one run; value None when the
    run has no such number."""
    from ..stats import METRICS

    if c.name == "model_size":
        size = model_size(run.view)
        return (None if size is None else float(size)), "model outputs"
    if c.name == "duration":
        return run.view.duration, "run duration"
    if c.name == "worst_slice":
        if data is None:
            return None, "no prediction set"
        found = worst_slice(data, metric, higher_is_better)
        return (None, "no slices") if found is None else (found[0], found[1])
    if c.name in METRICS and data is not None:
        value = _metric_on(c.name, data.task, data)
        if value is not None:
            return value, "predictions"
    summary = run.view.summary.get(c.name)
    if isinstance(summary, int | float) and not isinstance(summary, bool):
        value = float(summary)
        return (value if math.isfinite(value) else None), "summary"
    return None, "not recorded"
