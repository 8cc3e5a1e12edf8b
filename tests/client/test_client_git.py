"""Git provenance against real repositories made with the git CLI."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from runtrack.client.provenance.git import capture_git, strip_credentials

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

BIG = 1_000_000


@pytest.fixture(autouse=True)
def _quiet_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No developer git config, and no repository found above tmp_path."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    for name in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{name}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{name}_EMAIL", "test@example.com")


def git(cwd: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=30
    )
    return out.stdout.strip()


def make_repo(path: Path, *, commit: bool = True) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    (path / "train.py").write_text("print('hello')\nlr = 0.1\n")
    (path / ".gitignore").write_text("*.log\n")
    if commit:
        git(path, "add", ".")
        git(path, "commit", "-q", "-m", "first")
    return path


def capture(path: Path, **kw: Any) -> dict[str, Any]:
    kw.setdefault("diff_max_bytes", BIG)
    kw.setdefault("untracked_file_max_bytes", BIG)
    result = capture_git(path, **kw)
    assert result is not None
    return result


def test_not_a_repository(tmp_path: Path) -> None:
    assert capture_git(tmp_path, diff_max_bytes=BIG, untracked_file_max_bytes=BIG) is None


def test_git_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path / "r")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert capture_git(repo, diff_max_bytes=BIG, untracked_file_max_bytes=BIG) is None


def test_clean_repository(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    (repo / "debug.log").write_text("ignored\n")  # ignored files do not make it dirty
    info = capture(repo)
    assert info["commit"] == git(repo, "rev-parse", "HEAD")
    assert info["branch"] == "main"
    assert info["dirty"] is False
    assert info["root"] == str(repo.resolve())
    assert info["remote"] is None
    assert info["diff"] == ""
    assert info["diff_truncated"] is False
    assert info["diff_sha256"] == hashlib.sha256(b"").hexdigest()
    assert info["untracked_skipped"] == []


def test_from_a_subdirectory(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    sub = repo / "src" / "pkg"
    sub.mkdir(parents=True)
    info = capture(sub)
    assert info["root"] == str(repo.resolve())


def test_dirty_diff_can_be_applied_to_reproduce_the_tree(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    (repo / "bin.dat").write_bytes(b"\x00\x01" * 10)
    git(repo, "add", "bin.dat")
    git(repo, "commit", "-q", "-m", "binary")
    commit = git(repo, "rev-parse", "HEAD")

    (repo / "train.py").write_text("print('hello')\nlr = 0.5\n")  # unstaged change
    (repo / "staged.py").write_text("x = 1\n")
    git(repo, "add", "staged.py")  # staged new file
    (repo / "bin.dat").write_bytes(b"\x00\x02" * 10)  # binary change: named, not inlined
    (repo / "notes.txt").write_text("no trailing newline")  # untracked text
    (repo / "data").mkdir()
    (repo / "data" / "tiny.csv").write_text("a,b\n1,2\n")
    (repo / "data" / "weights.bin").write_bytes(b"\x00" * 100)  # untracked binary
    (repo / "huge.txt").write_text("x" * 5000)  # untracked, over the per-file limit
    (repo / "run.log").write_text("ignored\n")  # .gitignore'd: never read
    script = repo / "go.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o755)

    info = capture(repo, untracked_file_max_bytes=1000)
    diff = info["diff"]
    assert info["dirty"] is True and info["commit"] == commit
    assert "-lr = 0.1\n+lr = 0.5\n" in diff
    assert "diff --git a/staged.py b/staged.py\nnew file mode 100644" in diff
    assert "Binary files a/bin.dat and b/bin.dat differ" in diff
    assert "+no trailing newline\n\\ No newline at end of file\n" in diff
    assert "+++ b/data/tiny.csv\n@@ -0,0 +1,2 @@\n+a,b\n+1,2\n" in diff
    assert "new file mode 100755" in diff
    assert "run.log" not in diff and "weights.bin" not in diff and "huge.txt" not in diff
    skipped = {s["path"]: s for s in info["untracked_skipped"]}
    assert skipped["data/weights.bin"]["reason"] == "binary"
    assert skipped["huge.txt"] == {"path": "huge.txt", "size": 5000, "reason": "too_large"}
    assert "run.log" not in skipped
    assert info["diff_truncated"] is False
    assert info["diff_sha256"] == hashlib.sha256(diff.encode()).hexdigest()

    # Reproduce: a fresh clone at the commit plus the recorded diff gives the same text files.
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    git(clone, "checkout", "-q", commit)
    patch = tmp_path / "recorded.patch"
    patch.write_text(diff)
    git(clone, "apply", "--exclude=bin.dat", str(patch))
    for rel in ("train.py", "staged.py", "notes.txt", "data/tiny.csv", "go.sh"):
        assert (clone / rel).read_bytes() == (repo / rel).read_bytes(), rel
    assert os.access(clone / "go.sh", os.X_OK)


def test_only_untracked_files_make_it_dirty(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    (repo / "new.py").write_text("y = 2\n")
    info = capture(repo)
    assert info["dirty"] is True
    assert "+y = 2\n" in info["diff"]


def test_detached_head(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    first = git(repo, "rev-parse", "HEAD")
    (repo / "train.py").write_text("changed\n")
    git(repo, "commit", "-q", "-am", "second")
    git(repo, "checkout", "-q", "--detach", first)
    info = capture(repo)
    assert info["branch"] is None
    assert info["commit"] == first
    assert info["dirty"] is False


def test_repository_without_commits(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", commit=False)
    git(repo, "add", "train.py")
    info = capture(repo)
    assert info["commit"] is None
    assert info["branch"] == "main"
    assert info["dirty"] is True
    assert "diff --git a/train.py b/train.py\nnew file mode 100644" in info["diff"]
    assert "+lr = 0.1\n" in info["diff"]
    assert "+*.log\n" in info["diff"]  # .gitignore is untracked here: shown as a new file


def test_empty_repository(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "trunk")
    info = capture(repo)
    assert info["commit"] is None and info["branch"] == "trunk" and info["dirty"] is False
    assert info["diff"] == ""


def test_remote_credentials_are_stripped(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    git(repo, "remote", "add", "origin", "https://alice:s3cret-token@github.com/acme/churn.git")
    info = capture(repo)
    assert info["remote"] == "https://github.com/acme/churn.git"
    assert "s3cret" not in repr(info)


def test_remote_prefers_the_branch_upstream(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    git(repo, "remote", "add", "origin", "git@github.com:me/fork.git")
    git(repo, "remote", "add", "upstream", "https://ghp_token@github.com/acme/churn.git")
    assert capture(repo)["remote"] == "git@github.com:me/fork.git"
    git(repo, "config", "branch.main.remote", "upstream")
    assert capture(repo)["remote"] == "https://github.com/acme/churn.git"


def test_only_remote_is_used_when_not_origin(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    git(repo, "remote", "add", "gitlab", "ssh://git:pw@gitlab.com/acme/x.git")
    assert capture(repo)["remote"] == "ssh://git@gitlab.com/acme/x.git"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:tok@host/x", "https://host/x"),
        ("https://tok@host:8443/x.git", "https://host:8443/x.git"),
        ("http://u:p@host/x?y=1", "http://host/x?y=1"),
        ("https://host/x", "https://host/x"),
        ("git@github.com:acme/x.git", "git@github.com:acme/x.git"),
        ("ssh://git@host/x", "ssh://git@host/x"),
        ("ssh://git:pw@host/x", "ssh://git@host/x"),
        ("/srv/git/x.git", "/srv/git/x.git"),
        ("file:///srv/x", "file:///srv/x"),
    ],
)
def test_strip_credentials(url: str, expected: str) -> None:
    assert strip_credentials(url) == expected


def test_diff_is_capped_at_a_line_boundary(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    (repo / "train.py").write_text("".join(f"line {i}\n" for i in range(2000)))
    (repo / "extra.txt").write_text("untracked\n")
    info = capture(repo, diff_max_bytes=1000)
    assert info["diff_truncated"] is True
    encoded = info["diff"].encode()
    assert 0 < len(encoded) <= 1000 and encoded.endswith(b"\n")
    assert info["diff_sha256"] == hashlib.sha256(encoded).hexdigest()
    assert {"path": "extra.txt", "size": None, "reason": "diff_max_bytes"} in info[
        "untracked_skipped"
    ]


def test_untracked_files_beyond_the_cap_are_listed(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    (repo / "a.txt").write_text("a" * 300 + "\n")
    (repo / "b.txt").write_text("b" * 300 + "\n")
    info = capture(repo, diff_max_bytes=500)
    assert "+" + "a" * 300 in info["diff"] and "b" * 300 not in info["diff"]
    assert info["diff_truncated"] is True
    assert [s["path"] for s in info["untracked_skipped"]] == ["b.txt"]


def test_non_utf8_untracked_file_is_skipped_as_binary(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    (repo / "latin1.txt").write_bytes("café\n".encode("latin-1"))
    info = capture(repo)
    assert info["untracked_skipped"] == [{"path": "latin1.txt", "size": 5, "reason": "binary"}]


def test_nested_repository_is_listed_not_read(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    make_repo(repo / "vendor" / "lib")
    info = capture(repo)
    assert info["dirty"] is True
    assert info["untracked_skipped"] == [
        {"path": "vendor/lib/", "size": None, "reason": "not_a_file"}
    ]


def test_a_hanging_git_times_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    fake_git = fake_bin / "git"
    fake_git.write_text("#!/bin/sh\nexec sleep 30\n")
    fake_git.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    start = time.monotonic()
    assert (
        capture_git(tmp_path, diff_max_bytes=BIG, untracked_file_max_bytes=BIG, timeout=0.5) is None
    )
    assert time.monotonic() - start < 5
