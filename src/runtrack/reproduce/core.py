"""``reproduce``: the steps in order (plan, checkout, inputs, environment, run, verify)
and the result document every caller gets (the CLI prints it, ``--json`` as it is)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import RuntrackError, ValidationError
from . import environment as envmod
from . import execution, inputs, overrides, verify, worktree
from ._common import NullReporter, Reporter, Stage, StepFailed
from .plan import Plan, build_plan, plain

if TYPE_CHECKING:
    from ..client.api import Api

__all__ = ["ENV_MODES", "reproduce"]

ENV_MODES = ("current", "new")


def reproduce(
    api: Api,
    run_id: str,
    *,
    verify_metrics: bool = True,
    tolerance: verify.Tolerance | Sequence[str | float] | str | float | None = None,
    env: str | None = None,
    workdir: str | Path | None = None,
    keep: bool = False,
    repo: str | Path | None = None,
    sets: Mapping[str, str] | None = None,
    timeout: float | None = None,
    reporter: Reporter | None = None,
) -> dict[str, Any]:
    """Run ``run_id`` again from its provenance and (``verify_metrics``) compare.

    ``sets`` (raw ``key -> value text``) makes it a rerun with changed config, linked by
    ``rerun_of``; otherwise the new run is linked by ``reproduction_of``. Returns the
    result document: ``verdict`` (``reproduced`` | ``differs`` | ``failed``, or
    ``completed`` when not verified), ``reproduction`` (the new run id or None),
    ``metrics``, ``reason`` and the details of each step. Raises ``RunNotFoundError``
    for an unknown run and ``ValidationError`` for bad arguments; everything that goes
    wrong later is a ``failed`` verdict with its reason.
    """
    if env is None:  # a fresh venv with the recorded packages, unless told otherwise
        env = os.environ.get("RUNTRACK_REPRODUCE_ENV") or "new"
    if env not in ENV_MODES:
        raise ValidationError(f"env {env!r} must be one of {', '.join(ENV_MODES)}")
    tol = (
        tolerance if isinstance(tolerance, verify.Tolerance) else verify.parse_tolerance(tolerance)
    )
    if timeout is not None and not timeout > 0:
        raise ValidationError(f"timeout {timeout!r} must be a number of seconds > 0")
    reporter = reporter or NullReporter()
    view = api.run(run_id)  # RunNotFoundError
    kind = "rerun" if sets is not None else "reproduction"
    started = time.monotonic()
    result: dict[str, Any] = {
        "verdict": None,
        "reproduction": None,
        "metrics": {},
        "reason": None,
        "original": view.id,
        "kind": kind,
        "verified": verify_metrics,
        "tolerance": tol.to_json(),
        "stage": None,
        "warnings": [],  # things that went differently from the original
        "hints": [],  # possible causes, worth reading when the metrics differ
    }
    job = _Job(api, result, reporter, workdir, keep)
    try:
        reporter.stage(f"reading run {view.id}")
        plan = build_plan(view)
        result["warnings"].extend(plan.warnings)
        job.run(plan, kind, sets, tol, env, Path(repo) if repo else None, timeout, verify_metrics)
    except StepFailed as exc:
        result.update(verdict="failed", reason=exc.reason, stage=exc.stage)
        for key, value in exc.details.items():
            if key in ("datasets", "artifacts"):
                result.setdefault("inputs", {})[key] = value
            else:
                result.setdefault(key, value)
    finally:
        job.cleanup()
        reporter.close()
    result["seconds"] = round(time.monotonic() - started, 3)
    return result


class _Job:
    def __init__(
        self,
        api: Api,
        result: dict[str, Any],
        reporter: Reporter,
        workdir: str | Path | None,
        keep: bool,
    ) -> None:
        self.api = api
        self.result = result
        self.reporter = reporter
        self.workdir = Path(workdir).expanduser().absolute() if workdir else None
        self.keep = keep
        self.space: Path | None = None
        self.repo: Path | None = None
        self.tree: Path | None = None

    # -- the steps -----------------------------------------------------------------------
    def run(
        self,
        plan: Plan,
        kind: str,
        sets: Mapping[str, str] | None,
        tol: verify.Tolerance,
        env_mode: str,
        repo: Path | None,
        timeout: float | None,
        verify_metrics: bool,
    ) -> None:
        result, reporter = self.result, self.reporter
        script_args = list(plan.interpreter_args[len(plan.interpreter_args) - plan.script_args :])
        prefix = list(plan.interpreter_args[: len(plan.interpreter_args) - plan.script_args])
        if plan.hydra is not None and plan.hydra.get("mode") == "MULTIRUN":
            script_args = overrides.multirun_args(script_args, plan.hydra.get("overrides") or [])
        change = overrides.plan_changes(
            sets or {}, script_args, plan.config, plan.hydra, plan.config_overrides
        )
        if sets is not None:
            result["config"] = {"set": change.how}

        # code
        reporter.stage(f"checking out {plan.short_commit}")
        self.repo = worktree.find_repository(plan.commit, self._roots(plan), plan.remote, repo)
        self.space = self._workspace()
        self.tree = self.space / "code"
        worktree.add_worktree(self.repo, plan.commit, self.tree)
        result["code"] = {
            "repository": str(self.repo),
            "commit": plan.commit,
            "worktree": str(self.tree),
            "diff_files": 0,
        }
        if plan.diff.strip():
            reporter.stage("applying the recorded uncommitted diff")
            result["code"]["diff_files"] = worktree.apply_diff(self.tree, plan.diff)

        # inputs
        settings_dir = self.api._cache_dir()
        result["inputs"] = {"datasets": [], "artifacts": []}
        result["inputs"]["datasets"] = inputs.check_datasets(
            plan.datasets, plan.root, self.tree, settings_dir, reporter
        )
        result["inputs"]["artifacts"] = inputs.check_artifacts(self.api, plan.artifacts)
        pins = inputs.pins(plan.artifacts)

        # environment
        if env_mode == "new":
            interp = envmod.new_interpreter(
                self.space / "venv",
                plan.python_version,
                plan.packages,
                plan.editable,
                plan.root,
                self.tree,
                reporter,
            )
        else:
            reporter.stage("comparing the recorded packages with this environment")
            interp = envmod.current_interpreter(plan.python_version, plan.packages)
        result["environment"] = interp.report
        versions = interp.report.get("python") or {}
        if versions.get("recorded") and versions.get("recorded") != versions.get("used"):
            result["hints"].append(
                f"the run used Python {versions['recorded']}, this one is {versions['used']}"
            )
        differing = interp.report.get("package_differences") or []
        if differing:
            shown = ", ".join(
                f"{d['name']} {d['recorded']} -> {d['current'] or 'missing'}" for d in differing[:8]
            )
            more = f" and {len(differing) - 8} more" if len(differing) > 8 else ""
            result["hints"].append(
                f"{len(differing)} packages differ from the run's: {shown}{more} (--env new "
                "installs the recorded versions)"
            )

        # run
        argv = execution.command_line(
            interp.python, [*prefix, *change.script_args], plan.root, self.tree
        )
        cwd, note = execution.working_directory(plan.cwd, plan.root, self.tree)
        if note:
            result["warnings"].append(note)
        report_file = self.space / "runs.txt"
        child = execution.child_env(
            base=os.environ,
            python=interp.python,
            root=plan.root,
            worktree=self.tree,
            project=plan.project,
            link=(kind, plan.run_id),
            report_file=report_file,
            pins=pins,
            overrides=change.sdk_overrides,
            determinism=plan.env,
            interpreter_env=interp.env,
        )
        shown_env = {k: child[k] for k in sorted(plan.env)}
        for name in ("RUNTRACK_CONFIG_OVERRIDES", "RUNTRACK_PIN_ARTIFACTS", "PYTHONPATH"):
            if name in child and child.get(name) != os.environ.get(name):
                shown_env[name] = child[name]
        result["command"] = {"argv": argv, "cwd": str(cwd), "env": shown_env}
        if plan.hash_seed is None:
            result["hints"].append(
                "the original ran with randomised str hashing (PYTHONHASHSEED unset): "
                "set/dict orders of strings may differ"
            )
        shown = " ".join([Path(argv[0]).name, *argv[1:4]]) + (" ..." if len(argv) > 4 else "")
        reporter.stage(f"running {shown}")
        done = execution.run_command(argv, cwd, child, report_file, reporter, timeout)
        result["exit_code"] = done.exit_code
        result["run_seconds"] = round(done.seconds, 3)
        new_id = done.run_ids[0] if done.run_ids else self._find_run(plan, done)
        if len(done.run_ids) > 1:
            result["runs"] = done.run_ids
            result["warnings"].append(
                f"the command started {len(done.run_ids)} runs; the first is compared"
            )
        result["reproduction"] = new_id
        if done.exit_code != 0 or done.timed_out:
            why = (
                f"the command did not finish in {timeout:g} s and was killed"
                if done.timed_out
                else f"the command exited with code {done.exit_code}"
            )
            raise StepFailed(Stage.RUN, why, output_tail=done.tail)
        if new_id is None:
            raise StepFailed(
                Stage.RUN,
                "the command finished but recorded no runtrack run (does it call "
                "runtrack.init? is RUNTRACK_MODE forced to disabled in the script?)",
                output_tail=done.tail,
            )

        # verify
        reporter.stage(f"comparing run {new_id} with {plan.run_id}")
        new = self.api.run(new_id)
        if new.status != "finished":
            raise StepFailed(
                Stage.RUN,
                f"the reproduction run {new_id} ended {new.status}"
                + (f": {new.error.strip().splitlines()[-1]}" if new.error else ""),
                output_tail=done.tail,
            )
        self._compare_extras(plan, new, change, sets is not None)
        same, metrics = verify.compare_metrics(plan.summary, plain(new.summary), tol)
        result["metrics"] = metrics
        if not verify_metrics:
            result["verdict"] = "completed"
            return
        if same:
            result["verdict"] = "reproduced"
            return
        off = [k for k, m in metrics.items() if not m["within"]]
        shown = ", ".join(_describe(k, metrics[k]) for k in off[:5])
        more = f" and {len(off) - 5} more" if len(off) > 5 else ""
        result["verdict"] = "differs"
        result["reason"] = (
            f"{len(off)} of {len(metrics)} metrics differ beyond tolerance: {shown}{more}"
        )

    def _compare_extras(self, plan: Plan, new: Any, change: Any, rerun: bool) -> None:
        result = self.result
        prov = plain(new.provenance)
        differences = verify.compare_config(plan.config, plain(new.config))
        if rerun:
            for key, entry in change.how.items():
                got = differences.pop(key, {}).get("reproduced", entry["original"])
                entry["recorded"] = got
                if not _same(got, entry["requested"]):
                    result["warnings"].append(
                        f"--set {key}: asked for {entry['requested']!r}, the run recorded "
                        f"{got!r} (the script did not take the value this way)"
                    )
            link = prov.get("reproduction") or {}
            by_argparse = set(link.get("set_by_argparse") or ())
            for key, entry in change.how.items():
                if entry["via"] == "RUNTRACK_CONFIG_OVERRIDES":
                    entry["via"] = (
                        "argparse (RUNTRACK_CONFIG_OVERRIDES)"
                        if key in by_argparse
                        else "runtrack.init (RUNTRACK_CONFIG_OVERRIDES)"
                    )
                    if key not in by_argparse:
                        result["hints"].append(
                            f"--set {key} was applied by runtrack.init: a value the script "
                            "read before calling init kept its old value"
                        )
            not_applied = link.get("not_applied") or []
            for key in not_applied:
                result["warnings"].append(
                    f"--set {key}: recorded, but the script's config object could not be "
                    "changed in place; the script may not have used the value"
                )
        result.setdefault("config", {})["differences"] = differences
        if differences and not rerun:
            result["warnings"].append(
                f"the reproduction's config differs in {len(differences)} keys: "
                + ", ".join(list(differences)[:5])
            )
        seeds = prov.get("seeds") or {}
        result["seeds"] = {"original": dict(plan.seeds), "reproduced": seeds}
        if plan.seeds != seeds:
            result["hints" if rerun else "warnings"].append(
                "the new run was seeded differently from the original"
            )
        code = prov.get("git") or {}
        used = sorted(v.full_ref for v in new.used)
        wanted = sorted(v.full_ref for v in plan.artifacts)
        if used != wanted:
            result["warnings"].append(
                f"artifacts used differ: original {wanted or 'none'}, reproduction {used or 'none'}"
            )
        if code and code.get("commit") != plan.commit:
            result["warnings"].append(
                f"the reproduction recorded commit {code.get('commit')}, not {plan.commit}"
            )

    def _roots(self, plan: Plan, depth: int = 10) -> list[str]:
        """The run's recorded work tree, then those of the runs it reproduced or reran
        (a reproduction's own worktree is usually gone)."""
        roots = [plan.root]
        of = plan.origin
        while of is not None and len(roots) <= depth:
            try:
                prov = self.api.run(of).provenance
            except RuntrackError:
                break
            git = prov.get("git")
            if isinstance(git, Mapping) and git.get("root"):
                roots.append(str(git["root"]))
            link = prov.get("reproduction")
            of = link.get("of") if isinstance(link, Mapping) else None
        return list(dict.fromkeys(roots))

    def _find_run(self, plan: Plan, done: execution.Execution) -> str | None:
        """A run the command made without reporting it (a runtrack in the worktree too old
        to know RUNTRACK_REPRODUCE_REPORT): the newest of the project whose git root is
        the worktree."""
        if self.tree is None:
            return None
        for view in self.api.runs(plan.project, limit=20):
            git = view.provenance.get("git")
            if isinstance(git, Mapping) and git.get("root") in (
                str(self.tree),
                str(self.tree.resolve()),
            ):
                return str(view.id)
        return None

    # -- the workspace -------------------------------------------------------------------
    def _workspace(self) -> Path:
        if self.workdir is None:
            return Path(tempfile.mkdtemp(prefix="runtrack-reproduce-"))
        if self.workdir.exists() and any(self.workdir.iterdir()):
            raise StepFailed(Stage.CHECKOUT, f"--workdir {self.workdir} exists and is not empty")
        self.workdir.mkdir(parents=True, exist_ok=True)
        return self.workdir

    def cleanup(self) -> None:
        if self.space is None:
            return
        if self.keep:
            self.result["workdir"] = str(self.space)
            return
        if self.repo is not None and self.tree is not None and self.tree.exists():
            worktree.remove_worktree(self.repo, self.tree)
        if self.workdir is None:
            shutil.rmtree(self.space, ignore_errors=True)
        else:  # the directory was given: empty it, keep it
            for child in self.space.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        if "code" in self.result:
            self.result["code"]["worktree"] = None


def _describe(key: str, m: Mapping[str, Any]) -> str:
    if m["delta"] is not None:
        return f"{key} (Δ={m['delta']:+.6g})"
    if m["reproduced"] is None and m["original"] is not None:
        return f"{key} (missing in the reproduction)"
    if m["original"] is None:
        return f"{key} (new in the reproduction)"
    return f"{key} ({m['original']!r} -> {m['reproduced']!r})"


def _same(a: Any, b: Any) -> bool:
    from .. import configdoc

    return configdoc.same_value(a, b)
