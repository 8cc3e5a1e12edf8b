"""The resampling engine: bootstrap weights in memory-bounded chunks, jackknife values,
and the percentile and BCa intervals computed from them.

A bootstrap resample of ``n`` examples is represented by its count vector (how many
times each example was drawn, summing to ``n``); evaluators turn a ``(k, n)`` block of
count vectors into ``k`` metric values (see ``_evaluators``). Blocks hold about
``CHUNK_CELLS`` counts (or one resample, if larger), so memory stays bounded (a few
tens of MB for a million examples) whatever ``n_boot``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from scipy import special

from ._evaluators import Evaluator
from ._types import FloatArray, IntArray

__all__ = [
    "CHUNK_CELLS",
    "JACKKNIFE_GROUPS",
    "bca_interval",
    "bootstrap_replicates",
    "jackknife_values",
    "percentile_interval",
]

#: Counts per block of resamples (rows x examples); small blocks keep the work in cache.
CHUNK_CELLS = 1 << 18
#: Above this many examples the BCa acceleration comes from a delete-group jackknife.
JACKKNIFE_GROUPS = 1000


def _rows_per_chunk(n: int) -> int:
    return max(1, CHUNK_CELLS // n)


def _count_blocks(rng: np.random.Generator, n: int, n_boot: int) -> Iterator[IntArray]:
    rows = _rows_per_chunk(n)
    for start in range(0, n_boot, rows):
        k = min(rows, n_boot - start)
        draws = rng.integers(0, n, size=(k, n))
        if n >= 10_000:  # one bincount per row: its counts stay in cache
            yield np.stack([np.bincount(d, minlength=n) for d in draws])
        else:  # one bincount for the block, rows offset into disjoint ranges
            draws += (np.arange(k) * n)[:, None]
            yield np.bincount(draws.ravel(), minlength=k * n).reshape(k, n)


def bootstrap_replicates(
    evaluators: Sequence[Evaluator], n: int, n_boot: int, rng: np.random.Generator
) -> FloatArray:
    """``(len(evaluators), n_boot)`` metric values; every evaluator sees the same resamples
    (paired). NaN where a metric is undefined on a resample."""
    out = np.empty((len(evaluators), n_boot))
    start = 0
    for counts in _count_blocks(rng, n, n_boot):
        stop = start + counts.shape[0]
        for i, ev in enumerate(evaluators):
            out[i, start:stop] = ev(counts)
        start = stop
    return out


def jackknife_values(
    evaluators: Sequence[Evaluator], n: int, rng: np.random.Generator
) -> FloatArray:
    """Leave-one-out values ``(len(evaluators), n)``, or, for ``n > JACKKNIFE_GROUPS``,
    leave-one-group-out values over a random partition into ``JACKKNIFE_GROUPS`` groups.

    The grouped version estimates the same BCa acceleration: the acceleration is a ratio
    of the third cumulant to the 1.5th power of the second cumulant of the influence
    values, and cumulants of sums of independent terms add.
    """
    groups = n if n <= JACKKNIFE_GROUPS else JACKKNIFE_GROUPS
    label = np.arange(n) if groups == n else rng.permutation(n) % groups
    out = np.empty((len(evaluators), groups))
    rows = _rows_per_chunk(n)
    for start in range(0, groups, rows):
        stop = min(groups, start + rows)
        weights = (label[None, :] != np.arange(start, stop)[:, None]).astype(np.float64)
        for i, ev in enumerate(evaluators):
            out[i, start:stop] = ev(weights)
    return out


def percentile_interval(reps: FloatArray, alpha: float) -> tuple[float, float]:
    lo, hi = np.quantile(reps, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(lo), float(hi)


def bca_interval(
    reps: FloatArray, estimate: float, jack: FloatArray, alpha: float
) -> tuple[float, float]:
    """Efron's bias-corrected and accelerated interval.

    Bias correction ``z0 = Φ^-1(P*(θ* < θ̂) + P*(θ* = θ̂) / 2)`` (the proportion kept within
    ``[1/(2B), 1 - 1/(2B)]``); acceleration ``a = Σ d³ / (6 (Σ d²)^1.5)`` with ``d`` the
    jackknife deviations from their mean (undefined jackknife values are skipped).
    """
    b = reps.size
    below = (np.count_nonzero(reps < estimate) + 0.5 * np.count_nonzero(reps == estimate)) / b
    z0 = float(special.ndtri(min(max(below, 0.5 / b), 1.0 - 0.5 / b)))
    jack = jack[np.isfinite(jack)]
    d = jack.mean() - jack if jack.size else jack
    ss = float(np.sum(d**2))
    accel = float(np.sum(d**3)) / (6.0 * ss**1.5) if ss > 0 else 0.0
    levels = []
    for q in (alpha / 2.0, 1.0 - alpha / 2.0):
        zq = z0 + float(special.ndtri(q))
        denom = 1.0 - accel * zq
        level = float(special.ndtr(z0 + zq / denom)) if denom > 0 else (1.0 if zq > 0 else 0.0)
        levels.append(min(max(level, 0.0), 1.0))
    lo, hi = np.quantile(reps, levels)
    return float(lo), float(hi)
