"""What an audit returns: checks with their weights, and the score they add up to."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Final

__all__ = ["AUDIT_STREAM", "SCORE_KEY", "SUMMARY_PREFIX", "AuditResult", "Check"]

SUMMARY_PREFIX: Final = "audit."
"""Summary keys an audit records: ``audit.score`` and ``audit.<check name>`` (1 or 0)."""
SCORE_KEY: Final = SUMMARY_PREFIX + "score"
AUDIT_STREAM: Final = "audit"
"""The write stream audits are recorded on (one ``seq`` per recorded audit)."""


@dataclass(frozen=True, slots=True)
class Check:
    """One item of the checklist. ``fix`` says how to pass it (None when it passed)."""

    name: str
    title: str
    passed: bool
    weight: int
    detail: str
    fix: str | None

    @property
    def points(self) -> int:
        """What the check adds to the score: its weight when it passed, else 0."""
        return self.weight if self.passed else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "fix": self.fix,
            "title": self.title,
            "weight": self.weight,
            "points": self.points,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class AuditResult:
    """The audit of one run. ``score`` (0-100) is the sum of the weights of the checks
    that passed; ``recorded`` is True once it was written to the run's summary."""

    run_id: str
    project: str
    checks: tuple[Check, ...]
    recorded: bool = False

    @property
    def score(self) -> int:
        return sum(c.points for c in self.checks)

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.passed)

    def check(self, name: str) -> Check:
        """The check called ``name``; ``KeyError`` if there is none."""
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def summary_values(self) -> dict[str, float]:
        """``{"audit.score": 85.0, "audit.code": 1.0, "audit.seeds": 0.0, ...}``: what is
        recorded on the run, so ``metrics.audit.score >= 80`` finds it."""
        values = {SCORE_KEY: float(self.score)}
        values.update({SUMMARY_PREFIX + c.name: 1.0 if c.passed else 0.0 for c in self.checks})
        return values

    def as_recorded(self) -> AuditResult:
        return replace(self, recorded=True)

    def to_json(self) -> dict[str, Any]:
        """``{"score", "checks": [{"name", "passed", "fix", ...}], ...}``: the shape
        ``runtrack audit RUN --json`` prints (a public contract)."""
        return {
            "score": self.score,
            "checks": [c.to_json() for c in self.checks],
            "run": self.run_id,
            "project": self.project,
            "max_score": sum(c.weight for c in self.checks),
            "recorded": self.recorded,
        }
