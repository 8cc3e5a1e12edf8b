"""Which numbers to compare, and which runs can be compared pair by pair.

* Prediction sets: each run's newest version of ``predictions-<name>``, read back, put in
  a canonical order (sorted by example id) and encoded for :mod:`runtrack.stats` (labels
  as class codes ``0..K-1`` from the set's ``classes``; binary: 1 = the second class).
* Evaluation sets: runs whose prediction sets share ``eval_set`` (hash of ids + y_true)
  were scored on the same examples; sorted by id, their rows line up, so paired tests
  apply. Other runs are only compared through their intervals.
* Repeats: runs with the same ``group``, or (without one) the same config apart from
  seed keys, are repeats of one configuration with different seeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError
from ._common import RunInfo
from .diffs import canonical, flat_config, is_seed_key, map_diff

if TYPE_CHECKING:
    import numpy as np

    from ..client._predictions import Predictions
    from ..entities import ArtifactVersion

__all__ = [
    "EvalData",
    "RepeatGroup",
    "choose_set",
    "default_metric",
    "eval_clusters",
    "load_eval_data",
    "prediction_sets",
    "repeat_groups",
]

PREDICTIONS_TYPE = "predictions"


@dataclass(frozen=True)
class EvalData:
    """One run's prediction set, sorted by example id and encoded for the metric."""

    run: RunInfo
    version: ArtifactVersion
    preds: Predictions
    y: np.ndarray  # encoded true values
    pred: np.ndarray  # the column the metric needs, encoded
    score: np.ndarray | None  # scores (binary: positive class), for plots and secondaries
    labels: np.ndarray | None  # encoded predicted labels, when recorded

    @property
    def eval_set(self) -> str:
        return self.preds.eval_set

    @property
    def task(self) -> str:
        return self.preds.task


def prediction_sets(view: Any) -> dict[str, ArtifactVersion]:
    """``{set name: newest version}`` of the prediction sets a run produced."""
    out: dict[str, ArtifactVersion] = {}
    for v in view.outputs:
        if v.type != PREDICTIONS_TYPE:
            continue
        name = str(v.metadata.get("prediction_set") or v.name.removeprefix("predictions-"))
        if name not in out or v.index > out[name].index:
            out[name] = v
    return out


def choose_set(
    runs: Sequence[RunInfo], sets: Sequence[Mapping[str, Any]], requested: str | None
) -> str:
    """The prediction set to compare on: ``requested``, else the one every run has (the
    one called ``test`` when there are several)."""
    if requested is not None:
        missing = [r.label for r, s in zip(runs, sets, strict=True) if requested not in s]
        if missing:
            have = sorted({n for s in sets for n in s})
            raise ValidationError(
                f"prediction set {requested!r} is missing from run(s) {', '.join(missing)}"
                + (f" (recorded sets: {', '.join(have)})" if have else "")
            )
        return requested
    common = set(sets[0]).intersection(*sets[1:])
    if not common:
        lacking = [r.label for r, s in zip(runs, sets, strict=True) if not s]
        if lacking:
            raise ValidationError(
                f"run(s) {', '.join(lacking)} recorded no prediction set (run.log_predictions); "
                "give --metric NAME to compare a summary metric instead"
            )
        raise ValidationError(
            "the runs share no prediction set name: "
            + "; ".join(
                f"{r.label}: {', '.join(sorted(s))}" for r, s in zip(runs, sets, strict=True)
            )
            + " (choose one with --set NAME)"
        )
    if len(common) == 1:
        return common.pop()
    if "test" in common:
        return "test"
    raise ValidationError(
        f"the runs share several prediction sets ({', '.join(sorted(common))}); "
        "choose one with --set NAME (prediction_set=...)"
    )


def load_predictions(api: Any, version: ArtifactVersion) -> Predictions:
    from ..client._predictions import read_predictions

    handle = api.artifact_handle(version.ref, version.project)
    return read_predictions(handle.download(progress=False), version.metadata)


def default_metric(task: str, has_score: bool, has_pred: bool) -> str:
    if task == "regression":
        return "rmse"
    if task == "binary":
        return "auc" if has_score else "accuracy"
    return "accuracy" if has_pred else "auc"


def _codes(values: np.ndarray, classes: Sequence[Any], what: str, *, strict: bool) -> np.ndarray:
    """Class codes of ``values``; a value outside ``classes`` is an error (``strict``)
    or the code -1 (a multiclass prediction of a class absent from the evaluation set)."""
    import numpy as np

    index = {c: i for i, c in enumerate(classes)}
    raw = values.tolist()
    out = np.empty(len(raw), dtype=np.int64)
    for i, v in enumerate(raw):
        code = index.get(v)
        if code is None:
            if strict:
                shown = ", ".join(repr(c) for c in classes[:6])
                raise ValidationError(f"{what} holds {v!r}, which is not a class ({shown})")
            code = -1
        out[i] = code
    return out


def _sorted(p: Predictions) -> Predictions:
    import numpy as np

    order = np.argsort(p.ids, kind="stable")
    if np.array_equal(order, np.arange(len(order))):
        return p
    return type(p)(
        name=p.name,
        task=p.task,
        ids=p.ids[order],
        y_true=p.y_true[order],
        y_pred=None if p.y_pred is None else p.y_pred[order],
        y_score=None if p.y_score is None else p.y_score[order],
        classes=p.classes,
        eval_set=p.eval_set,
        slices={k: v[order] for k, v in p.slices.items()},
    )


def encode(run: RunInfo, version: ArtifactVersion, preds: Predictions, needs: str) -> EvalData:
    """Sorted by id, labels as class codes, the metric's column picked (``needs``:
    ``y_pred`` or ``y_score``)."""
    import numpy as np

    p = _sorted(preds)
    what = f"run {run.label}'s prediction set {p.name!r}"
    if p.task == "regression":
        y = p.y_true.astype(np.float64)
        labels = None if p.y_pred is None else p.y_pred.astype(np.float64)
    else:
        classes = list(p.classes)
        y = _codes(p.y_true, classes, f"{what} y_true", strict=True)
        labels = (
            None
            if p.y_pred is None
            else _codes(p.y_pred, classes, f"{what} y_pred", strict=p.task == "binary")
        )
    score = p.y_score
    column = labels if needs == "y_pred" else score
    if column is None:
        kind = "predicted labels/values (y_pred)" if needs == "y_pred" else "scores (y_score)"
        has = "y_pred" if p.y_pred is not None else "y_score"
        raise ValidationError(f"the metric needs {kind} but {what} has only {has}")
    return EvalData(run, version, p, y, column, score, labels)


def load_eval_data(
    api: Any,
    runs: Sequence[RunInfo],
    versions: Sequence[ArtifactVersion],
    metric: str,
) -> list[EvalData]:
    """Each run's prediction set, checked to be of one task the metric applies to."""
    from ..stats import get_metric

    preds = [load_predictions(api, v) for v in versions]
    tasks = {p.task for p in preds}
    if len(tasks) > 1:
        raise ValidationError(
            "the prediction sets are of different tasks: "
            + ", ".join(f"{r.label}: {p.task}" for r, p in zip(runs, preds, strict=True))
        )
    task = preds[0].task
    try:
        spec = get_metric(metric, task)
    except ValidationError as exc:
        raise ValidationError(f"{exc.message} (prediction set {preds[0].name!r})") from None
    return [encode(r, v, p, spec.needs) for r, v, p in zip(runs, versions, preds, strict=True)]


def eval_clusters(data: Sequence[EvalData]) -> list[list[int]]:
    """Indices of runs grouped by evaluation set, in order of first appearance. Rows of
    one cluster line up (same ids, sorted); checked."""
    import numpy as np

    clusters: dict[str, list[int]] = {}
    for i, d in enumerate(data):
        clusters.setdefault(d.eval_set, []).append(i)
    for members in clusters.values():
        first = data[members[0]]
        for j in members[1:]:
            other = data[j]
            same = np.array_equal(first.preds.ids, other.preds.ids) and np.array_equal(
                first.y, other.y
            )
            if not same:  # pragma: no cover - the digest makes this a hash collision
                raise ValidationError(
                    f"runs {first.run.label} and {other.run.label} claim the same evaluation "
                    "set but their examples differ"
                )
    return list(clusters.values())


@dataclass
class RepeatGroup:
    """Runs that repeat one configuration (or share a ``group``)."""

    key: str
    kind: str  # "group" | "config"
    members: list[int]
    label: str = ""
    config: dict[str, Any] = field(default_factory=dict)


def repeat_groups(runs: Sequence[RunInfo]) -> list[RepeatGroup]:
    """Groups of at least 2 runs: same ``group``, or the same config apart from seed keys
    (a run with a ``group`` is grouped by it only)."""
    groups: dict[str, RepeatGroup] = {}
    for i, r in enumerate(runs):
        if r.view.group:
            key, kind = f"group:{r.view.group}", "group"
            config: dict[str, Any] = {}
        else:
            config = {k: v for k, v in flat_config(r.view).items() if not is_seed_key(k)}
            key, kind = f"config:{canonical(config)}", "config"
        g = groups.setdefault(key, RepeatGroup(key, kind, [], config=config))
        g.members.append(i)
    found = [g for g in groups.values() if len(g.members) >= 2]
    _label(found, runs)
    return found


def _label(groups: list[RepeatGroup], runs: Sequence[RunInfo]) -> None:
    """Name each group: its ``group``, else the config values that tell it apart from the
    other runs' configs (seed keys left out)."""
    from ._common import fmt_value

    configs = {
        canonical(c): c
        for c in (
            {k: v for k, v in flat_config(r.view).items() if not is_seed_key(k)} for r in runs
        )
    }
    differing: list[str] = []
    if len(configs) > 1:
        distinct = list(configs.values())
        diff = map_diff([str(i) for i in range(len(distinct))], distinct)
        differing = list(diff["differing"])
    for g in groups:
        if g.kind == "group":
            g.label = str(runs[g.members[0]].view.group)
        elif differing:
            parts = [f"{k}={fmt_value(g.config.get(k))}" for k in differing[:3]]
            g.label = ", ".join(parts) + (", ..." if len(differing) > 3 else "")
        else:
            g.label = "same config"
