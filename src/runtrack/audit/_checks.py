"""The reproducibility checklist: each check reads what a run recorded and says whether
it is enough to run it again, and if not, what to do.

Everything is read from the run's record (provenance, config, inputs): nothing here looks
at the machine the audit runs on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import PurePath
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from ..entities import RunRecord
from ..errors import ValidationError
from ._result import AuditResult, Check

__all__ = ["CHECKS", "WEIGHTS", "audit_record"]

WEIGHTS: Final[dict[str, int]] = {
    "code": 25,
    "environment": 15,
    "inputs": 20,
    "seeds": 15,
    "determinism": 10,
    "config": 10,
    "hardware": 5,
}
"""Points of each check; they add up to 100."""

TITLES: Final[dict[str, str]] = {
    "code": "code committed or its diff stored",
    "environment": "environment pinned",
    "inputs": "every declared input hashed",
    "seeds": "seeds recorded for each RNG in use",
    "determinism": "determinism settings recorded",
    "config": "config fully resolved",
    "hardware": "hardware recorded",
}

TRACKER_PACKAGES: Final = frozenset({"runtrack"})
"""Packages left out of the environment check: the tracker does not change results."""

_SHA256: Final = re.compile(r"[0-9a-f]{64}")
_INTERPOLATION: Final = re.compile(r"(?<!\\)\$\{.*\}", re.DOTALL)
_MISSING: Final = "???"
_LISTED: Final = 3  # names shown in a detail before "and N more"

_Outcome = tuple[bool, str, str | None]  # passed, detail, fix


class _Run:
    """The parts of a record the checks read, with safe defaults for missing sections."""

    def __init__(self, record: RunRecord) -> None:
        if record.provenance is None:
            raise ValidationError(
                f"run {record.id}: provenance is not loaded; audit a record from get_run"
            )
        self.record = record
        self.prov: Mapping[str, Any] = record.provenance
        self.env = _mapping(self.prov.get("environment"))
        self.det = _mapping(self.prov.get("determinism"))
        self.torch = _mapping(self.det.get("torch"))
        packages = self.env.get("packages")
        self.packages: Mapping[str, Any] | None = (
            packages if isinstance(packages, Mapping) else None
        )
        self.accelerators = _mapping(self.env.get("accelerators"))

    @property
    def torch_in_use(self) -> bool:
        return (
            "torch" in self.accelerators
            or bool(self.torch)
            or (self.packages is not None and "torch" in self.packages)
        )

    @property
    def cuda_in_use(self) -> bool:
        return (
            self.accelerators.get("torch.cuda_available") is True
            or self.torch.get("cuda_initialized") is True
        )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:_LISTED])
    more = len(items) - _LISTED
    return shown + (f" and {more} more" if more > 0 else "")


# -- the checks -------------------------------------------------------------------------
def check_code(run: _Run) -> _Outcome:
    if "git" not in run.prov:
        return (
            False,
            "no git state recorded",
            "run the script inside a git repository with RUNTRACK_CAPTURE_GIT on (the default)",
        )
    git = _mapping(run.prov.get("git"))
    if not git:
        return (
            False,
            "the code was not in a git repository",
            "keep the code in a git repository and commit it (git init && git add -A && "
            "git commit), then re-run",
        )
    commit = git.get("commit")
    if not isinstance(commit, str) or not commit:
        return (False, "the repository had no commit", "commit the code, then re-run")
    short = commit[:12]
    dirty = git.get("dirty")
    if dirty is None:
        return (
            False,
            f"commit {short}, but git status did not answer: uncommitted changes are unknown",
            "commit every change and re-run",
        )
    if dirty is False:
        return True, f"commit {short}, clean work tree", None
    skipped = [s for s in git.get("untracked_skipped") or () if isinstance(s, Mapping)]
    if git.get("diff_truncated") or any(s.get("reason") == "diff_max_bytes" for s in skipped):
        return (
            False,
            f"commit {short} with uncommitted changes; the stored diff was cut at "
            "RUNTRACK_DIFF_MAX_BYTES",
            "commit the changes (or raise RUNTRACK_DIFF_MAX_BYTES), then re-run",
        )
    diff = git.get("diff")
    if not isinstance(diff, str) or not diff.strip():
        names = [str(s.get("path")) for s in skipped]
        return (
            False,
            f"commit {short} with uncommitted changes that are not in the stored diff"
            + (f" (skipped: {_names(names)})" if names else ""),
            "commit the changes (or .gitignore the files), then re-run",
        )
    detail = f"commit {short} + stored diff ({diff.count(chr(10))} lines)"
    if skipped:
        names = [f"{s.get('path')} ({s.get('reason')})" for s in skipped]
        detail += f"; untracked files not stored: {_names(names)}"
    return True, detail, None


def check_environment(run: _Run) -> _Outcome:
    if not run.env:
        return (
            False,
            "no environment recorded (the run ended before it was captured)",
            "let the run go on until runtrack.init's background capture is done, then re-run",
        )
    if run.packages is None:
        return (
            False,
            "package versions were not captured (RUNTRACK_CAPTURE_PACKAGES=0)",
            "unset RUNTRACK_CAPTURE_PACKAGES (or set it to 1), then re-run",
        )
    if not run.packages:
        return (
            False,
            "the package list is empty",
            "run from a virtual environment whose packages are visible on sys.path",
        )
    python = _mapping(run.env.get("python")).get("version")
    problems: list[str] = []
    unversioned = sorted(
        k for k, v in run.packages.items() if not isinstance(v, str) or not v.strip()
    )
    if unversioned:
        problems.append(f"no version for {_names(unversioned)}")
    editable = _mapping(run.env.get("editable"))
    root = _mapping(run.prov.get("git")).get("root")
    outside = sorted(
        name
        for name, url in editable.items()
        if name not in TRACKER_PACKAGES and not _inside(url, root)
    )
    if outside:
        problems.append(
            "editable installs outside the repository, not pinned by a version: "
            + _names([f"{n} ({editable[n]})" for n in outside])
        )
    if not python:
        problems.append("the Python version was not recorded")
    if problems:
        return (
            False,
            "; ".join(problems),
            "install these from released versions (pip install NAME==VERSION) or keep their "
            "source in this repository and commit it, then re-run",
        )
    detail = f"{len(run.packages)} packages with exact versions, Python {python}"
    inside = sorted(n for n in editable if n not in TRACKER_PACKAGES and n not in outside)
    if inside:
        detail += f"; editable from this repository: {_names(inside)}"
    return True, detail, None


def _inside(url: Any, root: Any) -> bool:
    """Whether an editable install's ``file://`` URL lies in the run's git work tree."""
    if not isinstance(url, str) or not isinstance(root, str) or not root:
        return False
    parts = urlsplit(url)
    if parts.scheme != "file":
        return False
    try:
        return PurePath(unquote(parts.path)).is_relative_to(PurePath(root))
    except ValueError:
        return False


def check_inputs(run: _Run) -> _Outcome:
    datasets, used = run.record.inputs, run.record.used
    if not datasets and not used:
        return (
            False,
            "no inputs declared (data the code read without declaring it cannot be known)",
            "declare what the run reads: run.use_dataset(path) for files and directories, "
            "run.use_artifact(ref) for artifacts",
        )
    unhashed = [d.name or d.path for d in datasets if not _SHA256.fullmatch(d.digest or "")]
    unhashed += [v.full_ref for v in used if not v.digest]
    if unhashed:
        return (
            False,
            f"inputs without a content hash: {_names(unhashed)}",
            "declare them with run.use_dataset(path) or run.use_artifact(ref), which hash "
            "the content, then re-run",
        )
    counts = [f"{len(datasets)} dataset{'s' if len(datasets) != 1 else ''}"]
    if used:
        counts.append(f"{len(used)} artifact version{'s' if len(used) != 1 else ''}")
    return (
        True,
        " and ".join(counts) + " hashed (covers declared inputs only: data read without "
        "use_dataset/use_artifact cannot be known)",
        None,
    )


def check_seeds(run: _Run) -> _Outcome:
    seeds = _mapping(run.prov.get("seeds"))
    in_use = ["python"]
    if run.packages is not None and "numpy" in run.packages:
        in_use.append("numpy")
    if run.torch_in_use:
        in_use.append("torch")
    missing = [rng for rng in in_use if rng not in seeds]
    if missing:
        return (
            False,
            f"no seed recorded for {', '.join(missing)}"
            + ("" if seeds else " (no seeds recorded at all)"),
            "call runtrack.seed_everything(SEED) at the start of the script (it seeds python, "
            "numpy and torch and records the seeds)",
        )
    detail = "seeded: " + ", ".join(f"{rng}={seeds[rng]}" for rng in in_use)
    if run.packages is None:
        detail += " (packages not recorded: other RNGs in use are unknown)"
    return True, detail, None


def check_determinism(run: _Run) -> _Outcome:
    if not run.det:
        return (
            False,
            "determinism settings were not recorded (a run made before runtrack recorded them)",
            "re-run with this version of runtrack",
        )
    problems: list[str] = []
    fixes: list[str] = []
    command = _mapping(run.prov.get("command"))
    # what hashing used is the value the process started with (seed_everything sets
    # os.environ, which only child processes read); older runs: the value recorded
    seed = command["hash_seed"] if "hash_seed" in command else run.det.get("PYTHONHASHSEED")
    if seed is None or seed == "" or seed == "random":
        problems.append(
            "PYTHONHASHSEED was not set when Python started: str hashing was randomised"
        )
        fixes.append("start Python with PYTHONHASHSEED set (PYTHONHASHSEED=0 python train.py)")
    ok = [f"PYTHONHASHSEED={seed}"] if not problems else []
    if run.torch.get("cuda_initialized") is True:  # CPU kernels are deterministic already
        if run.torch.get("deterministic_algorithms") is not True:
            problems.append("torch deterministic algorithms are off on CUDA")
            fixes.append("call torch.use_deterministic_algorithms(True)")
        else:
            warn = " (warn only)" if run.torch.get("warn_only") else ""
            ok.append("torch deterministic algorithms on" + warn)
        if run.torch.get("cudnn_benchmark") is True:
            problems.append("cudnn.benchmark is on")
            fixes.append("set torch.backends.cudnn.benchmark = False")
        if not run.det.get("CUBLAS_WORKSPACE_CONFIG"):
            problems.append("CUBLAS_WORKSPACE_CONFIG is not set")
            fixes.append("export CUBLAS_WORKSPACE_CONFIG=:4096:8")
    elif run.torch:
        on = run.torch.get("deterministic_algorithms") is True
        ok.append(f"torch on CPU (deterministic algorithms {'on' if on else 'off'})")
    if problems:
        return False, "; ".join(problems), "; ".join(fixes)
    if run.det.get("CUBLAS_WORKSPACE_CONFIG"):
        ok.append(f"CUBLAS_WORKSPACE_CONFIG={run.det['CUBLAS_WORKSPACE_CONFIG']}")
    if not run.torch:
        ok.append("torch not imported")
    return True, ", ".join(ok), None


def check_config(run: _Run) -> _Outcome:
    interpolated: list[str] = []
    missing: list[str] = []
    count = 0
    for path, value in _leaves(run.record.config, ""):
        count += 1
        if not isinstance(value, str):
            continue
        if value == _MISSING:
            missing.append(path)
        elif _INTERPOLATION.search(value):
            interpolated.append(f"{path} = {value}")
    if interpolated or missing:
        problems = []
        if interpolated:
            problems.append(f"unresolved interpolations: {_names(interpolated)}")
        if missing:
            problems.append(f"missing values ('???'): {_names(missing)}")
        return (
            False,
            "; ".join(problems),
            "record the resolved config: pass the OmegaConf DictConfig itself to runtrack.init "
            "(runtrack resolves it) or OmegaConf.to_container(cfg, resolve=True), and give "
            "every '???' a value, then re-run",
        )
    if not count:
        return True, "no config recorded (nothing left to resolve)", None
    return True, f"{count} values, none left unresolved", None


def _leaves(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield from _leaves(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list | tuple):
        for i, value in enumerate(node):
            yield from _leaves(value, f"{path}[{i}]")
    else:
        yield path, node


def check_hardware(run: _Run) -> _Outcome:
    if not run.env:
        return (
            False,
            "no environment recorded (the run ended before it was captured)",
            "let the run go on until runtrack.init's background capture is done, then re-run",
        )
    cpu = _mapping(run.env.get("cpu"))
    ram = run.env.get("ram_total_bytes")
    gpus = [g for g in run.env.get("gpus") or () if isinstance(g, Mapping)]
    problems: list[str] = []
    fixes: list[str] = []
    if not cpu.get("model") and not cpu.get("logical"):
        problems.append("the CPU was not recorded")
    if not isinstance(ram, int | float):
        problems.append("the RAM size was not recorded")
        fixes.append("install psutil")
    if run.cuda_in_use and not gpus:
        problems.append("torch saw a GPU but no GPU was listed")
        fixes.append("put nvidia-smi on PATH")
    if problems:
        fix = "; ".join(fixes) if fixes else "re-run on a machine runtrack can inspect"
        return False, "; ".join(problems), fix + ", then re-run"
    parts = [f"{cpu.get('model') or 'CPU'} ({cpu.get('logical') or '?'} logical cores)"]
    if isinstance(ram, int | float):
        parts.append(f"{ram / 2**30:.1f} GiB RAM")
    names = [str(g.get("name")) for g in gpus]
    parts.append(f"GPUs: {_names(names)}" if names else "no GPU")
    return True, ", ".join(parts), None


CHECKS: Final[dict[str, Callable[[_Run], _Outcome]]] = {
    "code": check_code,
    "environment": check_environment,
    "inputs": check_inputs,
    "seeds": check_seeds,
    "determinism": check_determinism,
    "config": check_config,
    "hardware": check_hardware,
}


def audit_record(record: RunRecord) -> AuditResult:
    """Audit a run from its record (with provenance loaded, as ``get_run`` returns it)."""
    run = _Run(record)
    checks = []
    for name, fn in CHECKS.items():
        passed, detail, fix = fn(run)
        checks.append(
            Check(
                name=name,
                title=TITLES[name],
                passed=passed,
                weight=WEIGHTS[name],
                detail=detail,
                fix=None if passed else fix,
            )
        )
    return AuditResult(run_id=record.id, project=record.project, checks=tuple(checks))
