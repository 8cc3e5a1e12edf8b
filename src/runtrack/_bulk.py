"""Building many long-lived objects at once without paying the cyclic GC for it."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def bulk_objects() -> Iterator[None]:
    """Pause the cyclic garbage collector while a block builds many objects that will
    live on (a listing of 100,000 runs), then file them with the old ones.

    Left alone, the collector would traverse them three times as they age through its
    generations (half the time of a large listing); none of them form cycles. On exit
    ``gc.freeze()`` + ``gc.unfreeze()`` moves every tracked object into the oldest
    generation without a traversal (documented behaviour); nothing is excluded from later
    collections. Skipped when the application froze objects itself, so its frozen set
    is never released by us.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        if enabled:
            gc.enable()
