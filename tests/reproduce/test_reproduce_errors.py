"""Bad input gives a clear error and a non-zero exit code, and never runs anything:
unknown runs, runs whose provenance cannot rebuild them, bad options."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from _repro import Project, git, invoke, reproduce

import runtrack


def _run_here(**config: object) -> str:
    """A run made in this process, in the current directory (its git state is captured
    at init, in the background, and joined by finish)."""
    with runtrack.init(project="repro", config=config) as run:
        run.log({"x": 1.0})
    return run.id


def test_an_unknown_run_is_an_error() -> None:
    code, out, err = invoke("reproduce", "nosuchrun0", "--verify")
    assert code == 1 and out == ""
    assert "error:" in err and "nosuchrun0" in err and "runtrack ls" in err

    code, doc, _ = reproduce("reproduce", "nosuchrun0", "--verify")
    assert code == 1 and doc["error"]["code"] == "run_not_found"

    with pytest.raises(runtrack.errors.RunNotFoundError):
        runtrack.Api().reproduce("nosuchrun0")


def test_a_run_without_git_provenance_fails_saying_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # not a repository
    run_id = _run_here()

    code, doc, _ = reproduce("reproduce", run_id, "--verify")

    assert code == 1
    assert doc["verdict"] == "failed" and doc["stage"] == "plan"
    assert doc["reproduction"] is None and doc["metrics"] == {}
    assert "no git provenance" in doc["reason"]
    code, out, _ = invoke("reproduce", run_id)
    assert code == 1 and "FAILED" in out and "no git provenance" in out


def test_a_truncated_diff_fails_with_that_reason(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project.root / "train.py").write_text("# a big uncommitted change\n" * 100)
    monkeypatch.setenv("RUNTRACK_DIFF_MAX_BYTES", "200")
    monkeypatch.chdir(project.root)
    run_id = _run_here()

    code, doc, _ = reproduce("reproduce", run_id, "--verify")

    assert code == 1 and doc["verdict"] == "failed" and doc["stage"] == "plan"
    assert "truncated" in doc["reason"] and "RUNTRACK_DIFF_MAX_BYTES" in doc["reason"]


def test_a_commit_no_local_repository_has_fails_naming_where_it_looked(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project.root)
    run_id = _run_here()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    shutil.rmtree(project.root)

    code, doc, _ = reproduce("reproduce", run_id, "--verify")

    assert code == 1 and doc["verdict"] == "failed" and doc["stage"] == "checkout"
    assert "is not in a local repository" in doc["reason"]
    assert str(project.root) in doc["reason"] and "--repo" in doc["reason"]


def test_a_commit_missing_from_the_repository_given_fails(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project.root)
    run_id = _run_here()
    other = Project(tmp_path / "other", tmp_path)
    other.root.mkdir()
    git(other.root, "init", "-q", "-b", "main")
    (other.root / "README").write_text("another history\n")
    other.commit()
    monkeypatch.chdir(tmp_path)

    code, doc, _ = reproduce("reproduce", run_id, "--repo", str(other.root))

    assert code == 1 and doc["stage"] == "checkout"
    assert f"{other.root} (does not have it)" in doc["reason"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--tolerance", "abc"], "tolerance 'abc' must be a number"),
        (["--tolerance", "x=-1"], "must be >= 0"),
        (["--timeout", "0"], "timeout"),
    ],
)
def test_bad_options_are_errors(
    project: Project, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(project.root)
    run_id = _run_here()
    code, _, err = invoke("reproduce", run_id, *args)
    assert code == 1 and message in err


def test_bad_set_is_an_error(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project.root)
    run_id = _run_here()
    code, _, err = invoke("rerun", run_id, "--set", "lr")
    assert code == 1 and "must be key=value" in err
    code, _, err = invoke("rerun", run_id, "--set", "lr=1", "--set", "lr=2")
    assert code == 1 and "twice" in err


def test_a_non_empty_workdir_is_refused(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project.root)
    run_id = _run_here()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "file").write_text("mine")

    code, doc, _ = reproduce("reproduce", run_id, "--workdir", str(busy))

    assert code == 1 and "not empty" in doc["reason"]
    assert (busy / "file").read_text() == "mine"  # left alone
