"""However a training process ends, its run ends with the right status: real processes,
real signals."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from types import FrameType

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
    monkeypatch.setattr(_hooks, "_ENDING", threading.Event())
    monkeypatch.setattr(_hooks, "_UNWINDING", threading.Event())
    monkeypatch.setattr(_hooks, "_previous_term", _hooks._previous_term)
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


@pytest.mark.parametrize(
    ("exit_call", "code", "status", "error"),
    [
        ("sys.exit(3)", 3, "failed", "the process exited with code 3 (sys.exit)"),
        ("sys.exit('bad config')", 1, "failed", "exited with code 1: sys.exit('bad config')"),
        ("sys.exit(0)", 0, "finished", None),
        ("sys.exit()", 0, "finished", None),
    ],
)
def test_sys_exit_without_a_with_block_ends_the_run_by_its_code(
    tmp_path: Path, exit_call: str, code: int, status: str, error: str | None
) -> None:
    # a script that ends with sys.exit(main()) and never calls finish(): W&B reads the
    # exit code, and a run that asked to exit with an error must not read "finished"
    child, run_id = _start(
        tmp_path,
        f"""
        run = runtrack.init(project="exit")
        print(run.id, flush=True)
        run.log({{"x": 1.0}})
        {exit_call}
    """,
    )
    _wait(child)
    assert child.returncode == code
    r = _run(tmp_path, run_id)
    assert r.status == status and r.metrics["x"].count == 1
    if error is None:
        assert r.error is None
    else:
        assert error in (r.error or ""), r.error


def test_sys_exit_while_handling_an_exception_keeps_its_traceback(tmp_path: Path) -> None:
    # what Hydra's @hydra.main does with a task's exception: print it, then sys.exit(1)
    child, run_id = _start(
        tmp_path,
        """
        run = runtrack.init(project="exit")
        print(run.id, flush=True)
        try:
            raise ValueError("diverged at step 7")
        except ValueError:
            print("something went wrong", file=sys.stderr)
            sys.exit(1)
    """,
    )
    _wait(child)
    assert child.returncode == 1
    r = _run(tmp_path, run_id)
    assert r.status == "failed"
    assert "exited with code 1" in (r.error or "") and "ValueError: diverged at step 7" in (
        r.error or ""
    )


def test_sys_exit_in_another_thread_does_not_fail_the_run(tmp_path: Path) -> None:
    # there it only ends the thread; the process goes on and exits normally
    child, run_id = _start(
        tmp_path,
        """
        import threading
        run = runtrack.init(project="exit")
        print(run.id, flush=True)
        t = threading.Thread(target=sys.exit, args=(4,))
        t.start(); t.join()
        run.log({"x": 1.0})
    """,
    )
    _wait(child)
    assert child.returncode == 0
    assert _run(tmp_path, run_id).status == "finished"


def test_a_hydra_app_whose_task_raises_fails_its_run(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(
        textwrap.dedent(
            """
            import hydra, runtrack
            @hydra.main(version_base=None, config_path=None)
            def main(cfg) -> None:
                run = runtrack.init(project="exit")
                print(run.id, flush=True)
                run.log({"x": 1.0})
                raise ValueError("diverged at step 7")
            main()
            """
        )
    )
    env = subprocess_env(tmp_path)
    env.pop("HYDRA_FULL_ERROR", None)  # Hydra's default: it catches the error and exits 1
    done = subprocess.run(
        [sys.executable, str(app), f"hydra.run.dir={tmp_path / 'out'}"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    # Hydra logs on stdout too: the run id is the line the task printed
    [run_id] = [line for line in done.stdout.splitlines() if re.fullmatch(r"[0-9a-z]{16}", line)]
    r = _run(tmp_path, run_id)
    assert r.status == "failed"
    assert "ValueError: diverged at step 7" in (r.error or ""), r.error


def test_sigterm_inside_runtrack_unwinds_instead_of_ending_the_runs_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A signal handler runs in the main thread between two bytecodes: inside run.log it
    would end the run while log holds the lock that ending it needs (a hang). There the
    handler raises Terminated; the runs end once the stack has unwound."""
    from runtrack.client import _hooks, _sink

    calls: list[str] = []
    monkeypatch.setattr(_hooks, "_finish_all", lambda status, error: calls.append(status))
    monkeypatch.setattr(_hooks, "_ENDING", threading.Event())
    monkeypatch.setattr(_hooks, "_UNWINDING", threading.Event())
    monkeypatch.setattr(_hooks, "_previous_term", _hooks._previous_term)
    on_term = _hooks._make_term_handler(lambda signum, frame: calls.append("previous"))
    assert not _hooks._inside_runtrack(sys._getframe())  # this test is not runtrack

    def runtrack_frame() -> FrameType:
        """A frame of runtrack's code, as the handler sees one when log is interrupted."""
        scope: dict[str, object] = {"__name__": _sink.__name__}
        exec(compile("import sys\nframe = sys._getframe()", "<runtrack>", "exec"), scope)
        frame = scope["frame"]
        assert isinstance(frame, FrameType)
        return frame

    with pytest.raises(_hooks.Terminated):
        on_term(signal.SIGTERM, runtrack_frame())
    assert calls == []  # nothing ended while runtrack's code may hold a lock
    on_term(signal.SIGTERM, runtrack_frame())  # a second one while unwinding: ignored
    assert calls == []
    on_term(signal.SIGTERM, None)  # outside runtrack, the handler ends the runs itself
    assert calls == ["killed", "previous"]


def test_sigterm_during_a_tight_logging_loop_never_hangs(tmp_path: Path) -> None:
    """Before: 14 of 40 SIGTERMs sent to a loop of run.log calls hung the process (the
    handler ended the run inside log's lock). Several tries at random moments: each
    process must end by SIGTERM within 15 s with its run killed and its values kept."""
    body = """
        run = runtrack.init(project="exit")
        print(run.id, flush=True)
        for i in range(10**9):
            run.log({"x": float(i)})
    """
    rng = __import__("random").Random(7)
    for _ in range(6):
        child, run_id = _start(tmp_path, body)
        time.sleep(rng.uniform(0.2, 0.5))
        child.send_signal(signal.SIGTERM)
        try:
            child.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            pytest.fail("the process hung after SIGTERM")
        assert child.returncode == -signal.SIGTERM
        r = _run(tmp_path, run_id)
        assert (r.status, r.error) == ("killed", "terminated by SIGTERM")
        assert r.metrics["x"].count > 0


def test_sigterm_inside_a_with_block_ends_the_run_killed(tmp_path: Path) -> None:
    child, run_id = _start(
        tmp_path,
        """
        with runtrack.init(project="exit") as run:
            print(run.id, flush=True)
            for i in range(10**9):
                run.log({"x": float(i)})
    """,
    )
    time.sleep(0.4)
    child.send_signal(signal.SIGTERM)
    _wait(child)
    assert child.returncode == -signal.SIGTERM
    r = _run(tmp_path, run_id)
    assert (r.status, r.error) == ("killed", "terminated by SIGTERM")
