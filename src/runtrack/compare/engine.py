"""``compare_runs``: from run ids to a :class:`~runtrack.compare.report.Comparison`.

1. Resolve the runs and label them (the name; ``name (id)`` when names collide).
2. Pick the numbers: a prediction set (``prediction_set``, else the one all runs share)
   when the metric is a registered one (:data:`runtrack.stats.METRICS`) and the runs
   logged predictions; else the runs' summary values of ``metric``.
3. Each run's metric with its bootstrap interval (:mod:`.measures`).
4. Pairs, in the order the runs were given (``a`` before ``b``):

   * same evaluation set: :func:`runtrack.stats.compare_pair` (DeLong for a binary AUC,
     McNemar for accuracy, paired bootstrap otherwise), then :func:`runtrack.stats.judge`
     once over every paired comparison (Holm across them);
   * different evaluation sets: no paired test. The pair's ``ci`` is the range of
     differences both runs' intervals allow, ``[lo_b - hi_a, hi_b - lo_a]``; a run is
     called better only when the intervals do not overlap. ``p_value`` is null and the
     ``test`` is ``"ci_overlap"``;
   * summary values only: nothing to test (``"test": "none"``, ``indistinguishable``).

5. Repeats (:func:`.pairing.repeat_groups`): mean ± t-interval over seeds per group, and
   Welch's test between groups (Holm across group pairs).
6. The recommendation (:mod:`.recommend`) and the diffs (:mod:`.diffs`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import RunNotFoundError, ValidationError
from ._common import Criterion, RunInfo, fmt_num, guess_higher_is_better, parse_criterion
from ._common import parse_metric as _parse_metric
from .diffs import diff_runs
from .measures import RunMetric, primary_from_predictions, primary_from_summary, secondary_value
from .pairing import (
    EvalData,
    RepeatGroup,
    choose_set,
    default_metric,
    eval_clusters,
    load_eval_data,
    prediction_sets,
    repeat_groups,
)
from .recommend import recommend

if TYPE_CHECKING:
    import numpy.typing as npt

    from ..stats import Comparison as PairComparison
    from .report import Comparison

__all__ = ["Pair", "compare_runs", "paired_comparisons"]


@dataclass(frozen=True)
class Pair:
    """Run ``b`` against run ``a`` on the primary metric (``delta = b_value - a_value``).

    The first eleven fields are the public JSON contract of ``runtrack compare --json``.
    ``paired``: a paired test on a shared evaluation set; ``tested``: some evidence (a
    paired test or two intervals) stands behind the verdict.
    """

    a: str
    b: str
    metric: str
    a_value: float
    b_value: float
    delta: float
    ci: tuple[float | None, float | None]
    p_value: float | None
    p_value_adjusted: float | None
    test: str
    verdict: str
    a_name: str
    b_name: str
    paired: bool
    tested: bool
    n: int | None
    se: float | None
    effect_size: float | None
    effect_size_kind: str | None
    higher_is_better: bool
    eval_set: str | None
    sentence: str

    def to_json(self) -> dict[str, Any]:
        from ._common import jsonable

        return {
            "a": self.a,
            "b": self.b,
            "metric": self.metric,
            "a_value": jsonable(self.a_value),
            "b_value": jsonable(self.b_value),
            "delta": jsonable(self.delta),
            "ci": [jsonable(self.ci[0]), jsonable(self.ci[1])],
            "p_value": jsonable(self.p_value),
            "p_value_adjusted": jsonable(self.p_value_adjusted),
            "test": self.test,
            "verdict": self.verdict,
            "a_name": self.a_name,
            "b_name": self.b_name,
            "paired": self.paired,
            "tested": self.tested,
            "n": self.n,
            "se": jsonable(self.se),
            "effect_size": jsonable(self.effect_size),
            "effect_size_kind": self.effect_size_kind,
            "higher_is_better": self.higher_is_better,
            "eval_set": self.eval_set,
            "sentence": self.sentence,
        }


# -- inputs ----------------------------------------------------------------------------
def _check_args(alpha: Any, n_boot: Any, seed: Any) -> tuple[float, int, int]:
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 0.5:
        raise ValidationError(f"alpha must be a number between 0 and 0.5; got {alpha!r}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 100:
        raise ValidationError(f"n_boot must be an integer of at least 100; got {n_boot!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValidationError(f"seed must be a non-negative integer; got {seed!r}")
    return float(alpha), n_boot, seed


def resolve_runs(api: Any, runs: Any) -> list[RunInfo]:
    """RunInfos with unique labels, from run ids and/or RunViews (at least 2, distinct)."""
    from ..client.api import RunView

    if isinstance(runs, str | bytes) or not isinstance(runs, Sequence):
        raise ValidationError("runs must be a list of run ids or runs (at least 2)")
    if len(runs) < 2:
        raise ValidationError(f"compare needs at least 2 runs; got {len(runs)}")
    views = []
    for r in runs:
        if isinstance(r, RunView):
            views.append(r)
        elif isinstance(r, str) and r:
            try:
                views.append(api.run(r))
            except RunNotFoundError:
                raise RunNotFoundError(f"no run {r!r} (compare: unknown run)") from None
        else:
            raise ValidationError(f"runs must be run ids or runs; got {type(r).__name__}")
    ids = [v.id for v in views]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise ValidationError(f"run {', '.join(twice)} is given more than once")
    names = [str(v.name) for v in views]
    return [
        RunInfo(v.id, n, n if names.count(n) == 1 and n else f"{n} ({v.id})", v)
        for v, n in zip(views, names, strict=True)
    ]


# -- pairs -----------------------------------------------------------------------------
def paired_comparisons(
    task: str,
    metric: str,
    y: npt.ArrayLike,
    preds: Mapping[str, npt.ArrayLike],
    alpha: float,
    *,
    n_boot: int = 2000,
    seed: int = 0,
) -> list[PairComparison]:
    """Every pair of ``preds`` (label -> aligned predictions), earlier one as ``a``,
    with the test :func:`runtrack.stats.compare_pair` picks (not yet Holm-adjusted)."""
    from ..stats import compare_pair

    return [
        compare_pair(
            task,  # type: ignore[arg-type]
            metric,
            y,
            preds[a],
            preds[b],
            alpha,
            names=(a, b),
            n_boot=n_boot,
            seed=seed,
        )
        for a, b in itertools.combinations(preds, 2)
    ]


def _unpaired(
    a: RunInfo, b: RunInfo, ma: RunMetric, mb: RunMetric, metric: str, hib: bool, alpha: float
) -> Pair:
    delta = mb.value - ma.value
    level = f"{100 * (1 - alpha):g}%"
    if ma.ci is None or mb.ci is None:
        sentence = (
            f"{a.label} and {b.label} have only summary values of {metric} "
            f"({fmt_num(ma.value)} and {fmt_num(mb.value)}): without per-example predictions "
            "the difference cannot be tested (log them with run.log_predictions, or repeat "
            "each configuration over several seeds)"
        )
        return Pair(
            a.id,
            b.id,
            metric,
            ma.value,
            mb.value,
            delta,
            (None, None),
            None,
            None,
            "none",
            "indistinguishable",
            a.label,
            b.label,
            False,
            False,
            None,
            None,
            None,
            None,
            hib,
            None,
            sentence,
        )
    lo, hi = mb.ci[0] - ma.ci[1], mb.ci[1] - ma.ci[0]
    verdict = "indistinguishable"
    if lo > 0 or hi < 0:
        b_higher = lo > 0
        verdict = "b_better" if b_higher == hib else "a_better"
    head = (
        f"{a.label} and {b.label} were evaluated on different examples, so no paired test "
        f"applies; comparing {level} intervals only"
    )
    intervals = (
        f"{a.label} {fmt_num(ma.value)} [{fmt_num(ma.ci[0])}, {fmt_num(ma.ci[1])}], "
        f"{b.label} {fmt_num(mb.value)} [{fmt_num(mb.ci[0])}, {fmt_num(mb.ci[1])}]"
    )
    if verdict == "indistinguishable":
        sentence = f"{head}: they overlap ({intervals}), so they are not distinguishable"
    else:
        better, worse = (b, a) if verdict == "b_better" else (a, b)
        sentence = (
            f"{head}: they do not overlap ({intervals}), so {better.label} is better than "
            f"{worse.label} on {metric} (on different data)"
        )
    se = None
    if ma.se is not None and mb.se is not None:
        se = (ma.se**2 + mb.se**2) ** 0.5
    return Pair(
        a.id,
        b.id,
        metric,
        ma.value,
        mb.value,
        delta,
        (lo, hi),
        None,
        None,
        "ci_overlap",
        verdict,
        a.label,
        b.label,
        False,
        True,
        None,
        se,
        delta,
        "difference",
        hib,
        None,
        sentence,
    )


def _same_number(shown: float, computed: float) -> float:
    """The run's value as the metrics table shows it when the test computed the same
    number (up to rounding: DeLong and the bootstrap sum in different orders)."""
    return shown if math.isclose(shown, computed, rel_tol=1e-9, abs_tol=1e-12) else computed


def _pairs(
    runs: Sequence[RunInfo],
    metrics: Sequence[RunMetric],
    data: Sequence[EvalData] | None,
    metric: str,
    hib: bool,
    alpha: float,
    n_boot: int,
    seed: int,
) -> tuple[list[Pair], list[list[int]]]:
    from ..stats import judge

    clusters = eval_clusters(data) if data is not None else [[i] for i in range(len(runs))]
    paired: dict[tuple[int, int], PairComparison] = {}
    if data is not None:
        for members in clusters:
            if len(members) < 2:
                continue
            first = data[members[0]]
            preds = {runs[i].label: data[i].pred for i in members}
            found = paired_comparisons(
                first.task, metric, first.y, preds, alpha, n_boot=n_boot, seed=seed
            )
            for (i, j), c in zip(itertools.combinations(members, 2), found, strict=True):
                paired[(i, j)] = c
    keys = list(paired)
    verdicts = dict(zip(keys, judge([paired[k] for k in keys], alpha), strict=True))
    out: list[Pair] = []
    for i, j in itertools.combinations(range(len(runs)), 2):
        a, b = runs[i], runs[j]
        v = verdicts.get((i, j))
        if v is None:
            out.append(_unpaired(a, b, metrics[i], metrics[j], metric, hib, alpha))
            continue
        c = v.comparison
        eval_set = data[i].eval_set if data is not None else None
        out.append(
            Pair(
                a.id,
                b.id,
                metric,
                _same_number(metrics[i].value, c.a_value),
                _same_number(metrics[j].value, c.b_value),
                c.delta,
                c.ci,
                c.p_value,
                v.p_value_adjusted,
                c.test,
                v.verdict,
                a.label,
                b.label,
                True,
                True,
                c.n,
                c.se,
                c.effect_size,
                c.effect_size_kind,
                c.higher_is_better,
                eval_set,
                v.sentence,
            )
        )
    return out, clusters


# -- repeats ---------------------------------------------------------------------------
def _repeats(
    runs: Sequence[RunInfo],
    metrics: Sequence[RunMetric],
    groups: Sequence[RepeatGroup],
    metric: str,
    hib: bool,
    alpha: float,
) -> dict[str, Any]:
    from ..stats import holm, summarize_repeats, welch_test

    out_groups = []
    for g in groups:
        s = summarize_repeats([metrics[i].value for i in g.members], alpha)
        out_groups.append(
            {
                "label": g.label,
                "kind": g.kind,
                "runs": [runs[i].id for i in g.members],
                "n": s.n,
                "mean": s.mean,
                "std": s.std,
                "ci": list(s.ci) if s.ci else [None, None],
                "note": s.note,
            }
        )
    tests = []
    for ga, gb in itertools.combinations(groups, 2):
        w = welch_test(
            [metrics[i].value for i in ga.members], [metrics[i].value for i in gb.members], alpha
        )
        tests.append((ga, gb, w))
    finite = [k for k, (_, _, w) in enumerate(tests) if w.p_value == w.p_value]
    adjusted = holm([tests[k][2].p_value for k in finite]).tolist() if finite else []
    adj_of = dict(zip(finite, adjusted, strict=True))
    level = f"{100 * (1 - alpha):g}%"
    out_pairs = []
    for k, (ga, gb, w) in enumerate(tests):
        p_adj = adj_of.get(k)
        verdict = "indistinguishable"
        if p_adj is not None and p_adj < alpha and w.delta != 0:
            verdict = "b_better" if (w.delta > 0) == hib else "a_better"
        if p_adj is None:
            sentence = f"Groups {ga.label} and {gb.label}: {w.note}"
        elif verdict == "indistinguishable":
            sentence = (
                f"Over seeds, groups {ga.label} ({w.n_a} runs, mean {fmt_num(w.mean_a)}) and "
                f"{gb.label} ({w.n_b} runs, mean {fmt_num(w.mean_b)}) are not distinguishable "
                f"on {metric} at \u03b1={alpha:g} (Welch p={fmt_num(p_adj, 2)}"
                + (", Holm-adjusted)" if len(finite) > 1 else ")")
            )
        else:
            better, worse = (gb, ga) if verdict == "b_better" else (ga, gb)
            sign = 1.0 if verdict == "b_better" else -1.0
            assert w.ci is not None
            lo, hi = sorted((sign * w.ci[0], sign * w.ci[1]))
            sentence = (
                f"Over seeds, group {better.label} is better than group {worse.label} on "
                f"{metric} (\u0394={fmt_num(sign * w.delta)}, {level} CI [{fmt_num(lo)}, "
                f"{fmt_num(hi)}], Welch p={fmt_num(p_adj, 2)}"
                + (", Holm-adjusted)" if len(finite) > 1 else ")")
            )
        out_pairs.append(
            {
                "a": ga.label,
                "b": gb.label,
                "a_runs": [runs[i].id for i in ga.members],
                "b_runs": [runs[i].id for i in gb.members],
                "metric": metric,
                "a_mean": w.mean_a,
                "b_mean": w.mean_b,
                "delta": w.delta,
                "ci": list(w.ci) if w.ci else [None, None],
                "p_value": w.p_value,
                "p_value_adjusted": p_adj,
                "test": "welch",
                "df": w.df,
                "verdict": verdict,
                "note": w.note,
                "sentence": sentence,
            }
        )
    return {"groups": out_groups, "pairs": out_pairs}


# -- the whole comparison -----------------------------------------------------------------
def _all_indistinguishable(
    runs: Sequence[RunInfo],
    pairs: Sequence[Pair],
    clusters: Sequence[Sequence[int]],
    metric: str,
    alpha: float,
) -> list[str]:
    """One sentence per evaluation set of 3+ runs where no paired pair differs."""
    out = []
    for members in clusters:
        if len(members) < 3:
            continue
        ids = {runs[i].id for i in members}
        inside = [p for p in pairs if p.paired and p.a in ids and p.b in ids]
        if inside and all(p.verdict == "indistinguishable" for p in inside):
            names = [runs[i].label for i in members]
            listed = ", ".join(names[:-1]) + f" and {names[-1]}"
            n = inside[0].n
            out.append(
                f"{listed} are not distinguishable on {metric} at \u03b1={alpha:g}"
                + (f" on n={n:,} examples" if n else "")
            )
    return out


def compare_runs(
    api: Any,
    runs: Sequence[Any],
    metric: str | None = None,
    *,
    prediction_set: str | None = None,
    alpha: float = 0.05,
    secondary: Sequence[str] | str = (),
    group_repeats: bool = True,
    n_boot: int = 2000,
    seed: int = 0,
) -> Comparison:
    """See :meth:`runtrack.Api.compare`."""
    from ..stats import METRICS
    from .report import Comparison

    alpha, n_boot, seed = _check_args(alpha, n_boot, seed)
    infos = resolve_runs(api, runs)
    name, said_hib = _parse_metric(metric) if metric is not None else (None, None)
    sets = [prediction_sets(r.view) for r in infos]
    use_predictions = prediction_set is not None or (
        any(sets) and (name is None or name in METRICS)
    )
    notes: list[str] = []
    lacking = [r.label for r, s in zip(infos, sets, strict=True) if not s]
    if (
        use_predictions
        and prediction_set is None
        and lacking
        and name is not None
        and all(_has_summary(r, name) for r in infos)  # e.g. "auc" logged as a summary
    ):
        use_predictions = False
        notes.append(
            f"{', '.join(lacking)} recorded no prediction set: comparing the runs' "
            f"summary values of {name} (no intervals, no paired tests)"
        )
    data: list[EvalData] | None = None
    task: str | None = None
    set_name: str | None = None
    if use_predictions:
        if name is not None and name not in METRICS:
            raise ValidationError(
                f"metric {name!r} cannot be computed from predictions; known metrics: "
                f"{', '.join(METRICS)} (or omit --set to compare a summary metric)"
            )
        set_name = choose_set(infos, sets, prediction_set)
        versions = [s[set_name] for s in sets]
        meta = versions[0].metadata
        task = str(meta.get("task"))
        if name is None:
            name = default_metric(task, bool(meta.get("has_score")), bool(meta.get("has_pred")))
        data = load_eval_data(api, infos, versions, name)
        hib = METRICS[name].higher_is_better
        if said_hib is not None and said_hib != hib:
            raise ValidationError(
                f"{name} is {'higher' if hib else 'lower'}-is-better; drop the ':min'/':max'"
            )
        metrics = [primary_from_predictions(d, name, alpha, n_boot, seed) for d in data]
    else:
        if name is None:
            raise ValidationError(
                "none of the runs recorded a prediction set (run.log_predictions): name a "
                "summary metric to compare with --metric NAME (metric=...)"
            )
        if said_hib is not None:
            hib = said_hib
        elif name in METRICS:
            hib = METRICS[name].higher_is_better
        else:
            hib = guess_higher_is_better(name)
            notes.append(
                f"{name} is taken as {'higher' if hib else 'lower'}-is-better; write "
                f"'{name}:{'min' if hib else 'max'}' to say otherwise"
            )
        metrics = [primary_from_summary(r, name, has_sets=any(sets)) for r in infos]

    criteria = _criteria(secondary, hib)
    pairs, clusters = _pairs(infos, metrics, data, name, hib, alpha, n_boot, seed)
    if data is not None and len(clusters) > 1:
        notes.append(
            "the runs were evaluated on "
            + f"{len(clusters)} different evaluation sets ("
            + "; ".join(", ".join(infos[i].label for i in c) for c in clusters)
            + "): runs on different sets are compared by their intervals only, never by a "
            "paired test"
        )
    groups = repeat_groups(infos) if group_repeats else []
    repeats = _repeats(infos, metrics, groups, name, hib, alpha)
    secondary_values = {
        r.id: {
            c.name: dict(
                zip(
                    ("value", "source"),
                    secondary_value(c, r, data[i] if data else None, name, hib),
                    strict=True,
                )
            )
            for c in criteria
        }
        for i, r in enumerate(infos)
    }
    rec = recommend(infos, metrics, pairs, criteria, secondary_values, name, hib, alpha)
    sentences = [
        *notes,
        *(p.sentence for p in pairs),
        *_all_indistinguishable(infos, pairs, clusters, name, alpha),
        *(p["sentence"] for p in repeats["pairs"]),
        rec["sentence"],
    ]
    return Comparison(
        runs=infos,
        metric=name,
        higher_is_better=hib,
        alpha=alpha,
        prediction_set=set_name,
        task=task,
        metrics=metrics,
        pairs=pairs,
        eval_sets=[
            {
                "eval_set": data[c[0]].eval_set,
                "n": len(data[c[0]].y),
                "runs": [infos[i].id for i in c],
            }
            for c in clusters
        ]
        if data is not None
        else [],
        repeats=repeats,
        criteria=criteria,
        secondary=secondary_values,
        recommendation=rec,
        diffs=diff_runs(infos),
        sentences=sentences,
        notes=notes,
        data=data,
        n_boot=n_boot,
        seed=seed,
    )


def _has_summary(run: RunInfo, name: str) -> bool:
    value = run.view.summary.get(name)
    return isinstance(value, int | float) and not isinstance(value, bool)


def _criteria(secondary: Sequence[str] | str, hib: bool) -> list[Criterion]:
    if isinstance(secondary, str):
        secondary = [s for s in secondary.split(",") if s.strip()]
    out = [parse_criterion(s, hib) for s in secondary]
    names = [c.name for c in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValidationError(f"secondary criterion {', '.join(twice)} is given twice")
    return out
