"""The settings that decide whether a run's numbers come out the same twice.

Recorded as the ``determinism`` provenance section when a run starts and again when it
finishes (a script usually turns these on after ``init``). torch is looked at only when
the user's program already imported it; nothing is imported here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["capture_determinism"]


def capture_determinism() -> dict[str, Any]:
    """``{"PYTHONHASHSEED", "CUBLAS_WORKSPACE_CONFIG", "hash_randomization", "torch"}``.

    The two variables are their values in ``os.environ`` (None when unset;
    ``runtrack.seed_everything`` sets ``PYTHONHASHSEED`` for child processes).
    ``hash_randomization`` is ``sys.flags.hash_randomization`` of this interpreter.
    ``torch`` is None unless torch is imported, else ``{"deterministic_algorithms",
    "warn_only", "cudnn_deterministic", "cudnn_benchmark", "cuda_initialized"}``
    (a value torch cannot give is None). Never raises.
    """
    return {
        "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED"),
        "CUBLAS_WORKSPACE_CONFIG": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        "hash_randomization": bool(sys.flags.hash_randomization),
        "torch": _torch(),
    }


def _torch() -> dict[str, Any] | None:
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    return {
        "deterministic_algorithms": _probe(lambda: torch.are_deterministic_algorithms_enabled()),
        "warn_only": _probe(lambda: torch.is_deterministic_algorithms_warn_only_enabled()),
        "cudnn_deterministic": _probe(lambda: torch.backends.cudnn.deterministic),
        "cudnn_benchmark": _probe(lambda: torch.backends.cudnn.benchmark),
        "cuda_initialized": _probe(lambda: torch.cuda.is_initialized()),
    }


def _probe(read: Callable[[], object]) -> bool | None:
    try:
        return bool(read())
    except Exception:  # an old or partial torch: unknown rather than a broken run
        return None
