"""The interpreter the command runs with.

``current``: this interpreter and its packages; the packages whose versions differ from
the recorded ones are listed (they are a likely cause of a ``differs`` verdict).

``new``: a fresh virtual environment (``python -m venv``, with the recorded Python
``major.minor`` when a ``pythonX.Y`` is on PATH) and ``pip install --no-deps
name==version`` of every recorded package, except:

* ``runtrack`` itself: the running runtrack is made importable instead (a ``.pth`` file),
  since the reproduction is linked by it;
* ``pip`` (the environment's own);
* editable installs (``pip install -e``): one of the run's own repository is installed
  from the worktree (``pip install --no-deps -e``), any other is reported, not installed
  (a version number does not say which code it was).

Requirements pip cannot find are dropped and reported, and the rest installed.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ._common import Reporter, Stage, StepFailed, map_path

__all__ = ["Interpreter", "current_interpreter", "new_interpreter", "requirements"]

_PIP_TIMEOUT = 3600.0
_NOT_FOUND = re.compile(
    r"(?:No matching distribution found for|Could not find a version that satisfies the "
    r"requirement)\s+([A-Za-z0-9][A-Za-z0-9._-]*)",
)


@dataclass
class Interpreter:
    python: str
    mode: str
    env: dict[str, str] = field(default_factory=dict)  # set for the command (PATH, ...)
    venv: str | None = None
    report: dict[str, Any] = field(default_factory=dict)


def current_interpreter(
    recorded_version: str | None, packages: Mapping[str, str] | None
) -> Interpreter:
    """This interpreter; the report lists recorded packages whose version differs here."""
    from ..client.provenance.environment import installed_packages

    now = installed_packages()
    differences = [
        {"name": name, "recorded": version, "current": now.get(name)}
        for name, version in sorted((packages or {}).items())
        if now.get(name) != version and name != "runtrack"
    ]
    return Interpreter(
        python=sys.executable,
        mode="current",
        report={
            "mode": "current",
            "python": {"recorded": recorded_version, "used": _version()},
            "package_differences": differences,
        },
    )


def requirements(
    packages: Mapping[str, str], editable: Mapping[str, str], root: str, worktree: Path
) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """(``name==version`` to install, worktree directories to install editable, skipped
    packages ``{"name", "version", "reason"}``)."""
    install: list[str] = []
    local: list[str] = []
    skipped: list[dict[str, Any]] = []
    for name, version in sorted(packages.items()):
        if name == "runtrack":
            skipped.append({"name": name, "version": version, "reason": "the running one"})
        elif name == "pip":
            skipped.append({"name": name, "version": version, "reason": "the venv's own"})
        elif name in editable:
            url = editable[name]
            path = _file_url_path(url)
            mapped = map_path(path, root, worktree) if path else None
            if mapped is not None:
                local.append(mapped)
            else:
                skipped.append(
                    {
                        "name": name,
                        "version": version,
                        "reason": f"editable install of {url or 'an unknown source'}",
                    }
                )
        else:
            install.append(f"{name}=={version}")
    return install, local, skipped


def new_interpreter(
    dest: Path,
    recorded_version: str | None,
    packages: Mapping[str, str] | None,
    editable: Mapping[str, str],
    root: str,
    worktree: Path,
    reporter: Reporter,
) -> Interpreter:
    """A virtual environment at ``dest`` with the recorded packages (see the module
    docstring). Raises ``StepFailed`` (stage ``environment``) when it cannot be made."""
    base, python_note = _base_python(recorded_version)
    reporter.stage(f"creating a virtual environment ({Path(base).name})")
    _run([base, "-m", "venv", str(dest)], "python -m venv")
    python = str(dest / ("Scripts" if os.name == "nt" else "bin") / "python")
    purelib = _run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        "reading the venv's site-packages",
    ).strip()
    _expose_runtrack(Path(purelib), dest)

    install, local, skipped = requirements(packages or {}, editable, root, worktree)
    failed: list[dict[str, Any]] = []
    if install:
        failed = _pip_install(python, install, reporter)
    for directory in local:
        reporter.stage(f"installing {directory} (editable)")
        try:
            _run(
                [python, "-m", "pip", "install", "--no-deps", "--no-input", "-e", directory],
                f"pip install -e {directory}",
            )
        except StepFailed as exc:
            failed.append({"requirement": f"-e {directory}", "error": exc.reason})
    env = {
        "VIRTUAL_ENV": str(dest),
        "PATH": str(Path(python).parent) + os.pathsep + os.environ.get("PATH", ""),
    }
    report: dict[str, Any] = {
        "mode": "new",
        "venv": str(dest),
        "python": {"recorded": recorded_version, "used": _version(python)},
        "installed": len(install) - len(failed) + len(local),
        "skipped": skipped,
        "failed": failed,
    }
    if packages is None:
        report["note"] = "the run recorded no package list (RUNTRACK_CAPTURE_PACKAGES=0)"
    if python_note:
        report["python_note"] = python_note
    return Interpreter(python=python, mode="new", env=env, venv=str(dest), report=report)


# --------------------------------------------------------------------------------------
def _base_python(recorded: str | None) -> tuple[str, str | None]:
    """The interpreter to make the venv with: the recorded ``major.minor`` if found."""
    if not recorded:
        return sys.executable, None
    wanted = ".".join(recorded.split(".")[:2])
    if wanted == ".".join(_version().split(".")[:2]):
        return sys.executable, None
    found = shutil.which(f"python{wanted}")
    if found:
        return found, None
    return sys.executable, (
        f"the run used Python {recorded}; no python{wanted} on PATH, so {_version()} is used"
    )


def _version(python: str | None = None) -> str:
    if python is None:
        return platform.python_version()
    try:
        return _run(
            [python, "-c", "import platform; print(platform.python_version())"], "python -V"
        ).strip()
    except StepFailed:
        return "?"


def _expose_runtrack(purelib: Path, dest: Path) -> None:
    """Make the running runtrack importable in the venv, and nothing else from here."""
    import runtrack

    package = Path(runtrack.__file__).resolve().parent
    shim = dest / "runtrack-current"
    shim.mkdir(parents=True, exist_ok=True)
    link = shim / "runtrack"
    try:
        link.symlink_to(package, target_is_directory=True)
    except OSError:
        shutil.copytree(package, link)
    # so that the reproduction's recorded package list names the runtrack it ran with
    meta = shim / f"runtrack-{runtrack.__version__}.dist-info"
    meta.mkdir(exist_ok=True)
    (meta / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: runtrack\nVersion: {runtrack.__version__}\n"
    )
    (purelib / "_runtrack_current.pth").write_text(str(shim) + "\n")


def _pip_install(python: str, reqs: list[str], reporter: Reporter) -> list[dict[str, Any]]:
    """Install ``reqs`` (``--no-deps``: the recorded list is the whole closure); what pip
    cannot find is dropped and reported. Returns the failures."""
    failed: list[dict[str, Any]] = []
    remaining = list(reqs)
    while remaining:
        reporter.stage(f"installing {len(remaining)} recorded packages", total=len(remaining))
        code, output = _pip(python, remaining, reporter)
        if code == 0:
            return failed
        missing = {m.group(1).lower().replace("_", "-") for m in _NOT_FOUND.finditer(output)}
        drop = [r for r in remaining if r.split("==")[0].lower() in missing]
        if drop:
            for r in drop:
                failed.append({"requirement": r, "error": "no matching distribution found"})
            remaining = [r for r in remaining if r not in drop]
            continue
        # another failure (a build error...): one at a time, to name the culprits
        reporter.stage("installing packages one by one", total=len(remaining))
        for r in remaining:
            code, output = _pip(python, [r], None)
            reporter.advance(text=r)
            if code != 0:
                failed.append({"requirement": r, "error": _tail(output)})
        return failed
    return failed


def _pip(python: str, reqs: list[str], reporter: Reporter | None) -> tuple[int, str]:
    cmd = [python, "-m", "pip", "install", "--no-deps", "--no-input", "--progress-bar", "off"]
    try:
        proc = subprocess.Popen(
            [*cmd, *reqs],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
        )
    except OSError as exc:
        raise StepFailed(Stage.ENVIRONMENT, f"cannot run pip: {exc}") from None
    lines: list[str] = []
    with proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if reporter is not None and line.startswith(("Collecting ", "Processing ")):
                reporter.advance(text=line.split()[1])
            elif reporter is not None and line.startswith("Installing collected packages"):
                reporter.stage("installing collected packages")
        try:
            code = proc.wait(timeout=_PIP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise StepFailed(Stage.ENVIRONMENT, "pip install did not finish in an hour") from None
    return code, "".join(lines)


def _run(cmd: list[str], what: str) -> str:
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=_PIP_TIMEOUT, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise StepFailed(Stage.ENVIRONMENT, f"{what} failed: {exc}") from None
    if done.returncode != 0:
        raise StepFailed(Stage.ENVIRONMENT, f"{what} failed: {_tail(done.stderr or done.stdout)}")
    return done.stdout


def _tail(text: str, lines: int = 5) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _file_url_path(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme != "file":
        return None
    return unquote(parts.path)
