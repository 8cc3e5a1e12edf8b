"""Helpers of the audit tests (the fixtures are in conftest.py)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

MakeRun = Callable[..., str]
"""``good_run()`` / ``bad_run()``: make a run, return its id."""


def git(cwd: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=30
    )
    return out.stdout.strip()
