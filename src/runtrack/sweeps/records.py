"""Sweep records read back from trial rows, and the best trial / Pareto front: pure
Python, so any client (and the store's reads) can show a sweep without Optuna."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..entities import SweepTrial, utc_from_timestamp
from ..validation import UNSTORABLE_TEXT

#: a trial's error text is kept up to this many characters (the rest is cut)
MAX_TRIAL_ERROR = 10_000


def clean_error(text: str) -> str:
    """A trial's error text as it is stored: its first ``MAX_TRIAL_ERROR`` characters, a
    NUL or lone surrogate (which no database keeps as text) replaced by U+FFFD. The text
    is a diagnosis, so it is mended rather than refused: the trial's outcome matters more."""
    return UNSTORABLE_TEXT.sub("\ufffd", text[:MAX_TRIAL_ERROR])


def trial_from_row(row: Mapping[str, Any], sweep_id: str) -> SweepTrial:
    vals = json.loads(row["vals"]) if row.get("vals") else None
    inter = json.loads(row["intermediate"]) if row.get("intermediate") else []
    return SweepTrial(
        sweep_id=sweep_id,
        number=int(row["number"]),
        run_id=row.get("run_id"),
        state=row["state"],
        params=json.loads(row["params"]),
        values=None if vals is None else tuple(float(v) for v in vals),
        intermediate=tuple((int(s), float(v)) for s, v in inter),
        sampler=row.get("sampler"),
        started_at=utc_from_timestamp(row.get("started_at")),
        ended_at=utc_from_timestamp(row.get("ended_at")),
        warm=bool(row.get("warm")),
        error=row.get("error"),
        retry_of=row.get("retry_of"),
        retried=bool(row.get("retried")),
    )


def _ok(t: SweepTrial, n: int) -> bool:
    return (
        t.state == "complete"
        and t.values is not None
        and len(t.values) == n
        and all(math.isfinite(v) for v in t.values)
    )


def best_trial(trials: Iterable[SweepTrial], goal: str) -> SweepTrial | None:
    """The complete trial with the best objective (the earliest among equals)."""
    sign = 1.0 if goal == "minimize" else -1.0
    best: SweepTrial | None = None
    for t in trials:
        if not _ok(t, 1):
            continue
        assert t.values is not None
        if best is None or sign * t.values[0] < sign * best.values[0]:  # type: ignore[index]
            best = t
    return best


def _dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(
        x < y for x, y in zip(a, b, strict=True)
    )


def pareto_front(trials: Iterable[SweepTrial], goals: Sequence[str]) -> list[SweepTrial]:
    """Complete trials no other complete trial beats on every objective, by number."""
    signs = [1.0 if g == "minimize" else -1.0 for g in goals]
    front: list[tuple[list[float], SweepTrial]] = []
    for t in trials:
        if not _ok(t, len(goals)):
            continue
        assert t.values is not None
        v = [s * x for s, x in zip(signs, t.values, strict=True)]
        if any(_dominates(f, v) for f, _ in front):  # equal values: both on the front
            continue
        front = [(f, ft) for f, ft in front if not _dominates(v, f)]
        front.append((v, t))
    return sorted((t for _, t in front), key=lambda t: t.number)
