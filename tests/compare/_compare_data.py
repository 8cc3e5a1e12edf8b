"""Runs with synthetic predictions for the comparison tests (helpers; fixtures are in
conftest.py).

``scores(...)`` draws the scores of models that see the same examples: a shared signal
(what any decent model learns), each model's own noise, and an optional planted
advantage (``shift``) for the model that should win.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

import runtrack

N = 2000


def eval_set(n: int = N, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, y, shared signal) of an evaluation set."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(np.int64)
    shared = rng.normal(size=n) + 1.2 * y
    ids = np.array([f"ex-{i:05d}" for i in range(n)])
    return ids, y, shared


def scores(y: np.ndarray, shared: np.ndarray, noise_seed: int, shift: float = 0.0) -> np.ndarray:
    """Probabilities of class 1 from a model with its own noise (+ ``shift`` for y=1)."""
    rng = np.random.default_rng(noise_seed)
    logit = shared + 0.9 * rng.normal(size=y.size) + shift * y - 0.6
    return 1.0 / (1.0 + np.exp(-logit))


def make_run(
    name: str,
    *,
    y: np.ndarray | None = None,
    score: np.ndarray | None = None,
    ids: np.ndarray | None = None,
    config: Mapping[str, Any] | None = None,
    summary: Mapping[str, float] | None = None,
    group: str | None = None,
    slices: Mapping[str, np.ndarray] | None = None,
    history: int = 0,
    set_name: str = "test",
    project: str = "cmp",
    labels: np.ndarray | None = None,
) -> str:
    with runtrack.init(project=project, name=name, config=dict(config or {}), group=group) as run:
        for step in range(history):
            run.log({"loss": 1.0 / (step + 1), "auc": 0.5 + step / 100}, step=step)
        for k, v in (summary or {}).items():
            run.summary[k] = v
        if y is not None:
            pred = labels
            if pred is None and score is not None:
                pred = (score > 0.5).astype(np.int64)
            run.log_predictions(set_name, y, y_pred=pred, y_score=score, ids=ids, slices=slices)
    return run.id
