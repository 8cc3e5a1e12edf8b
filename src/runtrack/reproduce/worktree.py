"""The run's code: a git worktree of its repository at the recorded commit, with the
recorded uncommitted diff (untracked text files included) applied on top."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from ._common import Stage, StepFailed

__all__ = ["add_worktree", "apply_diff", "find_repository", "git", "remove_worktree"]

_TIMEOUT = 300.0


def git(cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``git args`` in ``cwd``; never prompts. Raises ``StepFailed`` if git is missing."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        return subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="surrogateescape",
            timeout=_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise StepFailed(Stage.CHECKOUT, "git is not installed (not on PATH)") from None
    except subprocess.TimeoutExpired:
        raise StepFailed(
            Stage.CHECKOUT, f"git {' '.join(args[:2])} did not finish in {_TIMEOUT:.0f} s"
        ) from None


def find_repository(
    commit: str, roots: Sequence[str], remote: str | None, given: Path | None = None
) -> Path:
    """The local repository that holds ``commit``: ``given`` (``--repo``) if any, else the
    recorded work trees ``roots`` (the run's, then those of the runs it reproduces, whose
    worktrees are gone), the remote when it is a local path, the repository of the
    current directory. Raises ``StepFailed`` saying where the commit was looked for and
    how to get it."""
    candidates: list[Path] = [given] if given is not None else []
    if given is None:
        candidates.extend(Path(root) for root in roots if root)
        if remote and os.path.isabs(remote):
            candidates.append(Path(remote))
        candidates.append(Path.cwd())
    looked: list[str] = []
    for i, path in enumerate(candidates):
        if not path.is_dir():
            if i == 0:  # the others are fallbacks: not worth naming when absent
                looked.append(f"{path} (does not exist)")
            continue
        top = git(path, "rev-parse", "--show-toplevel")
        if top.returncode != 0:
            looked.append(f"{path} (not a git repository)")
            continue
        repo = Path(top.stdout.strip())
        if git(repo, "cat-file", "-e", f"{commit}^{{commit}}").returncode == 0:
            return repo
        looked.append(f"{repo} (does not have it)")
    fetch = f"; fetch it (`git fetch {remote}`) or clone {remote}" if remote else ""
    hint = " and pass --repo DIR" if given is None else ""
    raise StepFailed(
        Stage.CHECKOUT,
        f"commit {commit[:12]} is not in a local repository: looked in "
        f"{'; '.join(dict.fromkeys(looked))}{fetch}{hint}",
        looked=looked,
    )


def add_worktree(repo: Path, commit: str, dest: Path) -> None:
    """``git worktree add --detach dest commit``."""
    done = git(repo, "worktree", "add", "--detach", str(dest), commit)
    if done.returncode != 0:
        raise StepFailed(
            Stage.CHECKOUT,
            f"could not check out {commit[:12]} into {dest}: {_last(done.stderr)}",
        )


def apply_diff(worktree: Path, diff: str) -> int:
    """Apply the recorded diff (``git apply``); returns how many files it touches."""
    if not diff.strip():
        return 0
    done = git(worktree, "apply", "--whitespace=nowarn", "-", stdin=diff)
    if done.returncode != 0:
        raise StepFailed(
            Stage.CHECKOUT,
            f"the recorded uncommitted diff does not apply to the commit: {_last(done.stderr)}",
        )
    return sum(1 for line in diff.splitlines() if line.startswith("diff --git "))


def remove_worktree(repo: Path, dest: Path) -> None:
    """Remove the worktree and git's record of it; never raises."""
    try:
        git(repo, "worktree", "remove", "--force", str(dest))
        git(repo, "worktree", "prune")
    except StepFailed:
        pass
    shutil.rmtree(dest, ignore_errors=True)


def _last(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return "; ".join(lines[-3:]) or "git failed"
