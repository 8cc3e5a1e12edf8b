"""However a training process ends, its run ends with the right status: real processes,
real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import runtrack
from _support import as_from_a_terminal, subprocess_env


def _start(tmp_path: Path, body: str) -> tuple[subprocess.Popen[str], str]:
    code = "import runtrack, time, sys\n" + textwrap.dedent(body)
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        env=subprocess_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=as_from_a_terminal,
    )
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    return child, run_id


def _wait(child: subprocess.Popen[str]) -> tuple[str, str]:
    """The child's output once it exits; killed (and its pipes closed) if it has not
    within 60 s."""
    try:
        return child.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        child.kill()
        _, err = child.communicate()
        pytest.fail(f"the process did not exit within 60 s; its stderr:\n{err[-3000:]}")


def _run(tmp_path: Path, run_id: str) -> runtrack.RunView:
    return runtrack.Api(f"sqlite:///{tmp_path / 'rt' / 'runtrack.db'}").run(run_id)


LOOP = """
    run = runtrack.init(project="exit")
    print(run.id, flush=True)
    for i in range(10**9):
        run.log({"x": float(i)})
        time.sleep(0.001)
"""


@pytest.mark.parametrize("sig,status", [(signal.SIGTERM, "killed"), (signal.SIGINT, "killed")])
def test_signal_ends_the_run_as_killed(tmp_path: Path, sig: int, status: str) -> None:
    child, run_id = _start(tmp_path, LOOP)
    time.sleep(1.0)
    os.kill(child.pid, sig)
    _, _err = _wait(child)
    assert child.returncode != 0
    r = _run(tmp_path, run_id)
    assert r.status == status
    assert r.metrics["x"].count > 10  # what was logged before the signal is all there
    if sig == signal.SIGTERM:
        assert child.returncode == -signal.SIGTERM  # the default action still happened
        assert "SIGTERM" in (r.error or "")


def test_a_second_sigterm_while_the_first_ends_the_runs_is_ignored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An agent's trial process gets SIGTERM from its parent-death signal and can get
    another while the first still ends the run (draining it to the store): the second
    used to return at once from the already-ending run and kill the process mid-drain,
    leaving the run 'running'. Now it is ignored and the first one finishes."""
    from runtrack.client import _hooks

    calls: list[str] = []
    passed_on: list[int] = []

    def finish_all(status: str, error: str | None) -> None:
        calls.append(status)
        if len(calls) == 1:
            on_term(signal.SIGTERM, None)  # the second signal, during the first's work
        calls.append("drained")

    monkeypatch.setattr(_hooks, "_finish_all", finish_all)
    on_term = _hooks._make_term_handler(lambda signum, frame: passed_on.append(signum))
    on_term(signal.SIGTERM, None)
    assert calls == ["killed", "drained"]  # ended once, and to the end
    assert passed_on == [signal.SIGTERM]  # then the previous handler, once


def test_uncaught_exception_fails_the_run_with_its_traceback(tmp_path: Path) -> None:
    child, run_id = _start(
        tmp_path,
        """
        run = runtrack.init(project="exit")
        print(run.id, flush=True)
        run.log({"x": 1.0})
        def train():
            raise ValueError("diverged at step 7")
        train()
    """,
    )
    _, err = _wait(child)
    assert child.returncode == 1 and "diverged at step 7" in err  # traceback still printed
    r = _run(tmp_path, run_id)
    assert r.status == "failed"
    assert "ValueError: diverged at step 7" in (r.error or "") and "in train" in (r.error or "")


def test_script_that_never_calls_finish_ends_finished(tmp_path: Path) -> None:
    child, run_id = _start(
        tmp_path,
        """
        run = runtrack.init(project="exit")
        print(run.id, flush=True)
        for i in range(100):
            runtrack.log({"x": float(i)})
        print("done; bye")
    """,
    )
    _out, _ = _wait(child)
    assert child.returncode == 0
    r = _run(tmp_path, run_id)
    assert r.status == "finished" and r.metrics["x"].count == 100
    assert (
        "done; bye"
        in runtrack.Api(f"sqlite:///{tmp_path / 'rt' / 'runtrack.db'}").run(run_id).console()
    )


def test_sys_exit_with_an_error_code_fails_the_run(tmp_path: Path) -> None:
    child, run_id = _start(
        tmp_path,
        """
        with runtrack.init(project="exit") as run:
            print(run.id, flush=True)
            sys.exit(3)
    """,
    )
    _wait(child)
    assert child.returncode == 3
    assert _run(tmp_path, run_id).status == "failed"
