"""``runtrack.seed_everything``: seed every random generator this process may use.

numpy and torch are seeded only when installed, and imported only by this call.
"""

from __future__ import annotations

import importlib.util
import os
import random
from typing import Final

from ...errors import ValidationError

__all__ = ["MAX_SEED", "seed_everything", "startup_hash_seed"]

MAX_SEED: Final = 2**32 - 1
"""The largest seed every generator accepts (numpy's legacy seeding is 32-bit)."""

_STARTUP_HASH_SEED: list[str | None] = []  # PYTHONHASHSEED before seed_everything set it


def startup_hash_seed() -> str | None:
    """``PYTHONHASHSEED`` as this process started with it (None: unset, hashing is
    randomised), even after :func:`seed_everything` changed ``os.environ``."""
    if _STARTUP_HASH_SEED:
        return _STARTUP_HASH_SEED[0]
    return os.environ.get("PYTHONHASHSEED")


def seed_everything(seed: int) -> dict[str, int]:
    """Seed Python's ``random``, numpy and torch (when installed) with ``seed``.

    Also sets ``PYTHONHASHSEED`` in ``os.environ``: it cannot change hashing in this
    process, only in the child processes it starts (dataloader workers, subprocesses).
    Returns what was seeded, e.g. ``{"python": 42, "numpy": 42, "torch": 42,
    "torch.cuda": 42, "PYTHONHASHSEED": 42}`` (``torch.cuda`` only when CUDA is available).
    Raises ``ValidationError`` unless ``seed`` is an int (not a bool) in ``[0, 2**32)``.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValidationError(f"seed must be an int, got {type(seed).__name__} {seed!r}")
    if not 0 <= seed <= MAX_SEED:
        raise ValidationError(f"seed must be between 0 and 2**32 - 1 ({MAX_SEED}), got {seed}")
    seed = int(seed)
    seeded: dict[str, int] = {}

    random.seed(seed)
    seeded["python"] = seed

    if _installed("numpy"):
        import numpy

        numpy.random.seed(seed)
        seeded["numpy"] = seed

    if _installed("torch"):
        import torch

        torch.manual_seed(seed)
        seeded["torch"] = seed
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)
            seeded["torch.cuda"] = seed

    if not _STARTUP_HASH_SEED:
        _STARTUP_HASH_SEED.append(os.environ.get("PYTHONHASHSEED"))
    os.environ["PYTHONHASHSEED"] = str(seed)
    seeded["PYTHONHASHSEED"] = seed
    return seeded


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
