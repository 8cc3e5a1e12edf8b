"""Downsampling metric series for charts, keeping extremes.

A chart of a 1,000,000-point series needs ~2,000 points, but averaging or picking every
n-th point hides exactly what a chart is for (a spike, a divergence). Each bucket keeps
its minimum and its maximum (in their order, so the line passes through both), and the
series keeps its first and last points: every extreme survives at every zoom level.

This module is the plain algorithm (standard library; numpy is used when it is
installed, never required). ``TrackingStore.get_history_downsampled`` applies it to a
full history; ``SqlStore`` answers from per-chunk envelopes instead (``sql/_downsample``).
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

XAxis = Literal["step", "time"]
MIN_POINTS = 10
MAX_POINTS = 20_000


@dataclass(frozen=True, slots=True)
class DownsampledSeries:
    """A series reduced for drawing: ``x`` (steps or times) and ``y`` in logged order.

    ``total`` counts the points of the requested range; ``exact`` is True when every one
    of them is in ``x``/``y`` (nothing was dropped).
    """

    key: str
    x: Sequence[float]
    y: Sequence[float]
    total: int
    exact: bool


def check_points(points: int) -> int:
    from ..errors import ValidationError

    if not isinstance(points, int) or isinstance(points, bool):
        raise ValidationError("points must be an integer")
    if not MIN_POINTS <= points <= MAX_POINTS:
        raise ValidationError(f"points must be between {MIN_POINTS} and {MAX_POINTS}")
    return points


def extremes(values: Sequence[float], buckets: int) -> list[int]:
    """Positions to keep: first, last, and each bucket's minimum and maximum (NaN is
    ignored; a bucket of NaN keeps its first point, which a chart draws as a gap)."""
    n = len(values)
    if n <= 2 * buckets + 2:
        return list(range(n))
    try:
        import numpy as np
    except ImportError:
        return _extremes_py(values, buckets)
    a = np.frombuffer(values, dtype=np.float64) if isinstance(values, array) else np.asarray(values)
    nan = np.isnan(a)
    lo = np.where(nan, np.inf, a)
    hi = np.where(nan, -np.inf, a)
    if n % buckets == 0:
        # equal buckets (a full chunk's): one vectorised pass
        size = n // buckets
        base = np.arange(buckets, dtype=np.int64) * size
        # a bucket of NaN only: argmin/argmax find its first point (a gap in the chart)
        imin = base + lo.reshape(buckets, size).argmin(axis=1)
        imax = base + hi.reshape(buckets, size).argmax(axis=1)
    else:
        # bucket b is [b * n // buckets, (b + 1) * n // buckets), as in _extremes_py
        # (every bucket asked for, each of 2 points at least): its first minimum and
        # first maximum, found as the first points equal to its reduced values
        starts = np.arange(buckets, dtype=np.int64) * n // buckets
        seg = np.repeat(np.arange(buckets), np.diff(np.append(starts, n)))
        imin = _first_where(lo == np.minimum.reduceat(lo, starts)[seg], seg)
        imax = _first_where(hi == np.maximum.reduceat(hi, starts)[seg], seg)
    pos = np.concatenate([imin, imax, np.array([0, n - 1], dtype=np.int64)])
    pos = np.sort(pos[pos < n])
    # sorted and deduplicated by hand: np.unique's first call imports numpy.ma (~50 ms
    # of CPU), which a write storing envelopes in a training script would pay
    keep: list[int] = pos[np.concatenate([[True], pos[1:] != pos[:-1]])].tolist()
    return keep


def _first_where(hit: Any, seg: Any) -> Any:
    """The first index of each segment where ``hit`` is true (one per segment)."""
    import numpy as np

    idx = np.flatnonzero(hit)
    s = seg[idx]
    return idx[np.concatenate([[True], s[1:] != s[:-1]])]


def _extremes_py(values: Sequence[float], buckets: int) -> list[int]:
    n = len(values)
    keep = {0, n - 1}
    for b in range(buckets):
        start, end = b * n // buckets, (b + 1) * n // buckets
        if end <= start:
            continue
        seg = values[start:end]
        lo, hi = min(seg), max(seg)
        if lo != lo or hi != hi:  # NaN first: min()/max() keep it; look again without
            finite = [v for v in seg if v == v]
            if not finite:
                keep.add(start)
                continue
            lo, hi = min(finite), max(finite)
        keep.add(start + seg.index(lo))
        keep.add(start + seg.index(hi))
    return sorted(keep)


def downsample(
    key: str,
    x: Sequence[float],
    y: Sequence[float],
    points: int,
    *,
    total: int | None = None,
) -> DownsampledSeries:
    """Reduce (x, y) to about ``points`` points, keeping the extremes."""
    n = len(y)
    count = n if total is None else total
    if n <= points:
        return DownsampledSeries(key, list(x), list(y), count, count == n)
    keep = extremes(y, max(1, (points - 2) // 2))
    return DownsampledSeries(key, [x[i] for i in keep], [y[i] for i in keep], count, False)


def in_range(xs: Sequence[float], start: float | None, end: float | None) -> tuple[int, int]:
    """The index range [i, j) of the points whose x lies in [start, end] (x ascending)."""
    from bisect import bisect_left, bisect_right

    i = 0 if start is None else bisect_left(xs, start)
    j = len(xs) if end is None else bisect_right(xs, end)
    return i, max(i, j)
