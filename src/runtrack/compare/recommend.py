"""Which run to pick, and why, in one sentence.

1. The *best* run has the best value of the primary metric (ties: the one given first).
2. The *candidates* are the best run and every run whose comparison with it found no
   difference: a paired test that is ``indistinguishable`` after Holm, or, on different
   evaluation sets, intervals that overlap. A run that could not be tested against the
   best (summary values only) is not a candidate: nothing says it is as good.
3. Among the candidates the secondary criteria decide, in the order given
   (lexicographic; a run without a value for a criterion comes last on it); then the
   primary metric. Without secondary criteria the best run is recommended, and the
   sentence says which runs are as good.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._common import Criterion, RunInfo, fmt_bytes, fmt_num

if TYPE_CHECKING:
    from .engine import Pair
    from .measures import RunMetric

__all__ = ["recommend"]


def _listing(names: Sequence[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + f" and {names[-1]}"


def _fmt(criterion: str, value: float | None) -> str:
    if value is None:
        return "not recorded"
    return fmt_bytes(value) if criterion == "model_size" else fmt_num(value)


def _decider(
    runs: Sequence[RunInfo],
    candidates: Sequence[int],
    chosen: int,
    criteria: Sequence[Criterion],
    value: Any,
) -> str:
    """Which criterion set the chosen run apart, in words."""
    tied = list(candidates)
    for c in criteria:
        values = {i: value(i, c) for i in tied}
        if len(set(values.values())) == 1 or values[chosen] is None:
            continue  # all equal (or all missing): says nothing
        same = [i for i in tied if values[i] == values[chosen]]
        if len(same) > 1:
            tied = same
            continue
        word = "lowest" if c.goal == "min" else "highest"
        lead = "among them"
        if len(tied) < len(candidates):
            lead = f"{_listing([runs[i].label for i in tied])} tie on the criteria before; of them"
        others = ", ".join(
            f"{runs[i].label} {_fmt(c.name, values[i])}" for i in tied if i != chosen
        )
        mine = _fmt(c.name, values[chosen])
        return f"{lead} {runs[chosen].label} has the {word} {c.name} ({mine}; {others})"
    named = ", ".join(c.name for c in criteria)
    return f"they do not differ on {named}, so the best on the primary metric is kept"


def recommend(
    runs: Sequence[RunInfo],
    metrics: Sequence[RunMetric],
    pairs: Sequence[Pair],
    criteria: Sequence[Criterion],
    secondary: Mapping[str, Mapping[str, Mapping[str, Any]]],
    metric: str,
    hib: bool,
    alpha: float,
) -> dict[str, Any]:
    sign = 1.0 if hib else -1.0
    best = max(range(len(runs)), key=lambda i: (sign * metrics[i].value, -i))
    best_id = runs[best].id
    by_pair = {(p.a, p.b): p for p in pairs} | {(p.b, p.a): p for p in pairs}
    candidates = [best]
    worse: list[int] = []
    untested: list[int] = []
    for i, r in enumerate(runs):
        if i == best:
            continue
        p = by_pair[(best_id, r.id)]
        if not p.tested:
            untested.append(i)
        elif p.verdict == "indistinguishable":
            candidates.append(i)
        else:
            worse.append(i)
    candidates.sort()

    def value(i: int, c: Criterion) -> float | None:
        v = secondary[runs[i].id][c.name]["value"]
        return None if v is None else float(v)

    def key(i: int) -> tuple[Any, ...]:
        parts: list[Any] = []
        for c in criteria:
            v = value(i, c)
            parts.append((1, 0.0) if v is None else (0, v if c.goal == "min" else -v))
        return (*parts, -sign * metrics[i].value, i)

    chosen = min(candidates, key=key) if criteria else best
    level = f"\u03b1={alpha:g}"
    label = runs[chosen].label
    best_text = f"{metric} ({fmt_num(metrics[best].value)})"
    if len(candidates) == 1:
        sentence = f"Recommend {label}: it has the best {best_text}"
        if worse:
            listed = _listing([runs[i].label for i in worse])
            sentence += f" and is better than {listed} at {level}"
        if untested:
            sentence += (
                f"; {_listing([runs[i].label for i in untested])} could not be tested "
                "against it (no per-example predictions)"
            )
    elif not criteria:
        others = [runs[i].label for i in candidates if i != best]
        sentence = (
            f"Recommend {label}: it has the best {best_text}, but "
            f"{_listing(others)} {'is' if len(others) == 1 else 'are'} not significantly "
            f"worse at {level}; name secondary criteria (e.g. --secondary "
            "latency_ms:min,model_size:min) to choose among them"
        )
    else:
        names = [runs[i].label for i in candidates]
        why = (
            f"{_listing(names)} are not significantly worse than the best on {metric} "
            f"({runs[best].label}: {fmt_num(metrics[best].value)}) at {level}; "
        )
        sentence = f"Recommend {label}: {why}{_decider(runs, candidates, chosen, criteria, value)}"
    return {
        "run": runs[chosen].id,
        "label": label,
        "best": best_id,
        "candidates": [runs[i].id for i in candidates],
        "criteria": [{"name": c.name, "goal": c.goal} for c in criteria],
        "sentence": sentence,
    }
