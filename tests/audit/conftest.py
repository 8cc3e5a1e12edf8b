"""Runs to audit, made by the SDK in temporary git repositories."""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from _audit_support import MakeRun, git

import runtrack
from runtrack.client.provenance import seeds


@pytest.fixture(autouse=True)
def _audit_env(sdk: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The quiet SDK; git without the developer's config and no repository above
    tmp_path; random state, PYTHONHASHSEED and the working directory restored."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    for name in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{name}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{name}_EMAIL", "test@example.com")
    monkeypatch.setenv("PYTHONHASHSEED", "0")  # restored (to unset) afterwards
    monkeypatch.delenv("PYTHONHASHSEED")
    # PYTHONHASHSEED "at process start" is what seed_everything saw first: start afresh
    monkeypatch.setattr(seeds, "_STARTUP_HASH_SEED", [])
    monkeypatch.chdir(tmp_path)
    py_state, np_state = random.getstate(), np.random.get_state()
    yield
    random.setstate(py_state)
    np.random.set_state(np_state)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A clean git repository with a committed training script."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "train.py").write_text("lr = 0.1\nprint('training')\n")
    (path / ".gitignore").write_text("*.log\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "first")
    return path


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "train.csv"
    path.parent.mkdir()
    path.write_text("x,y\n1,0\n2,1\n")
    return path


@pytest.fixture
def good_run(repo: Path, data_file: Path, monkeypatch: pytest.MonkeyPatch) -> MakeRun:
    """``good_run()``: a run from the clean repository, seeded, with the packages pinned,
    its dataset hashed and its config resolved: it should pass every check. As if started
    with ``PYTHONHASHSEED=0 python train.py``."""

    def make(project: str = "audit", model: bytes | None = None) -> str:
        monkeypatch.chdir(repo)
        monkeypatch.setenv("RUNTRACK_CAPTURE_PACKAGES", "1")
        if not seeds._STARTUP_HASH_SEED:
            monkeypatch.setenv("PYTHONHASHSEED", "0")  # seen by seed_everything first
        runtrack.seed_everything(7)
        with runtrack.init(project=project, config={"lr": 0.1, "optim": {"lr": 0.1}}) as run:
            run.use_dataset(data_file, name="train")
            run.log({"loss": 0.5})
            _log_model(run, model)
        return run.id

    return make


@pytest.fixture
def bad_run(repo: Path, monkeypatch: pytest.MonkeyPatch) -> MakeRun:
    """``bad_run()``: a run from a dirty tree whose diff was cut, without seeds, with an
    unresolved interpolation in its config and no input declared. Call it before any
    ``seed_everything`` of the test (seeds are recorded in every later run)."""

    def make(project: str = "audit", model: bytes | None = None) -> str:
        monkeypatch.chdir(repo)
        (repo / "train.py").write_text("lr = 0.2  # changed, not committed\n" * 20)
        monkeypatch.setenv("RUNTRACK_DIFF_MAX_BYTES", "100")
        try:
            config = {"lr": "${optim.lr}", "optim": {"name": "adam"}}
            with runtrack.init(project=project, config=config) as run:
                run.log({"loss": 0.9})
                _log_model(run, model)
        finally:
            monkeypatch.delenv("RUNTRACK_DIFF_MAX_BYTES")
            git(repo, "checkout", "--", "train.py")
        return run.id

    return make


def _log_model(run: runtrack.Run, content: bytes | None) -> None:
    """Log ``content`` as artifact ``model`` (outside the repository: the tree stays as
    it was)."""
    if content is None:
        return
    path = Path(os.environ["RUNTRACK_DIR"]).parent / "models" / "model.bin"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(content)
    run.log_artifact(path, name="model", type="model")
