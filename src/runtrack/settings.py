"""Every setting of runtrack, declared once: name, environment variable, type, default, help.

The environment is read only at entry points (``runtrack.init``, ``runtrack.Api``, the
CLI) through :func:`load`; everything below them receives values as arguments.
``docs/settings.md`` lists these and a test fails if one is missing there.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .errors import ValidationError

MODES = ("online", "offline", "disabled")


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    env: str
    parse: Callable[[str], Any]
    default: Any
    help: str


def _mode(raw: str) -> str:
    value = raw.strip().lower()
    if value not in MODES:
        raise ValueError(f"must be one of {', '.join(MODES)}")
    return value


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("must be true or false (1/0, yes/no, on/off)")


def _nonneg_float(raw: str) -> float:
    value = float(raw)
    if not value >= 0:
        raise ValueError("must be a number >= 0")
    return value


def _pos_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError("must be a number > 0")
    return value


def _nonneg_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be an integer >= 0")
    return value


def _str(raw: str) -> str | None:
    return raw or None


def _path(raw: str) -> Path:
    return Path(raw).expanduser()


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "url",
        "RUNTRACK_URL",
        _str,
        None,
        "A team server (http://host:port): when set, runs, queries and artifacts go "
        "there (with RUNTRACK_TOKEN); unset: the embedded store under RUNTRACK_DIR, "
        "which then keeps only journals and artifacts waiting for the server.",
    ),
    Setting(
        "dir",
        "RUNTRACK_DIR",
        _path,
        Path("~/.runtrack").expanduser(),
        "The embedded store: SQLite database, artifacts, journals and caches.",
    ),
    Setting(
        "db",
        "RUNTRACK_DB",
        _str,
        None,
        "Database URL for the store instead of RUNTRACK_DIR/runtrack.db "
        "(sqlite:///path or postgresql://user@host/db).",
    ),
    Setting("token", "RUNTRACK_TOKEN", _str, None, "API token for the team server."),
    Setting("project", "RUNTRACK_PROJECT", str, "default", "Default project of new runs."),
    Setting(
        "mode",
        "RUNTRACK_MODE",
        _mode,
        "online",
        "online: write to the store as you go; offline: record locally only, ship with "
        "`runtrack sync`; disabled: every call is a no-op.",
    ),
    Setting(
        "flush_interval",
        "RUNTRACK_FLUSH_INTERVAL",
        _pos_float,
        0.5,
        "Seconds between shipments of the background writer.",
    ),
    Setting(
        "heartbeat_interval",
        "RUNTRACK_HEARTBEAT_INTERVAL",
        _pos_float,
        10.0,
        "Seconds between heartbeats of a running run (at most a third of "
        "RUNTRACK_CRASH_AFTER, so a live run is never marked crashed).",
    ),
    Setting(
        "crash_after",
        "RUNTRACK_CRASH_AFTER",
        _pos_float,
        90.0,
        "A running run whose last heartbeat is older than this many seconds (by the "
        "store's clock) is marked crashed.",
    ),
    Setting(
        "system_metrics_interval",
        "RUNTRACK_SYSTEM_METRICS_INTERVAL",
        _nonneg_float,
        15.0,
        "Seconds between samples of system/* metrics (CPU, RAM, RSS, GPU); 0 turns them off.",
    ),
    Setting(
        "console", "RUNTRACK_CONSOLE", _bool, True, "Capture the run's stdout/stderr into its log."
    ),
    Setting(
        "console_max_bytes",
        "RUNTRACK_CONSOLE_MAX_BYTES",
        _nonneg_int,
        10_000_000,
        "Cap on the captured log of one run; output beyond it is counted, not stored.",
    ),
    Setting(
        "capture_git",
        "RUNTRACK_CAPTURE_GIT",
        _bool,
        True,
        "Record git commit, branch, remote, dirty flag and the uncommitted diff.",
    ),
    Setting(
        "diff_max_bytes",
        "RUNTRACK_DIFF_MAX_BYTES",
        _nonneg_int,
        2_000_000,
        "Cap on the recorded uncommitted diff (untracked text files included).",
    ),
    Setting(
        "untracked_file_max_bytes",
        "RUNTRACK_UNTRACKED_FILE_MAX_BYTES",
        _nonneg_int,
        200_000,
        "Untracked text files larger than this are listed, not included in the diff.",
    ),
    Setting(
        "capture_packages",
        "RUNTRACK_CAPTURE_PACKAGES",
        _bool,
        True,
        "Record the installed Python packages and their versions.",
    ),
    Setting(
        "quiet",
        "RUNTRACK_QUIET",
        _bool,
        False,
        "Print nothing (no run banner, no warnings on stderr).",
    ),
)

SETTINGS_BY_NAME: Mapping[str, Setting] = {s.name: s for s in SETTINGS}


@dataclass(frozen=True, slots=True)
class Settings:
    url: str | None
    dir: Path
    db: str | None
    token: str | None
    project: str
    mode: str
    flush_interval: float
    heartbeat_interval: float
    crash_after: float
    system_metrics_interval: float
    console: bool
    console_max_bytes: int
    capture_git: bool
    diff_max_bytes: int
    untracked_file_max_bytes: int
    capture_packages: bool
    quiet: bool

    @property
    def beat_every(self) -> float:
        """Seconds between a live run's heartbeats: ``heartbeat_interval``, or a third of
        ``crash_after`` when that is shorter, so a run is never seen crashed while its
        process lives (``RUNTRACK_CRASH_AFTER=2`` with the default 10 s beat did that)."""
        return min(self.heartbeat_interval, self.crash_after / 3)

    @property
    def db_url(self) -> str:
        """The embedded store's database URL."""
        return self.db or f"sqlite:///{self.dir / 'runtrack.db'}"

    @property
    def store_url(self) -> str:
        """Where runs go: the team server if ``RUNTRACK_URL`` is set, else the database."""
        return self.url or self.db_url

    @property
    def artifacts_dir(self) -> Path:
        return self.dir / "artifacts"

    @property
    def journal_dir(self) -> Path:
        return self.dir / "journals"

    @property
    def cache_dir(self) -> Path:
        return self.dir / "cache"

    def replace(self, **changes: Any) -> Settings:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return Settings(**values)


def load(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Read every setting from ``environ`` (default ``os.environ``); overrides win.

    Raises ``ValidationError`` naming the variable when a value cannot be parsed.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for s in SETTINGS:
        if overrides.get(s.name) is not None:
            values[s.name] = overrides[s.name]
            continue
        raw = env.get(s.env)
        if raw is None:
            values[s.name] = s.default
            continue
        try:
            values[s.name] = s.parse(raw)
        except ValueError as exc:
            raise ValidationError(f"{s.env}={raw!r} is invalid: {exc}") from None
    return Settings(**values)
