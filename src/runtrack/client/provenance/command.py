"""How the run was started: command line, entry point, working directory, process, host, user.

Everything here is read from the running interpreter and never raises: a value that
cannot be found is None (or ``"unknown"`` for :func:`host` and :func:`user`).
"""

from __future__ import annotations

import getpass
import os
import platform
import socket
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["capture_command", "entry_point", "host", "user"]


def capture_command() -> dict[str, Any]:
    """A JSON-ready description of how this process was started.

    Keys: ``argv`` (``sys.argv``), ``orig_argv`` (the interpreter's own command line,
    with ``-m``/``-c`` and interpreter options), ``entry_point`` and ``entry_kind`` (see
    :func:`entry_point`), ``script`` (the resolved file of ``__main__``, or None), ``cwd``
    (None if it was deleted), ``executable``, ``pid``, ``start_time`` (the process's
    start, epoch seconds; the time of the call when the OS cannot tell) and ``hash_seed``
    (``PYTHONHASHSEED`` as the process started with it, None when unset: what
    ``runtrack reproduce`` starts the command with).
    """
    from .seeds import startup_hash_seed

    kind, entry, script = entry_point()
    try:
        cwd: str | None = os.getcwd()
    except OSError:
        cwd = None
    return {
        "argv": list(sys.argv),
        "orig_argv": list(getattr(sys, "orig_argv", sys.argv)),
        "entry_point": entry,
        "entry_kind": kind,
        "script": script,
        "cwd": cwd,
        "executable": sys.executable,
        "pid": os.getpid(),
        "start_time": _process_start_time(),
        "hash_seed": startup_hash_seed(),
    }


def entry_point() -> tuple[str, str, str | None]:
    """(kind, entry point, script path) of the ``__main__`` module.

    kind is ``"module"`` (``python -m pkg.train``: entry ``"-m pkg.train"``), ``"script"``
    (entry and script: the resolved file), ``"command"`` (``python -c``: entry ``"-c"``),
    ``"notebook"`` (Jupyter: entry ``"notebook"``) or ``"interactive"`` (a REPL).
    """
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    file = getattr(main, "__file__", None)
    script = _resolve(file) if isinstance(file, str) else None
    name = getattr(spec, "name", None)
    if isinstance(name, str) and name and name != "__main__":
        module = name.removesuffix(".__main__")
        return "module", f"-m {module}", script
    if script is not None:
        return "script", script, script
    if sys.argv and sys.argv[0] == "-c":
        return "command", "-c", None
    if "ipykernel" in sys.modules:
        return "notebook", "notebook", None
    return "interactive", "interactive", None


def host() -> str:
    """This machine's host name; never raises."""
    for probe in (socket.gethostname, platform.node):
        try:
            name = probe()
        except Exception:
            continue
        if name:
            return name
    return "unknown"


def user() -> str:
    """The user running this process; never raises (falls back to the uid, then "unknown")."""
    try:
        name = getpass.getuser()
        if name:
            return name
    except Exception:  # no USER/LOGNAME and no passwd entry (containers)
        pass
    getuid = getattr(os, "getuid", None)
    if getuid is not None:
        return str(getuid())
    return "unknown"


def _resolve(file: str) -> str:
    try:
        return str(Path(file).resolve())
    except (OSError, RuntimeError):
        return os.path.abspath(file)


def _process_start_time() -> float:
    try:
        import psutil

        return float(psutil.Process().create_time())
    except Exception:
        return time.time()
