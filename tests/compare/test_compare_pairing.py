"""Which runs are compared how: a shared evaluation set (rows aligned by id, whatever the
order they were logged in), different evaluation sets (intervals only, never a paired
test), repeats over seeds (mean ± interval, Welch), other tasks and label types."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from _compare_data import eval_set, make_run, scores

import runtrack
from runtrack.stats import roc_auc, summarize_repeats, welch_test


def _doc(c: Any) -> dict[str, Any]:
    out: dict[str, Any] = c.to_json()
    return out


def test_rows_are_aligned_by_id_whatever_the_logged_order() -> None:
    ids, y, shared = eval_set(600)
    sa, sb = scores(y, shared, 1), scores(y, shared, 2, shift=0.3)
    order = np.random.default_rng(3).permutation(len(y))
    a = make_run("A", y=y, score=sa, ids=ids)
    b = make_run("B", y=y[order], score=sb[order], ids=ids[order])
    doc = _doc(runtrack.Api().compare([a, b], "auc", n_boot=200))
    (p,) = doc["pairs"]
    assert p["paired"] is True and p["test"] == "delong"
    assert p["a_value"] == pytest.approx(roc_auc(y, sa))
    assert p["b_value"] == pytest.approx(roc_auc(y, sb))


def test_runs_on_different_evaluation_sets_get_no_paired_test() -> None:
    ids, y, shared = eval_set(800)
    other_ids, other_y, other_shared = eval_set(800, seed=9)
    a = make_run("A", y=y, score=scores(y, shared, 1), ids=ids)
    b = make_run("B", y=other_y, score=scores(other_y, other_shared, 2, shift=2.0), ids=other_ids)
    c = make_run("C", y=y, score=scores(y, shared, 3), ids=ids)
    result = runtrack.Api().compare([a, b, c], "auc", n_boot=300)
    doc = _doc(result)
    ab, ac, bc = doc["pairs"]
    for p in (ab, bc):  # across evaluation sets: intervals only
        assert p["paired"] is False and p["test"] == "ci_overlap"
        assert p["p_value"] is None and p["p_value_adjusted"] is None
        assert "evaluated on different examples, so no paired test applies" in p["sentence"]
    # the interval of differences both runs' intervals allow
    m = {x["run"]: x for x in doc["metrics"]}
    assert ab["ci"] == pytest.approx([m[b]["ci"][0] - m[a]["ci"][1], m[b]["ci"][1] - m[a]["ci"][0]])
    assert ab["verdict"] == "b_better"  # intervals far apart (a large planted effect)
    assert "do not overlap" in ab["sentence"]
    # A and C share a set: a paired test, Holm over the one paired comparison only
    assert ac["paired"] is True and ac["test"] == "delong"
    assert ac["p_value_adjusted"] == pytest.approx(ac["p_value"])
    assert len(doc["eval_sets"]) == 2
    assert any("2 different evaluation sets" in n for n in doc["notes"])
    assert doc["sentences"][0] == doc["notes"][0]


def test_two_configs_times_three_seeds_are_grouped_as_repeats() -> None:
    ids, y, shared = eval_set(500)
    runs = []
    for lr, shift in ((0.1, 0.0), (0.01, 0.8)):
        for seed in range(3):
            runs.append(
                make_run(
                    f"lr{lr}-s{seed}",
                    y=y,
                    score=scores(y, shared, 100 * seed + int(1000 * lr), shift=shift),
                    ids=ids,
                    config={"lr": lr, "model": {"depth": 3}, "seed": seed},
                )
            )
    result = runtrack.Api().compare(runs, "auc", n_boot=200)
    doc = _doc(result)
    assert len(doc["pairs"]) == 15
    groups = doc["repeats"]["groups"]
    assert [g["label"] for g in groups] == ["lr=0.1", "lr=0.01"]
    assert [g["runs"] for g in groups] == [runs[:3], runs[3:]]
    values = {m["run"]: m["value"] for m in doc["metrics"]}
    first = summarize_repeats([values[r] for r in runs[:3]])
    assert groups[0]["n"] == 3 and groups[0]["mean"] == pytest.approx(first.mean)
    assert groups[0]["ci"] == pytest.approx(list(first.ci or ()))
    (w,) = doc["repeats"]["pairs"]
    want = welch_test([values[r] for r in runs[:3]], [values[r] for r in runs[3:]])
    assert w["test"] == "welch" and w["p_value"] == pytest.approx(want.p_value)
    assert w["p_value_adjusted"] == pytest.approx(want.p_value)  # one group pair
    assert w["verdict"] == "b_better" and w["delta"] > 0
    assert w["sentence"].startswith("Over seeds, group lr=0.01 is better than group lr=0.1")
    assert w["sentence"] in doc["sentences"]
    # the seeds are what differs inside a group
    assert "seed" in doc["diffs"]["config"]["differing"]
    assert set(doc["diffs"]["seeds"]["differing"]) == {"config.seed"}
    assert runtrack.Api().compare(runs, "auc", n_boot=200, group_repeats=False).repeats == {
        "groups": [],
        "pairs": [],
    }


def test_repeats_of_summary_metrics_by_group_name() -> None:
    rng = np.random.default_rng(0)
    runs = [
        make_run(f"{g}{i}", group=g, summary={"val_acc": base + 0.002 * rng.normal()})
        for g, base in (("baseline", 0.80), ("wide", 0.81))
        for i in range(3)
    ]
    doc = _doc(runtrack.Api().compare(runs, "val_acc"))
    groups = doc["repeats"]["groups"]
    assert [g["label"] for g in groups] == ["baseline", "wide"]
    assert all(g["kind"] == "group" and g["ci"][0] < g["mean"] < g["ci"][1] for g in groups)
    (w,) = doc["repeats"]["pairs"]
    assert w["verdict"] == "b_better" and w["p_value"] < 0.05
    assert all(p["test"] == "none" for p in doc["pairs"])  # single runs: nothing per pair


def test_string_labels_multiclass_and_regression() -> None:
    rng = np.random.default_rng(4)
    n = 400
    ids = np.arange(n)
    # binary with string classes: "yes" (sorted second) is the positive class
    y = np.where(rng.random(n) < 0.5, "yes", "no")
    signal = (y == "yes") + rng.normal(size=n)
    a = make_run(
        "A",
        y=y,
        score=1 / (1 + np.exp(-signal)),
        ids=ids,
        labels=np.where(signal > 0.5, "yes", "no"),
    )
    b = make_run(
        "B",
        y=y,
        score=1 / (1 + np.exp(-signal - rng.normal(size=n))),
        ids=ids,
        labels=np.where(signal > 0.5, "yes", "no"),
    )
    result = runtrack.Api().compare([a, b], n_boot=200)
    assert result.metric == "auc" and result.pairs[0].a_value == pytest.approx(
        roc_auc((y == "yes").astype(int), 1 / (1 + np.exp(-signal)))
    )
    assert runtrack.Api().compare([a, b], "f1", n_boot=200).pairs[0].test == "paired_bootstrap"
    # multiclass: accuracy by default (labels recorded), McNemar
    k = rng.integers(0, 3, n)
    m1 = make_run(
        "M1", y=k, labels=np.where(rng.random(n) < 0.7, k, (k + 1) % 3), ids=ids, set_name="multi"
    )
    m2 = make_run(
        "M2", y=k, labels=np.where(rng.random(n) < 0.9, k, (k + 2) % 3), ids=ids, set_name="multi"
    )
    mc = runtrack.Api().compare([m1, m2], n_boot=200)
    assert mc.metric == "accuracy" and mc.task == "multiclass"
    assert mc.pairs[0].test.startswith("mcnemar") and mc.pairs[0].verdict == "b_better"
    # regression: RMSE, lower is better, paired bootstrap
    t = rng.normal(size=n)
    r1 = make_run("R1", y=t, labels=t + rng.normal(scale=1.0, size=n), ids=ids, set_name="reg")
    r2 = make_run("R2", y=t, labels=t + rng.normal(scale=0.5, size=n), ids=ids, set_name="reg")
    reg = runtrack.Api().compare([r1, r2], n_boot=300)
    assert reg.metric == "rmse" and reg.higher_is_better is False
    assert reg.pairs[0].verdict == "b_better"


def test_the_prediction_set_is_chosen_or_asked_for() -> None:
    ids, y, shared = eval_set(300)
    a = make_run("A", y=y, score=scores(y, shared, 1), ids=ids, set_name="val")
    b = make_run("B", y=y, score=scores(y, shared, 2), ids=ids, set_name="val")
    assert runtrack.Api().compare([a, b], n_boot=200).prediction_set == "val"
    c = make_run("C", summary={"auc": 0.9})
    with pytest.raises(runtrack.errors.ValidationError, match="C recorded no prediction set"):
        runtrack.Api().compare([a, c])
    # "auc" also names C's summary value: all runs are compared on their summaries
    c_auc = make_run("D", summary={"auc": 0.9})
    a_auc = make_run("E", summary={"auc": 0.8}, y=y, score=scores(y, shared, 1), ids=ids)
    doc = runtrack.Api().compare([a_auc, c_auc], "auc").to_json()
    assert doc["metrics"][0]["source"] == "summary" and doc["pairs"][0]["test"] == "none"
    assert "D recorded no prediction set" in doc["notes"][0]
