"""What a recorded run needs to be run again, read from its provenance: the code (commit
and stored diff), the command line and working directory, the interpreter and packages,
the seeds and determinism variables, the inputs, the config and the metrics to match."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..entities import ArtifactVersion, DatasetInput
from ._common import Stage, StepFailed

if TYPE_CHECKING:
    from ..client.api import RunView

__all__ = ["DETERMINISM_VARS", "Plan", "build_plan", "plain"]

DETERMINISM_VARS = (
    "PYTHONHASHSEED",
    "CUBLAS_WORKSPACE_CONFIG",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
)
"""Variables passed to the command as recorded (``CUDA_VISIBLE_DEVICES`` is not: which
device numbers exist is the machine's business, not the run's)."""

_BINARY = re.compile(r"^Binary files (?:a/)?(.+?) and (?:b/)?(.+?) differ$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Plan:
    run_id: str
    project: str
    name: str
    status: str
    # code
    root: str  # the recorded work tree's top directory
    commit: str
    branch: str | None
    remote: str | None
    diff: str
    untracked_skipped: tuple[Mapping[str, Any], ...]
    # command
    interpreter_args: tuple[str, ...]  # the interpreter's command line without argv[0]
    script_args: int  # how many of them, at the end, are the script's own arguments
    cwd: str | None
    entry_kind: str
    # environment
    python_version: str | None
    packages: Mapping[str, str] | None
    editable: Mapping[str, str]
    env: Mapping[str, str]  # determinism variables to start the command with
    hash_seed: str | None  # PYTHONHASHSEED at the original's start (None: randomised)
    # config, seeds, inputs, results
    hydra: Mapping[str, Any] | None
    config: Mapping[str, Any]
    config_overrides: Mapping[str, Any]  # applied through the SDK when the run was made
    origin: str | None  # the run this one reproduced or reran, if any
    seeds: Mapping[str, Any]
    datasets: tuple[DatasetInput, ...]
    artifacts: tuple[ArtifactVersion, ...]
    summary: Mapping[str, Any]
    warnings: list[str] = field(default_factory=list)

    @property
    def short_commit(self) -> str:
        return self.commit[:12]


def build_plan(view: RunView) -> Plan:
    """The plan for ``view``'s run; raises ``StepFailed`` (stage ``plan``) when its
    provenance cannot rebuild it: no git state, a diff that was not stored whole, no
    command line."""
    rec = view.record
    prov = plain(view.provenance)
    warnings: list[str] = []
    git = prov.get("git")
    if not isinstance(git, dict):
        raise StepFailed(
            Stage.PLAN,
            f"run {rec.id} has no git provenance (it ran outside a git repository, or with "
            "RUNTRACK_CAPTURE_GIT=0): its code cannot be rebuilt",
        )
    commit = git.get("commit")
    if not commit:
        raise StepFailed(
            Stage.PLAN,
            f"run {rec.id} ran before its repository's first commit: there is no commit "
            "to check out",
        )
    diff = str(git.get("diff") or "")
    if git.get("diff_truncated"):
        raise StepFailed(
            Stage.PLAN,
            f"run {rec.id} ran from a dirty tree whose diff was truncated when recorded "
            "(RUNTRACK_DIFF_MAX_BYTES): its uncommitted changes cannot be rebuilt",
        )
    recorded_sha = git.get("diff_sha256")
    actual_sha = hashlib.sha256(diff.encode("utf-8", "surrogatepass")).hexdigest()
    if recorded_sha and recorded_sha != actual_sha:
        raise StepFailed(
            Stage.PLAN, f"run {rec.id}'s stored diff does not match its recorded sha256"
        )
    binary = sorted({m.group(2) for m in _BINARY.finditer(diff)})
    if binary:
        raise StepFailed(
            Stage.PLAN,
            f"run {rec.id} ran with uncommitted changes to binary files, which are not "
            f"stored: {', '.join(binary)}",
            files=binary,
        )
    skipped = tuple(s for s in git.get("untracked_skipped") or () if isinstance(s, dict))
    if skipped:
        names = ", ".join(str(s.get("path")) for s in skipped[:10])
        more = f" and {len(skipped) - 10} more" if len(skipped) > 10 else ""
        warnings.append(
            f"untracked files not stored with the run (binary or too large) are not "
            f"restored: {names}{more}"
        )

    command = prov.get("command")
    if not isinstance(command, dict):
        raise StepFailed(Stage.PLAN, f"run {rec.id} has no recorded command line")
    kind = str(command.get("entry_kind") or "script")
    if kind in ("notebook", "interactive"):
        where = "a notebook" if kind == "notebook" else "an interactive interpreter"
        raise StepFailed(
            Stage.PLAN,
            f"run {rec.id} was started from {where}: there is no command to run again",
        )
    argv = [str(a) for a in command.get("argv") or []]
    orig = [str(a) for a in command.get("orig_argv") or []]
    if len(orig) >= 1 and len(orig) >= len(argv):
        interpreter_args = orig[1:]
    elif kind == "module" and str(command.get("entry_point", "")).startswith("-m "):
        interpreter_args = ["-m", str(command["entry_point"])[3:], *argv[1:]]
    elif kind == "script" and argv:
        interpreter_args = argv
    else:
        raise StepFailed(Stage.PLAN, f"run {rec.id}'s command line was not recorded whole")
    script_args = max(len(argv) - 1, 0)

    env_section = prov.get("environment") if isinstance(prov.get("environment"), dict) else {}
    assert isinstance(env_section, dict)
    python = env_section.get("python") if isinstance(env_section.get("python"), dict) else {}
    recorded_env = env_section.get("env") if isinstance(env_section.get("env"), dict) else {}
    assert isinstance(python, dict) and isinstance(recorded_env, dict)
    env = {k: str(recorded_env[k]) for k in DETERMINISM_VARS if recorded_env.get(k) is not None}
    if "hash_seed" in command:  # the value the process started with
        hash_seed = command["hash_seed"]
        env.pop("PYTHONHASHSEED", None)
        if hash_seed is not None:
            env["PYTHONHASHSEED"] = str(hash_seed)
    else:  # older runs: the value seen when the run started
        hash_seed = env.get("PYTHONHASHSEED")
    packages = env_section.get("packages")
    if not isinstance(packages, dict):
        packages = None
    editable = env_section.get("editable") if isinstance(env_section.get("editable"), dict) else {}
    assert isinstance(editable, dict)

    reproduction = prov.get("reproduction")
    carried: dict[str, Any] = {}
    origin: str | None = None
    if isinstance(reproduction, dict):
        if isinstance(reproduction.get("config_overrides"), dict):
            carried = dict(reproduction["config_overrides"])
        origin = reproduction.get("of")

    if rec.status != "finished":
        warnings.append(f"the original run ended {rec.status}, not finished")
    hydra = prov.get("hydra")
    return Plan(
        run_id=rec.id,
        project=rec.project,
        name=rec.name,
        status=rec.status,
        root=str(git.get("root") or ""),
        commit=str(commit),
        branch=git.get("branch"),
        remote=git.get("remote"),
        diff=diff,
        untracked_skipped=skipped,
        interpreter_args=tuple(interpreter_args),
        script_args=script_args,
        cwd=command.get("cwd"),
        entry_kind=kind,
        python_version=python.get("version"),
        packages=packages,
        editable={str(k): str(v) for k, v in editable.items()},
        env=env,
        hash_seed=None if hash_seed is None else str(hash_seed),
        hydra=hydra if isinstance(hydra, dict) else None,
        config=rec.config.to_dict(),
        config_overrides=carried,
        origin=origin,
        seeds=dict(prov.get("seeds") or {}),
        datasets=tuple(rec.inputs),
        artifacts=tuple(rec.used),
        summary=plain(rec.summary),
        warnings=warnings,
    )


def plain(value: Any) -> Any:
    """FrozenMaps and tuples as dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value
