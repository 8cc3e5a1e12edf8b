"""``Api.audit``: audit a recorded run and record the score on it.

The checklist itself is ``runtrack.audit`` (pure). Recording writes the summary values
``audit.score`` and ``audit.<check>`` (1 or 0) through the store on the run's ``audit``
stream, one ``seq`` past the stream's position, so the write is applied exactly once and
a later audit overrides an earlier one. ``metrics.audit.score >= 80`` (or
``audit.score >= 80``) then finds the run, and a registry gate ``{"audit_score": 80}``
reads it.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

from ..audit import AUDIT_STREAM, AuditResult, audit_record
from ..entities import OpRecord, RunBatch, SummaryOp
from ..errors import ConflictError
from ..validation import check_existing_run_id

if TYPE_CHECKING:
    from ..store.base import TrackingStore

_ATTEMPTS = 5  # concurrent audits of one run may race for the same seq


class AuditMethods(abc.ABC):
    """Mixed into ``Api``."""

    @property
    @abc.abstractmethod
    def store(self) -> TrackingStore: ...

    def audit(self, run_id: str, record: bool = True) -> AuditResult:
        """Audit run ``run_id`` (an id, or a run / ``RunView``) from what it recorded: a
        checklist (code, environment, inputs, seeds, determinism, config, hardware), each
        pass/fail with how to fix it, and a score 0-100. ``record=True`` stores the result
        on the run as summary values ``audit.score`` and ``audit.<check>`` (1/0). Raises
        ``RunNotFoundError``."""
        from .api import _live_runs_created

        run_id = check_existing_run_id(getattr(run_id, "id", run_id))
        _live_runs_created(run_id)
        result = audit_record(self.store.get_run(run_id))
        if record:
            record_audit(self.store, result)
            result = result.as_recorded()
        return result


def record_audit(store: TrackingStore, result: AuditResult) -> None:
    """Write ``result``'s summary values on its run (a new ``seq`` of the ``audit`` stream)."""
    values = result.summary_values()
    for _ in range(_ATTEMPTS):
        seq = store.stream_position(result.run_id, AUDIT_STREAM) + 1
        batch = RunBatch(result.run_id, AUDIT_STREAM, (OpRecord(seq, SummaryOp(values)),))
        if store.write(batch).applied:
            return
    raise ConflictError(  # pragma: no cover - only under a storm of concurrent audits
        f"could not record the audit of run {result.run_id}: other audits kept writing"
    )
