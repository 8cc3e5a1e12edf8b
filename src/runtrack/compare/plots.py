"""The report's figures, drawn with matplotlib's Agg backend (no display, no pyplot state)
and returned as PNG bytes for embedding.

* ROC curves (binary tasks with scores), each with a ``1 - alpha`` band: the true positive
  rate at 101 false positive rates over ``N_BOOT_BAND`` bootstrap resamples of the
  examples, pointwise percentiles.
* Calibration curves (binary, scores in [0, 1]): observed frequency of the positive class
  against the mean predicted probability in 10 equal-width bins.
* Metric curves: each run's logged history of up to ``MAX_CURVES`` keys, overlaid.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from ._common import RunInfo
    from .pairing import EvalData

__all__ = ["calibration_png", "history_png", "roc_png"]

N_BOOT_BAND = 200
MAX_CURVES = 4
_GRID_POINTS = 101


def _text(label: str) -> str:
    """A label matplotlib shows as written (``$`` would start mathtext)."""
    return label.replace("$", r"\$")


def _figure(ncols: int = 1) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2 * ncols, 4.2), dpi=100, layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, axes


def _png(fig: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # a run name in a script the bundled font lacks: drawn as boxes, not an error
        warnings.filterwarnings("ignore", message=r"Glyph .* missing", category=UserWarning)
        fig.savefig(buf, format="png")
    return buf.getvalue()


def roc_curve(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) from (0, 0) to (1, 1); ties in score make one step."""
    import numpy as np

    order = np.argsort(-score, kind="mergesort")
    s, t = score[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tps = np.cumsum(t)[last]
    fps = last + 1 - tps
    pos, neg = max(int(t.sum()), 1), max(int(t.size - t.sum()), 1)
    return np.r_[0.0, fps / neg], np.r_[0.0, tps / pos]


def roc_band(
    y: np.ndarray, score: np.ndarray, alpha: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(grid, low, high): pointwise bootstrap interval of the TPR at each FPR of ``grid``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    grid = np.linspace(0.0, 1.0, _GRID_POINTS)
    curves = []
    n = y.size
    for _ in range(N_BOOT_BAND):
        idx = rng.integers(0, n, n)
        yy = y[idx]
        if yy.min() == yy.max():
            continue
        fpr, tpr = roc_curve(yy, score[idx])
        curves.append(np.interp(grid, fpr, tpr))
    if not curves:
        return grid, np.zeros_like(grid), np.ones_like(grid)
    stack = np.vstack(curves)
    low = np.quantile(stack, alpha / 2, axis=0)
    high = np.quantile(stack, 1 - alpha / 2, axis=0)
    return grid, low, high


def roc_png(data: Sequence[EvalData], alpha: float, seed: int) -> bytes | None:
    """ROC curves with bands, or None when no run has binary scores."""
    usable = [
        d
        for d in data
        if d.task == "binary" and d.score is not None and 0 < int(d.y.sum()) < d.y.size
    ]
    if not usable:
        return None
    from ..stats import roc_auc

    fig, (ax,) = _figure()
    for k, d in enumerate(usable):
        assert d.score is not None
        color = f"C{k % 10}"
        fpr, tpr = roc_curve(d.y, d.score)
        grid, low, high = roc_band(d.y, d.score, alpha, seed + k)
        auc = roc_auc(d.y, d.score)
        ax.fill_between(grid, low, high, color=color, alpha=0.18, linewidth=0)
        ax.plot(fpr, tpr, color=color, linewidth=1.6, label=f"{_text(d.run.label)} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(f"ROC curves ({100 * (1 - alpha):g}% bootstrap bands)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def calibration_png(data: Sequence[EvalData], bins: int = 10) -> bytes | None:
    """Calibration curves, or None when no run has binary probabilities."""
    import numpy as np

    usable = [
        d
        for d in data
        if d.task == "binary"
        and d.score is not None
        and float(d.score.min()) >= 0.0
        and float(d.score.max()) <= 1.0
    ]
    if not usable:
        return None
    fig, (ax,) = _figure()
    edges = np.linspace(0.0, 1.0, bins + 1)
    for k, d in enumerate(usable):
        assert d.score is not None
        which = np.clip(np.searchsorted(edges, d.score, side="left") - 1, 0, bins - 1)
        count = np.bincount(which, minlength=bins)
        mean_p = np.bincount(which, weights=d.score, minlength=bins)
        freq = np.bincount(which, weights=d.y.astype(np.float64), minlength=bins)
        keep = count > 0
        ax.plot(
            mean_p[keep] / count[keep],
            freq[keep] / count[keep],
            marker="o",
            markersize=3,
            color=f"C{k % 10}",
            linewidth=1.4,
            label=_text(d.run.label),
        )
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=0.8, label="perfect")
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed frequency of the positive class")
    ax.set_title(f"Calibration ({bins} equal-width bins)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize=8)
    return _png(fig)


def history_keys(runs: Sequence[RunInfo], metric: str) -> list[str]:
    """Up to ``MAX_CURVES`` logged keys with a curve (2+ points) in some run; keys naming
    the compared metric first."""
    keys: set[str] = set()
    for r in runs:
        for k, summary in r.view.metrics.items():
            if not k.startswith("system/") and summary.count >= 2:
                keys.add(k)
    return sorted(keys, key=lambda k: (metric.lower() not in k.lower(), k))[:MAX_CURVES]


def history_png(runs: Sequence[RunInfo], metric: str) -> tuple[bytes, list[str]] | None:
    keys = history_keys(runs, metric)
    if not keys:
        return None
    fig, axes = _figure(len(keys))
    for k, r in enumerate(runs):
        series = r.view.history(keys, format="array")
        for ax, key in zip(axes, keys, strict=True):
            s = series.get(key)
            if s is None or len(s["value"]) == 0:
                continue
            ax.plot(
                list(s["step"]),
                list(s["value"]),
                color=f"C{k % 10}",
                linewidth=1.3,
                label=_text(r.label),
            )
    for ax, key in zip(axes, keys, strict=True):
        ax.set_title(_text(key))
        ax.set_xlabel("step")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    return _png(fig), keys
