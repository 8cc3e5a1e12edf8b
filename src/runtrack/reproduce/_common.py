"""What every step of a reproduction shares: the failure it raises and the progress
reporter it talks to."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

__all__ = ["NullReporter", "Reporter", "Stage", "StepFailed", "map_path", "relative_to_root"]


class Stage:
    """The steps of a reproduction, in order; a failure names the one it happened in."""

    PLAN = "plan"
    CHECKOUT = "checkout"
    INPUTS = "inputs"
    ENVIRONMENT = "environment"
    RUN = "run"
    VERIFY = "verify"


class StepFailed(Exception):
    """A step could not be done: the reproduction's verdict is ``failed`` with ``reason``."""

    def __init__(self, stage: str, reason: str, **details: Any) -> None:
        super().__init__(reason)
        self.stage = stage
        self.reason = reason
        self.details = details


class Reporter(Protocol):
    """Where progress goes (the CLI draws Rich progress bars on a terminal)."""

    def stage(self, text: str, total: int | None = None) -> None:
        """A new step begins (the previous one is over); ``total``: units to advance."""

    def advance(self, n: int = 1, text: str | None = None) -> None:
        """Some of the current step's units are done."""

    def output(self, line: str) -> None:
        """A line the reproduced command printed."""

    def close(self) -> None:
        """Everything is over."""


class NullReporter:
    """Reports nothing (the Python API's default)."""

    def stage(self, text: str, total: int | None = None) -> None:
        pass

    def advance(self, n: int = 1, text: str | None = None) -> None:
        pass

    def output(self, line: str) -> None:
        pass

    def close(self) -> None:
        pass


def relative_to_root(path: str, root: str) -> str | None:
    """``path`` relative to the directory ``root`` (POSIX, "" for root itself), or None
    when it lies outside. Symbolic links on either side are tried resolved too."""
    if not root or not path:
        return None
    for p, r in ((path, root), (os.path.realpath(path), os.path.realpath(root))):
        try:
            rel = Path(p).relative_to(r)
        except ValueError:
            continue
        return "" if str(rel) == "." else rel.as_posix()
    return None


def map_path(path: str, root: str, worktree: Path) -> str | None:
    """``path`` under the recorded ``root`` moved into ``worktree``; None when outside."""
    rel = relative_to_root(path, root)
    if rel is None:
        return None
    return str(worktree / rel) if rel else str(worktree)
