"""Midranks: the 1-based ranks of a sample with tied values sharing their mean rank."""

from __future__ import annotations

import numpy as np

from ._types import FloatArray

__all__ = ["midranks"]


def midranks(x: FloatArray) -> FloatArray:
    """Ranks 1..n of ``x`` (1-D), ties given the mean of the ranks they span. O(n log n)."""
    n = x.size
    order = np.argsort(x, kind="stable")
    xs = x[order]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    ends = np.r_[starts[1:], n]
    out = np.empty(n, dtype=np.float64)
    out[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return out
