"""``runtrack reproduce`` / ``runtrack rerun``: run a recorded run again from its provenance
and say whether its results came out the same.

One module per step: :mod:`.plan` (what the provenance says), :mod:`.worktree` (the code:
a git worktree at the commit, the stored diff applied), :mod:`.inputs` (datasets and
artifacts by content hash), :mod:`.environment` (this interpreter or a fresh venv with the
recorded packages), :mod:`.overrides` (``--set`` for reruns), :mod:`.execution` (the
command, its environment, the link to the new run), :mod:`.verify` (metrics within
tolerance); :mod:`.core` runs them in order. This package sits above ``client`` (it reads
runs through ``Api``); ``Api.reproduce`` imports it only when called.
"""

from __future__ import annotations

from ._common import NullReporter, Reporter, StepFailed
from .core import ENV_MODES, reproduce
from .overrides import parse_sets
from .verify import Tolerance, parse_tolerance

__all__ = [
    "ENV_MODES",
    "NullReporter",
    "Reporter",
    "StepFailed",
    "Tolerance",
    "parse_sets",
    "parse_tolerance",
    "reproduce",
]
