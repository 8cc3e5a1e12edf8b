"""The pieces of `runtrack reproduce` that need no process: tolerances, metric comparison,
--set routing, the SDK side of the link, the plan's refusals, requirements, paths."""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from runtrack.client import _reproduction
from runtrack.client._reproduction import Link, hook_argparse, link_from_env, pinned_ref
from runtrack.entities import FrozenMap
from runtrack.errors import ValidationError
from runtrack.reproduce import StepFailed, parse_sets, parse_tolerance
from runtrack.reproduce.environment import requirements
from runtrack.reproduce.execution import _map_arg, child_env, working_directory
from runtrack.reproduce.overrides import multirun_args, plan_changes, typed
from runtrack.reproduce.plan import build_plan
from runtrack.reproduce.verify import compare_config, compare_metrics


# -- tolerances and metrics --------------------------------------------------------------
def test_tolerance_default_keys_and_patterns() -> None:
    assert parse_tolerance(None).of("x") == 0.0
    assert parse_tolerance("1e-6").of("x") == 1e-6
    assert parse_tolerance(0.5).of("x") == 0.5
    tol = parse_tolerance(["1e-9", "val/*=1e-3,val/acc=0", "val/*=0.1", "t=inf"])
    assert tol.default == 1e-9
    assert tol.of("val/acc") == 0.0  # an exact key wins over patterns
    assert tol.of("val/loss") == 0.1  # a later pattern wins over an earlier one
    assert tol.of("t") == math.inf and tol.of("other") == 1e-9
    for bad in ("abc", "x=", "=1", "x=-1", "-1", "nan"):
        with pytest.raises(ValidationError):
            parse_tolerance(bad)


def test_compare_metrics() -> None:
    original = {"a": 1.0, "b": 2.0, "n": math.nan, "i": math.inf, "s": "x", "gone": 1.0}
    original |= {"system/cpu": 50.0, "audit.score": 85.0}
    reproduced = {"a": 1.0, "b": 2.0 + 1e-9, "n": math.nan, "i": math.inf, "s": "x", "new": 3}
    reproduced |= {"system/cpu": 99.0}
    same, m = compare_metrics(original, reproduced, parse_tolerance(None))
    assert not same
    assert "system/cpu" not in m and "audit.score" not in m
    assert m["a"]["within"] and m["a"]["delta"] == 0.0
    assert not m["b"]["within"] and m["b"]["delta"] == pytest.approx(1e-9)
    assert m["n"]["within"] and m["n"]["delta"] == 0.0  # NaN equals NaN
    assert m["i"]["within"] and m["i"]["delta"] == 0.0
    assert m["s"]["within"] and m["s"]["delta"] is None
    assert not m["gone"]["within"] and m["gone"]["reproduced"] is None
    assert not m["new"]["within"] and m["new"]["original"] is None
    same, m = compare_metrics(original, reproduced, parse_tolerance("1e-6,gone=inf,new=inf"))
    assert same


def test_compare_config() -> None:
    assert compare_config({"a": {"b": 1}, "c": 1}, {"a": {"b": 1}, "c": 1.0}) == {}
    assert compare_config({"a": {"b": 1}}, {"a": {"b": 2}, "d": True}) == {
        "a.b": {"original": 1, "reproduced": 2},
        "d": {"original": None, "reproduced": True},
    }


# -- --set ---------------------------------------------------------------------------------
def test_parse_sets_and_typing() -> None:
    assert parse_sets(["lr=0.1", "model.name=a=b", "empty="]) == {
        "lr": "0.1",
        "model.name": "a=b",
        "empty": "",
    }
    for bad in (["lr"], ["=1"], ["--lr=1"], ["a=1", "a=2"]):
        with pytest.raises(ValidationError):
            parse_sets(bad)
    assert typed("0.1") == 0.1 and typed("abc") == "abc" and typed("[1, 2]") == [1, 2]
    assert typed("1", 0.5) == 1.0 and isinstance(typed("1", 0.5), float)
    assert typed("7", "a string") == "7"
    assert typed("no", True) is False and typed("true", False) is True
    assert typed("null", 3) is None


def test_set_goes_to_the_command_line_when_the_option_is_there() -> None:
    config = {"lr": 0.1, "batch_size": 32, "verbose": True, "depth": 3, "shift": -1}
    args = ["--lr", "0.1", "--batch-size=32", "--verbose", "--shift", "-1"]
    change = plan_changes(
        {"lr": "0.2", "batch_size": "64", "verbose": "false", "depth": "5", "shift": "-2"},
        args,
        config,
        None,
        {},
    )
    assert change.script_args == ["--lr", "0.2", "--batch-size=64", "--verbose", "--shift", "-2"]
    assert change.sdk_overrides == {"verbose": False, "depth": 5}
    assert change.how["lr"] == {"requested": 0.2, "original": 0.1, "via": "command line"}
    assert change.how["depth"]["via"] == "RUNTRACK_CONFIG_OVERRIDES"
    assert args == ["--lr", "0.1", "--batch-size=32", "--verbose", "--shift", "-1"]  # a copy


def test_carried_overrides_are_kept_unless_changed() -> None:
    change = plan_changes({"b": "3"}, [], {"a": 1, "b": 2}, None, {"a": 5, "b": 6})
    assert change.sdk_overrides == {"a": 5, "b": 3}


def test_set_on_a_hydra_run_is_an_override() -> None:
    config = {"lr": 0.1, "model": {"depth": 3}}
    hydra = {"overrides": ["lr=0.1"], "mode": "RUN"}
    change = plan_changes(
        {"lr": "0.5", "model.depth": "4", "extra": "1"}, ["lr=0.1", "+x=1"], config, hydra, {}
    )
    assert change.script_args == ["lr=0.5", "+x=1", "model.depth=4", "++extra=1"]
    assert change.sdk_overrides == {}
    assert {h["via"] for h in change.how.values()} == {"hydra override"}
    change = plan_changes({"x": "2"}, ["+x=1"], config, hydra, {})
    assert change.script_args == ["+x=2"]


def test_a_multirun_job_runs_alone_with_its_own_overrides() -> None:
    assert multirun_args(
        ["-m", "lr=0.1,0.2", "--config-name=exp", "seed=range(3)"], ["lr=0.2", "seed=1"]
    ) == ["--config-name=exp", "lr=0.2", "seed=1"]


# -- the SDK side: link, overrides, pins -----------------------------------------------------
def test_link_from_env() -> None:
    assert link_from_env({}) is None
    link = link_from_env(
        {
            "RUNTRACK_REPRODUCE_OF": "abc123",
            "RUNTRACK_CONFIG_OVERRIDES": '{"lr": 0.5}',
            "RUNTRACK_PIN_ARTIFACTS": '{"p/data": "v3"}',
            "RUNTRACK_REPRODUCE_REPORT": "/tmp/x",
        }
    )
    assert link is not None
    assert (link.kind, link.of, link.tag) == ("reproduction", "abc123", "reproduction_of")
    assert link.overrides == {"lr": 0.5} and link.pins == {"p/data": "v3"}
    assert link.tags({"stage": "dev"}) == {"stage": "dev", "reproduction_of": "abc123"}
    rerun = link_from_env({"RUNTRACK_RERUN_OF": "abc"})
    assert rerun is not None and rerun.tag == "rerun_of"
    only = link_from_env({"RUNTRACK_CONFIG_OVERRIDES": '{"a": 1}'})
    assert only is not None and only.tag is None and only.tags({}) == {}
    for env, message in [
        ({"RUNTRACK_REPRODUCE_OF": "a", "RUNTRACK_RERUN_OF": "b"}, "not both"),
        ({"RUNTRACK_REPRODUCE_OF": "Not An Id"}, "is not a run id"),
        ({"RUNTRACK_CONFIG_OVERRIDES": "{oops"}, "not valid JSON"),
        ({"RUNTRACK_CONFIG_OVERRIDES": "[1]"}, "JSON object"),
        ({"RUNTRACK_PIN_ARTIFACTS": '{"data": "v1"}'}, "'project/name' to 'vN'"),
        ({"RUNTRACK_PIN_ARTIFACTS": '{"p/data": "latest"}'}, "'project/name' to 'vN'"),
    ]:
        with pytest.raises(ValidationError, match=message):
            link_from_env(env)


def test_pinned_ref() -> None:
    env = {"RUNTRACK_PIN_ARTIFACTS": '{"p/data": "v1", "q/model": "v7"}'}
    assert pinned_ref("data:latest", "p", env) == "data:v1"
    assert pinned_ref("data", "p", env) == "data:v1"
    assert pinned_ref("data:prod", "p", env) == "data:v1"
    assert pinned_ref("data:v0", "p", env) == "data:v0"  # explicit versions stay
    assert pinned_ref("q/model:best", "p", env) == "q/model:v7"
    assert pinned_ref("data:latest", "other", env) == "data:latest"
    assert pinned_ref("data:latest", "p", {}) == "data:latest"


@dataclasses.dataclass
class _Cfg:
    lr: float = 0.1
    inner: dict[str, Any] = dataclasses.field(default_factory=lambda: {"depth": 2})


@dataclasses.dataclass(frozen=True)
class _Frozen:
    lr: float = 0.1


@pytest.mark.parametrize(
    "make,not_set",
    [
        (lambda: argparse.Namespace(lr=0.1, inner={"depth": 2}), []),
        (lambda: {"lr": 0.1, "inner": {"depth": 2}}, []),
        (_Cfg, ["new"]),  # not a field of the dataclass: recorded only
    ],
)
def test_overrides_change_the_users_config_in_place(make: Any, not_set: list[str]) -> None:
    from runtrack.client._config import normalize_config

    config = make()
    link = Link(kind="rerun", of="abc", overrides={"lr": 0.5, "inner.depth": 4, "new": 1})
    cfg, not_applied = link.apply(config, normalize_config(config))
    assert cfg == {"lr": 0.5, "inner": {"depth": 4}, "new": 1} and not_applied == not_set
    lr = config["lr"] if isinstance(config, dict) else config.lr
    assert lr == 0.5


def test_overrides_that_cannot_change_the_object_are_recorded_and_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from runtrack.client._config import normalize_config

    config = _Frozen()
    link = Link(kind="rerun", of="abc", overrides={"lr": 0.5})
    cfg, not_applied = link.apply(config, normalize_config(config))
    assert cfg == {"lr": 0.5} and not_applied == ["lr"] and config.lr == 0.1
    assert "could not be set" in caplog.text
    cfg, not_applied = link.apply(None, {})
    assert cfg == {"lr": 0.5} and not_applied == ["lr"]


def test_argparse_gets_the_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        argparse.ArgumentParser, "parse_known_args", argparse.ArgumentParser.parse_known_args
    )
    monkeypatch.setattr(_reproduction, "_ARGPARSE_SET", set())
    hook_argparse({"RUNTRACK_CONFIG_OVERRIDES": '{"seed": 5, "batch_size": 8, "nested.x": 1}'})
    hook_argparse({"RUNTRACK_CONFIG_OVERRIDES": '{"seed": 6}'})  # once only
    p = argparse.ArgumentParser()
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.1)
    args = p.parse_args(["--seed", "1", "--lr", "0.2"])
    assert (args.seed, args.batch_size, args.lr) == (5, 8, 0.2)
    assert {"seed", "batch_size"} == _reproduction._ARGPARSE_SET


# -- the plan ------------------------------------------------------------------------------
def _view(**prov: Any) -> Any:
    record = SimpleNamespace(
        id="r1",
        project="p",
        name="n",
        status="finished",
        config=FrozenMap({"lr": 0.1}),
        summary=FrozenMap({"loss": 0.5}),
        inputs=(),
        used=(),
    )
    base: dict[str, Any] = {
        "git": {"root": "/repo", "commit": "c" * 40, "diff": "", "diff_truncated": False},
        "command": {
            "argv": ["train.py", "--lr", "0.1"],
            "orig_argv": ["/usr/bin/python3", "-X", "dev", "train.py", "--lr", "0.1"],
            "entry_kind": "script",
            "cwd": "/repo",
            "hash_seed": "42",
        },
        "environment": {
            "python": {"version": "3.11.7"},
            "packages": {"numpy": "2.0.0"},
            "env": {"PYTHONHASHSEED": "7", "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "0"},
        },
    }
    base.update(prov)
    return SimpleNamespace(record=record, provenance=FrozenMap(base))


def test_plan_reads_the_provenance() -> None:
    plan = build_plan(_view())
    assert plan.interpreter_args == ("-X", "dev", "train.py", "--lr", "0.1")
    assert plan.script_args == 2
    assert plan.env == {"PYTHONHASHSEED": "42", "OMP_NUM_THREADS": "1"}  # the startup value
    assert plan.packages == {"numpy": "2.0.0"} and plan.summary == {"loss": 0.5}


@pytest.mark.parametrize(
    "prov,message",
    [
        ({"git": None}, "no git provenance"),
        ({"git": {"root": "/r", "commit": None, "diff": ""}}, "first commit"),
        ({"git": {"root": "/r", "commit": "c", "diff": "x", "diff_truncated": True}}, "truncated"),
        (
            {"git": {"root": "/r", "commit": "c", "diff": "x", "diff_sha256": "0" * 64}},
            "does not match",
        ),
        (
            {
                "git": {
                    "root": "/r",
                    "commit": "c",
                    "diff": "diff --git a/m.bin b/m.bin\nBinary files a/m.bin and b/m.bin differ\n",
                }
            },
            "binary files, which are not stored: m.bin",
        ),
        ({"command": None}, "no recorded command"),
        ({"command": {"entry_kind": "notebook", "argv": []}}, "from a notebook"),
    ],
)
def test_plan_refuses_what_cannot_be_rebuilt(prov: dict[str, Any], message: str) -> None:
    with pytest.raises(StepFailed, match=message) as info:
        build_plan(_view(**prov))
    assert info.value.stage == "plan"


# -- environment and paths -------------------------------------------------------------------
def test_requirements_skip_runtrack_pip_and_foreign_editables(tmp_path: Path) -> None:
    install, local, skipped = requirements(
        {"numpy": "2.0.0", "runtrack": "0.1.0", "pip": "24", "mine": "0.1", "theirs": "1"},
        {"mine": "file:///repo/pkg", "theirs": "file:///elsewhere", "runtrack": "file:///rt"},
        "/repo",
        tmp_path / "wt",
    )
    assert install == ["numpy==2.0.0"]
    assert local == [str(tmp_path / "wt" / "pkg")]
    assert {s["name"]: s["reason"] for s in skipped} == {
        "pip": "the venv's own",
        "runtrack": "the running one",
        "theirs": "editable install of file:///elsewhere",
    }


def test_paths_move_into_the_worktree(tmp_path: Path) -> None:
    root, wt = str(tmp_path / "repo"), tmp_path / "wt"
    (wt / "sub").mkdir(parents=True)
    assert _map_arg(f"{root}/train.py", root, wt) == str(wt / "train.py")
    assert _map_arg(f"--data={root}/d.csv", root, wt) == f"--data={wt}/d.csv"
    assert _map_arg("/elsewhere/x", root, wt) == "/elsewhere/x"
    assert _map_arg("relative.py", root, wt) == "relative.py"
    assert working_directory(f"{root}/sub", root, wt) == (wt / "sub", None)
    here, note = working_directory(f"{root}/outputs/2024-01-01", root, wt)
    assert here == wt and note is not None and "outputs/2024-01-01" in note
    outside = tmp_path / "outside"
    outside.mkdir()
    assert working_directory(str(outside), root, wt)[0] == outside


def test_child_env(tmp_path: Path) -> None:
    import sys

    root, wt = str(tmp_path / "repo"), tmp_path / "wt"
    env = child_env(
        base={
            "PATH": os.environ["PATH"],
            "PYTHONPATH": f"{root}/src{os.pathsep}/opt/lib",
            "RUNTRACK_RERUN_OF": "stale",
            "RUNTRACK_MODE": "disabled",
        },
        python=sys.executable,
        root=root,
        worktree=wt,
        project="p",
        link=("reproduction", "abc"),
        report_file=tmp_path / "runs.txt",
        pins={"p/d": "v1"},
        overrides={"lr": 0.5},
        determinism={"PYTHONHASHSEED": "0"},
        interpreter_env={"VIRTUAL_ENV": "/venv"},
    )
    assert env["PYTHONPATH"] == f"{wt}/src{os.pathsep}/opt/lib"
    assert env["RUNTRACK_REPRODUCE_OF"] == "abc" and "RUNTRACK_RERUN_OF" not in env
    assert env["RUNTRACK_MODE"] == "online" and env["RUNTRACK_PROJECT"] == "p"
    assert env["RUNTRACK_PIN_ARTIFACTS"] == '{"p/d": "v1"}'
    assert env["RUNTRACK_CONFIG_OVERRIDES"] == '{"lr": 0.5}'
    assert env["PYTHONHASHSEED"] == "0" and env["VIRTUAL_ENV"] == "/venv"
    assert env["RUNTRACK_REPRODUCE_REPORT"] == str(tmp_path / "runs.txt")


def test_a_command_past_its_timeout_is_killed(tmp_path: Path) -> None:
    import sys

    from runtrack.reproduce import NullReporter
    from runtrack.reproduce.execution import run_command

    done = run_command(
        [sys.executable, "-c", "import time; print('started', flush=True); time.sleep(30)"],
        tmp_path,
        dict(os.environ),
        tmp_path / "runs.txt",
        NullReporter(),
        timeout=1.0,
    )
    assert done.timed_out and done.exit_code != 0 and done.seconds < 20
    assert done.tail == "started" and done.run_ids == []


def test_init_and_use_artifact_honour_the_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import runtrack

    src = tmp_path / "d.txt"
    src.write_text("one")
    with runtrack.init(project="p") as maker:
        maker.log_artifact(src, name="data")
    src.write_text("two")
    with runtrack.init(project="p") as maker:
        maker.log_artifact(src, name="data")  # latest -> v1

    report = tmp_path / "runs.txt"
    monkeypatch.setenv("RUNTRACK_RERUN_OF", "abc123")
    monkeypatch.setenv("RUNTRACK_REPRODUCE_REPORT", str(report))
    monkeypatch.setenv("RUNTRACK_CONFIG_OVERRIDES", '{"lr": 0.5, "model.depth": 3}')
    monkeypatch.setenv("RUNTRACK_PIN_ARTIFACTS", '{"p/data": "v0"}')
    config = {"lr": 0.1, "model": {"depth": 2}}
    with runtrack.init(project="p", config=config, tags={"stage": "dev"}) as run:
        version = run.use_artifact("data:latest")
        assert config == {"lr": 0.5, "model": {"depth": 3}}  # the script sees the values
    assert version.version == "v0"  # pinned
    rec = runtrack.Api().run(run.id)
    assert rec.tags == {"stage": "dev", "rerun_of": "abc123"}
    assert rec.config == {"lr": 0.5, "model": {"depth": 3}}
    assert rec.provenance["reproduction"]["config_overrides"] == {"lr": 0.5, "model.depth": 3}
    assert rec.provenance["reproduction"]["pinned_artifacts"] == {"p/data": "v0"}
    assert report.read_text() == run.id + "\n"
    assert [v.ref for v in rec.used] == ["data:v0"]
