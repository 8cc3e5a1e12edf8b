"""Type aliases shared by the modules of :mod:`runtrack.stats`."""

from __future__ import annotations

from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = ["BoolArray", "FloatArray", "IntArray", "Needs", "Seed", "Task"]

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]

#: The kind of prediction task a metric applies to.
Task: TypeAlias = Literal["binary", "multiclass", "regression"]
#: Which stored prediction column a metric reads: hard predictions or scores/probabilities.
Needs: TypeAlias = Literal["y_pred", "y_score"]
#: A seed for the resampling functions: an int (reproducible), a Generator, or None (fresh).
Seed: TypeAlias = int | np.random.Generator | None
