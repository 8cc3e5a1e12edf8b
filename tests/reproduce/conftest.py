"""Fixtures for `runtrack reproduce`: real git repositories, real training processes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from _repro import Project


@pytest.fixture(autouse=True)
def _git_and_sdk(sdk: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The quiet SDK of the top conftest; git with no developer config, a fixed identity,
    and no repository found above tmp_path."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    for name in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{name}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{name}_EMAIL", "test@example.com")
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    # a fresh venv per reproduction (the default) costs minutes: this interpreter here;
    # test_reproduce_env_new.py asks for --env new explicitly
    monkeypatch.setenv("RUNTRACK_REPRODUCE_ENV", "current")


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """A committed repository with the small training script and its data."""
    return Project.create(tmp_path / "repo", tmp_path / "outside")
