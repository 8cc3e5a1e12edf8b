"""run.log_predictions: per-example records stored compactly, read back equal, the
evaluation set recognised across runs, bad input refused."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import runtrack
from runtrack.client._predictions import read_predictions
from runtrack.errors import ValidationError

pytestmark = pytest.mark.usefixtures("sdk")


def _read(ref: str) -> Any:
    api = runtrack.Api()
    handle = api.artifact_handle(ref, project="eval")
    return read_predictions(handle.download(), handle.metadata)


def test_binary_multiclass_and_regression_round_trip() -> None:
    rng = np.random.default_rng(0)
    n = 500
    y = rng.integers(0, 2, n)
    ids = np.array([f"ex-{i}" for i in range(n)])
    with runtrack.init(project="eval") as run:
        v = run.log_predictions("test", y, y_score=rng.random(n), ids=ids,
                                slices={"country": rng.choice(["de", "fr"], n)})  # fmt: skip
        assert v is not None and v.type == "predictions" and v.metadata["task"] == "binary"
        k = rng.integers(0, 3, n)
        scores = rng.dirichlet(np.ones(3), n)
        run.log_predictions("multi", k, y_pred=scores.argmax(1), y_score=scores)
        run.log_predictions("reg", rng.normal(size=n), y_pred=rng.normal(size=n))
    p = _read("predictions-test:latest")
    assert p.task == "binary" and len(p) == n and p.ids.tolist() == ids.tolist()
    assert p.y_true.tolist() == y.tolist() and p.y_score is not None
    assert set(p.slices) == {"country"}
    m = _read("predictions-multi:latest")
    assert m.task == "multiclass" and m.y_score is not None and m.y_score.shape == (n, 3)
    assert np.allclose(m.y_score, scores)
    r = _read("predictions-reg:latest")
    assert r.task == "regression" and r.y_pred is not None


def test_same_evaluation_set_is_recognised_whatever_the_order() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    ids = np.arange(200)
    order = rng.permutation(200)
    with runtrack.init(project="eval") as a:
        va = a.log_predictions("test", y, y_score=rng.random(200), ids=ids)
    with runtrack.init(project="eval") as b:
        vb = b.log_predictions("test", y[order], y_score=rng.random(200), ids=ids[order])
    with runtrack.init(project="eval") as c:
        vc = c.log_predictions("test", 1 - y, y_score=rng.random(200), ids=ids)
    assert va and vb and vc
    assert va.metadata["eval_set"] == vb.metadata["eval_set"] != vc.metadata["eval_set"]
    with runtrack.init(project="eval") as d:  # identical predictions: stored once
        again = d.log_predictions("test", y[order], y_score=_read(vb.ref).y_score,
                                  ids=ids[order])  # fmt: skip
    assert again is not None and again.version == vb.version


@pytest.mark.parametrize(
    "kwargs",
    [
        {"y_true": []},
        {"y_true": [0, 1], "y_score": None, "y_pred": None},
        {"y_true": [0, 1, 1], "y_score": [0.1, 0.2]},
        {"y_true": [0, 1], "y_score": [0.1, float("nan")]},
        {"y_true": [0, 1], "y_score": [0.1, 0.2], "ids": [1, 1]},
        {"y_true": [0, 1], "y_score": [0.1, 0.2], "task": "ranking"},
        {"y_true": [0, 1], "y_score": [0.1, 0.2], "slices": {"bad name": [1, 2]}},
        {"y_true": [0, 1, 2], "y_score": [0.1, 0.2, 0.3], "task": "binary"},
    ],
)
def test_bad_input_is_refused(kwargs: dict[str, Any]) -> None:
    with runtrack.init(project="eval") as run:
        with pytest.raises(ValidationError):
            run.log_predictions("test", **{"y_score": [0.5], **kwargs})
        assert runtrack.Api().artifacts("eval") == []
