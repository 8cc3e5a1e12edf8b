"""The one exception tree of runtrack.

    RuntrackError                      code "error", HTTP 500
     +-- ValidationError               code "invalid", HTTP 400: bad input, nothing was written
     |    +-- ConfigError              a config that cannot be recorded or would change a value
     |    +-- QueryError               a malformed run filter / order_by (carries .position)
     +-- NotFoundError                 HTTP 404
     |    +-- ProjectNotFoundError
     |    +-- RunNotFoundError
     |    +-- ArtifactNotFoundError
     |    |    +-- ModelNotFoundError  no registered model / version / alias of that name
     |    +-- UserNotFoundError
     |    +-- TokenNotFoundError
     |    +-- SweepNotFoundError
     +-- ConflictError                 HTTP 409
     |    +-- RunExistsError
     |    +-- RunFinishedError         a write to a run that has ended (and was not resumed)
     |    +-- UserExistsError
     |    +-- PromotionRefusedError    a registry gate refused to move an alias
     +-- StoreError                    HTTP 503: the store could not do its work
     |    +-- StoreUnavailableError    transient: the store could not be reached; retry later
     |    +-- SchemaVersionError       the database schema is older/newer than this runtrack
     +-- IntegrityError                HTTP 500: stored content does not match its hash
     +-- NoActiveRunError              HTTP 400: runtrack.log() & co. before runtrack.init()
     +-- TrialsFailingError            an agent gave up: its last N trials all failed
     +-- AuthenticationError           HTTP 401: no valid token
     +-- PermissionDeniedError         HTTP 403: the token's user may not do this

TrialPruned (not a RuntrackError) is raised inside a sweep trial to stop it as pruned.

Every class has a stable ``code`` (for the wire and ``--json`` output) and an
``http_status``. Third-party exceptions (SQLAlchemy, OS errors) are translated into
this tree once, at the boundary of the backend that raised them (``raise ... from exc``).
"""

from __future__ import annotations

__all__ = [
    "ArtifactNotFoundError",
    "AuthenticationError",
    "ConfigError",
    "ConflictError",
    "IntegrityError",
    "NoActiveRunError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProjectNotFoundError",
    "QueryError",
    "RunExistsError",
    "RunFinishedError",
    "RunNotFoundError",
    "RuntrackError",
    "SchemaVersionError",
    "StoreError",
    "StoreUnavailableError",
    "SweepNotFoundError",
    "TokenNotFoundError",
    "TrialPruned",
    "TrialsFailingError",
    "UserExistsError",
    "UserNotFoundError",
    "ValidationError",
    "error_from_code",
]


class RuntrackError(Exception):
    """Base of every error runtrack raises on purpose."""

    code = "error"
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message}


class ValidationError(RuntrackError):
    """The caller passed something runtrack cannot accept; nothing was written."""

    code = "invalid"
    http_status = 400


class ConfigError(ValidationError):
    code = "invalid_config"


class QueryError(ValidationError):
    """A malformed filter or order_by; ``position`` is the 0-based offset of the problem."""

    code = "invalid_query"

    def __init__(self, message: str, text: str = "", position: int | None = None) -> None:
        self.text = text
        self.position = position
        self.reason = message
        if position is not None and text:
            pointer = " " * position + "^"
            message = f"{message} at position {position}:\n  {text}\n  {pointer}"
        super().__init__(message)

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "position": self.position}


class NotFoundError(RuntrackError):
    code = "not_found"
    http_status = 404


class ProjectNotFoundError(NotFoundError):
    code = "project_not_found"


class RunNotFoundError(NotFoundError):
    code = "run_not_found"


class ArtifactNotFoundError(NotFoundError):
    code = "artifact_not_found"


class ModelNotFoundError(ArtifactNotFoundError):
    code = "model_not_found"


class UserNotFoundError(NotFoundError):
    code = "user_not_found"


class TokenNotFoundError(NotFoundError):
    code = "token_not_found"


class SweepNotFoundError(NotFoundError):
    code = "sweep_not_found"


class ConflictError(RuntrackError):
    code = "conflict"
    http_status = 409


class RunExistsError(ConflictError):
    code = "run_exists"


class RunFinishedError(ConflictError):
    code = "run_finished"


class UserExistsError(ConflictError):
    code = "user_exists"


class PromotionRefusedError(ConflictError):
    """A registered model's promotion gate refused to move an alias; the message lists
    every unmet requirement. Nothing was changed."""

    code = "promotion_refused"


class StoreError(RuntrackError):
    code = "store_error"
    http_status = 503


class StoreUnavailableError(StoreError):
    """Transient: the store could not be reached or was busy. Retrying later may succeed."""

    code = "store_unavailable"


class SchemaVersionError(StoreError):
    code = "schema_version"


class IntegrityError(RuntrackError):
    code = "integrity"
    http_status = 500


class NoActiveRunError(RuntrackError):
    code = "no_active_run"
    http_status = 400


class AuthenticationError(RuntrackError):
    code = "unauthenticated"
    http_status = 401


class PermissionDeniedError(RuntrackError):
    code = "forbidden"
    http_status = 403


class TrialsFailingError(RuntrackError):
    """An agent stopped because its last ``failures`` trials all failed (crashed, or ended
    without the objective): the trial code is likely broken, and going on would spend the
    sweep's budget on failures. The sweep itself goes on; other agents are not stopped."""

    code = "trials_failing"
    http_status = 500

    def __init__(self, message: str, sweep_id: str = "", failures: int = 0, last_error: str = ""):
        super().__init__(message)
        self.sweep_id, self.failures, self.last_error = sweep_id, failures, last_error

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "sweep": self.sweep_id, "failures": self.failures}


class TrialPruned(Exception):
    """Raise inside a sweep trial (after ``run.should_prune()`` said so, or on your own
    judgement) to stop it: the trial is recorded as pruned with its last value, the run
    as finished, and the agent goes on with the next trial."""


def _all_subclasses(cls: type[RuntrackError]) -> list[type[RuntrackError]]:
    out = [cls]
    for sub in cls.__subclasses__():
        out.extend(_all_subclasses(sub))
    return out


def error_from_code(code: str, message: str) -> RuntrackError:
    """Rebuild an error received over the wire from its stable code."""
    for cls in _all_subclasses(RuntrackError):
        if cls.code == code and cls is not QueryError:
            return cls(message)
    if code == QueryError.code:
        return QueryError(message)
    return RuntrackError(message)
