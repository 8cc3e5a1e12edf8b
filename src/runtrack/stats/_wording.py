"""Plain-words sentences for comparison verdicts, and the number formats they use."""

from __future__ import annotations

import math

from .power import needed_n

__all__ = ["fmt_p", "indistinguishable_sentence", "significant_sentence"]


def _decimals(*values: float) -> int:
    """Enough decimals to show the largest value to one significant digit (at least 3)."""
    ref = max((abs(x) for x in values if math.isfinite(x)), default=0.0)
    if ref == 0.0:
        return 3
    return min(10, max(3, -math.floor(math.log10(ref))))


def _num(x: float, decimals: int) -> str:
    text = f"{x:.{decimals}f}"
    return "0" + text[2:] if text.startswith("-0") and float(text) == 0.0 else text


def fmt_p(p: float) -> str:
    return "p<0.001" if p < 0.001 else f"p={p:.2g}"


def _about(n: int) -> str:
    """``n`` rounded to 2 significant digits, with thousands separators."""
    if n < 100:
        return f"{n:,}"
    scale = 10 ** (len(str(n)) - 2)
    return f"{round(n / scale) * scale:,}"


def significant_sentence(
    better: str,
    worse: str,
    metric: str,
    delta: float,
    ci: tuple[float, float],
    alpha: float,
    p_adjusted: float,
    m: int,
) -> str:
    d = _decimals(delta, *ci)
    p = fmt_p(p_adjusted) if m == 1 else "Holm-adjusted " + fmt_p(p_adjusted)
    return (
        f"{better} is better than {worse} on {metric} (\u0394={_num(delta, d)}, "
        f"{100 * (1 - alpha):g}% CI [{_num(ci[0], d)}, {_num(ci[1], d)}], {p})"
    )


def indistinguishable_sentence(
    a: str,
    b: str,
    metric: str,
    n: int,
    alpha: float,
    p_value: float,
    m: int,
    se: float,
    effect: float,
) -> str:
    """``effect``: the difference to size the study for (0 or less: say nothing)."""
    head = (
        f"{a} and {b} are not distinguishable on {metric} at \u03b1={alpha:g} on n={n:,} examples"
    )
    if m > 1 and p_value < alpha:
        return f"{head} after Holm correction over {m} comparisons (unadjusted {fmt_p(p_value)})"
    if not (effect > 0.0 and se > 0.0 and math.isfinite(se)):
        return head
    needed = needed_n(se, n, effect, alpha)
    size = _num(effect, _decimals(effect))
    if needed <= n:
        return (
            f"{head}; n={n:,} would detect a {size} difference 80% of the time, "
            "so a real difference is probably smaller"
        )
    return f"{head}; about n={_about(needed)} would be needed to tell a {size} difference"
