"""``runtrack audit``: how reproducible is a run, from what it recorded.

A checklist (:data:`CHECKS`), each item pass/fail with a one-line fix, weighted
(:data:`WEIGHTS`, 100 in all) into a score. Pure: it reads a ``RunRecord`` (provenance
loaded) and imports only ``runtrack.entities`` and ``runtrack.errors``. Recording the
result on the run (summary ``audit.score`` and ``audit.<check>``) is the client's job:
``runtrack.Api().audit(run_id)``.

=============  ======  ==========================================================
check          weight  passes when
=============  ======  ==========================================================
code           25      a commit is recorded and the tree was clean, or its diff is
                       stored whole (not truncated)
environment    15      package versions recorded, none without a version, no
                       editable install from outside the run's repository
inputs         20      at least one input declared, every dataset and used artifact
                       version content-hashed (declared inputs only)
seeds          15      a seed recorded for python, numpy (when installed) and torch
                       (when installed or imported)
determinism    10      the settings were recorded; Python started with PYTHONHASHSEED
                       set; when torch used CUDA: deterministic algorithms on,
                       cudnn.benchmark off, CUBLAS_WORKSPACE_CONFIG set
config         10      no ``${...}`` interpolation and no ``???`` left in the config
hardware       5       CPU and RAM recorded; GPUs listed when torch saw CUDA
=============  ======  ==========================================================
"""

from __future__ import annotations

from ._checks import CHECKS, TITLES, TRACKER_PACKAGES, WEIGHTS, audit_record
from ._result import AUDIT_STREAM, SCORE_KEY, SUMMARY_PREFIX, AuditResult, Check

__all__ = [
    "AUDIT_STREAM",
    "CHECKS",
    "SCORE_KEY",
    "SUMMARY_PREFIX",
    "TITLES",
    "TRACKER_PACKAGES",
    "WEIGHTS",
    "AuditResult",
    "Check",
    "audit_record",
]
