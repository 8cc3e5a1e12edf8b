"""Running the recorded command in the worktree, and finding the run it made.

The command is the recorded interpreter command line (``sys.orig_argv`` without the
interpreter: options, ``-m module`` or the script, and the script's arguments) with the
chosen interpreter in front; paths inside the recorded repository are moved into the
worktree, and so is the working directory. The environment is this process's, plus:

* ``RUNTRACK_REPRODUCE_OF`` / ``RUNTRACK_RERUN_OF``, ``RUNTRACK_REPRODUCE_REPORT``,
  ``RUNTRACK_PIN_ARTIFACTS``, ``RUNTRACK_CONFIG_OVERRIDES`` (see
  ``runtrack.client._reproduction``), ``RUNTRACK_MODE=online`` and the run's project as
  ``RUNTRACK_PROJECT``;
* the determinism variables as recorded (``PYTHONHASHSEED`` as the original process
  started with it, ``CUBLAS_WORKSPACE_CONFIG``, ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``);
* ``PYTHONPATH`` with every import path that lay in the original repository (a
  ``src/`` directory installed editable, say) moved into the worktree, ahead of the
  rest, so the worktree's code is imported, not the original checkout's.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..client._reproduction import (
    ENV_CONFIG_OVERRIDES,
    ENV_PIN_ARTIFACTS,
    ENV_REPORT,
    ENV_REPRODUCE_OF,
    ENV_RERUN_OF,
)
from ._common import Reporter, Stage, StepFailed, map_path, relative_to_root

__all__ = ["Execution", "child_env", "command_line", "run_command", "working_directory"]

TAIL_LINES = 40


@dataclass
class Execution:
    exit_code: int
    tail: str
    seconds: float
    run_ids: list[str]
    timed_out: bool = False


def command_line(
    python: str, interpreter_args: Sequence[str], root: str, worktree: Path
) -> list[str]:
    """``[python, *args]`` with paths in the recorded repository moved to the worktree."""
    return [python, *(_map_arg(a, root, worktree) for a in interpreter_args)]


def working_directory(cwd: str | None, root: str, worktree: Path) -> tuple[Path, str | None]:
    """(directory to run in, a note when it is not the recorded one mapped as it is)."""
    if cwd is None:
        return worktree, "the original working directory was not recorded; the worktree's top"
    mapped = map_path(cwd, root, worktree)
    if mapped is None:
        if os.path.isdir(cwd):
            return Path(cwd), f"the original ran outside its repository, in {cwd}: run there"
        return worktree, f"the original ran in {cwd}, outside its repository; it is gone"
    here = Path(mapped)
    if here.is_dir():
        return here, None
    probe = here
    while probe != worktree and not probe.is_dir():  # e.g. Hydra's chdir to outputs/...
        probe = probe.parent
    rel = relative_to_root(cwd, root)
    return probe, f"the recorded working directory {rel} is not in the worktree; {probe} used"


def child_env(
    *,
    base: Mapping[str, str],
    python: str,
    root: str,
    worktree: Path,
    project: str,
    link: tuple[str, str] | None,
    report_file: Path,
    pins: Mapping[str, str],
    overrides: Mapping[str, Any],
    determinism: Mapping[str, str],
    interpreter_env: Mapping[str, str],
) -> dict[str, str]:
    """The command's environment (see the module docstring)."""
    env = {k: v for k, v in base.items() if k not in _OURS}
    env.update(interpreter_env)
    env.update(determinism)
    env["RUNTRACK_MODE"] = "online"
    env["RUNTRACK_PROJECT"] = project
    if link is not None:
        kind, of = link
        env[ENV_REPRODUCE_OF if kind == "reproduction" else ENV_RERUN_OF] = of
    env[ENV_REPORT] = str(report_file)
    if pins:
        env[ENV_PIN_ARTIFACTS] = json.dumps(dict(pins), sort_keys=True)
    if overrides:
        env[ENV_CONFIG_OVERRIDES] = json.dumps(dict(overrides), sort_keys=True)
    paths = _import_paths(python, env)
    given = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    moved = [m for p in [*paths, *given] if (m := map_path(p, root, worktree)) is not None]
    rest = [p for p in given if map_path(p, root, worktree) is None]
    if moved:
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([*moved, *rest]))
    return env


_OURS = frozenset(
    {ENV_REPRODUCE_OF, ENV_RERUN_OF, ENV_REPORT, ENV_PIN_ARTIFACTS, ENV_CONFIG_OVERRIDES}
)


def run_command(
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    report_file: Path,
    reporter: Reporter,
    timeout: float | None = None,
) -> Execution:
    """Run the command to its end; its output goes to ``reporter`` line by line and its
    last :data:`TAIL_LINES` lines are kept."""
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
    except OSError as exc:
        raise StepFailed(Stage.RUN, f"cannot start {argv[0]}: {exc}") from None
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    timed_out = threading.Event()
    watchdog = None
    if timeout is not None:

        def kill() -> None:
            timed_out.set()
            proc.kill()

        watchdog = threading.Timer(timeout, kill)
        watchdog.daemon = True
        watchdog.start()
    with proc:  # closes the pipe
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                line = line.rstrip("\n")
                tail.append(line)
                reporter.output(line)
            code = proc.wait()
        except BaseException:  # Ctrl-C: do not leave the command running
            proc.kill()
            proc.wait()
            raise
        finally:
            if watchdog is not None:
                watchdog.cancel()
    ids: list[str] = []
    try:
        ids = [line.strip() for line in report_file.read_text().splitlines() if line.strip()]
    except OSError:
        pass
    return Execution(
        exit_code=code,
        tail="\n".join(tail),
        seconds=time.monotonic() - started,
        run_ids=list(dict.fromkeys(ids)),
        timed_out=timed_out.is_set(),
    )


def _map_arg(arg: str, root: str, worktree: Path) -> str:
    if not root:
        return arg
    if os.path.isabs(arg):
        mapped = map_path(arg, root, worktree)
        return arg if mapped is None else mapped
    name, sep, value = arg.partition("=")
    if sep and os.path.isabs(value):
        mapped = map_path(value, root, worktree)
        return arg if mapped is None else f"{name}={mapped}"
    return arg


def _import_paths(python: str, env: Mapping[str, str]) -> list[str]:
    """The import path of ``python`` (without its script directory)."""
    try:
        done = subprocess.run(
            [python, "-c", "import json, sys; print(json.dumps(sys.path[1:]))"],
            cwd=os.path.abspath(os.sep),
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        paths = json.loads(done.stdout) if done.returncode == 0 else []
    except (OSError, subprocess.SubprocessError, ValueError):
        return []
    return [p for p in paths if isinstance(p, str) and p]
