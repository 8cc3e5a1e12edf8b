"""Fixtures of the comparison tests: the quiet SDK, and three runs on one evaluation set."""

from __future__ import annotations

import numpy as np
import pytest
from _compare_data import N, eval_set, make_run, scores


@pytest.fixture(autouse=True)
def _quiet_sdk(sdk: None) -> None:
    """Every comparison test uses the quiet SDK fixture of the root conftest."""


@pytest.fixture
def three_runs() -> dict[str, str]:
    """A, B (clearly better: a planted effect) and C (the same model as A, new noise), all
    scored on one evaluation set; B is slower, C the fastest."""
    ids, y, shared = eval_set()
    country = np.where(np.arange(N) % 3 == 0, "de", "fr")
    out = {}
    for name, noise, shift, latency, lr in (
        ("A", 1, 0.0, 12.0, 0.1),
        ("B", 2, 0.9, 30.0, 0.01),
        ("C", 3, 0.0, 8.0, 0.1),
    ):
        out[name] = make_run(
            name,
            y=y,
            score=scores(y, shared, noise, shift),
            ids=ids,
            config={"lr": lr, "model": {"depth": 4}},
            summary={"latency_ms": latency},
            slices={"country": country},
            history=5,
        )
    return out
