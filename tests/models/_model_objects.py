"""Plain Python models for the pickle flavor tests (importable by name)."""

from __future__ import annotations

from typing import Any


class ThresholdModel:
    """A tiny picklable model: predicts 1 where the first feature exceeds the threshold."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def predict(self, rows: Any) -> list[int]:
        return [int(row[0] > self.threshold) for row in rows]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ThresholdModel) and other.threshold == self.threshold

    __hash__ = None  # type: ignore[assignment]
