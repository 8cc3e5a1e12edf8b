"""The SDK as a training script uses it, on the embedded store."""

from __future__ import annotations

import argparse
import dataclasses
import math
from pathlib import Path

import pytest

import runtrack
from runtrack.errors import (
    ConfigError,
    NoActiveRunError,
    RunFinishedError,
    RunNotFoundError,
    ValidationError,
)


@pytest.fixture(autouse=True)
def _sdk(sdk: None) -> None:
    """Every test here uses the quiet SDK fixture of conftest."""


def test_log_finish_and_read_back() -> None:
    run = runtrack.init(
        project="churn",
        config={"lr": 1e-3, "model": {"depth": 6}},
        tags={"stage": "dev"},
        notes="hello",
    )
    assert run.project == "churn" and len(run.id) == 16 and run.name
    for i in range(100):
        run.log({"loss": 1.0 / (i + 1), "acc": i / 100})
    run.log({"val_loss": 0.5}, step=1000)
    run.log({"loss": math.nan, "weird": math.inf, "neg": -math.inf, "flag": True, "n": 3})
    run.summary["best_auc"] = 0.93
    assert run.summary["best_auc"] == 0.93 and math.isnan(run.summary["loss"])
    run.finish()
    r = runtrack.Api().run(run.id)
    assert r.status == "finished" and r.end_time is not None
    assert r.config == {"lr": 1e-3, "model": {"depth": 6}}
    assert isinstance(r.config["model"]["depth"], int)
    assert dict(r.tags) == {"stage": "dev"} and r.notes == "hello"
    h = r.history(["loss", "val_loss"])
    assert h["loss"]["step"][:3] == [0, 1, 2] and len(h["loss"]["value"]) == 101
    assert math.isnan(h["loss"]["value"][-1]) and h["loss"]["step"][-1] == 1001
    assert h["val_loss"] == {"step": [1000], "value": [0.5], "time": h["val_loss"]["time"]}
    assert r.summary["best_auc"] == 0.93 and r.summary["weird"] == math.inf
    assert r.summary["flag"] == 1.0 and r.metrics["loss"].min == 1.0 / 100
    assert "command" in r.provenance and "git" in r.provenance


def test_context_manager_records_failure_with_traceback() -> None:
    with pytest.raises(ZeroDivisionError), runtrack.init(project="p") as run:
        run.log({"x": 1})
        1 / 0  # noqa: B018
    r = runtrack.Api().run(run.id)
    assert r.status == "failed" and "ZeroDivisionError" in (r.error or "")
    with pytest.raises(KeyboardInterrupt), runtrack.init(project="p") as run2:
        raise KeyboardInterrupt
    assert runtrack.Api().run(run2.id).status == "killed"


def test_module_level_helpers_act_on_current_run() -> None:
    with pytest.raises(NoActiveRunError):
        runtrack.log({"x": 1})
    run = runtrack.init(project="p")
    runtrack.log({"x": 1.0})
    runtrack.log({"x": 2.0})
    assert runtrack.current_run() is run
    runtrack.finish()
    assert runtrack.current_run() is None
    assert runtrack.Api().run(run.id).history("x")["x"]["value"] == [1.0, 2.0]
    runtrack.finish()  # nothing to do, no error


def test_config_types_and_immutability() -> None:
    @dataclasses.dataclass
    class Opt:
        lr: float = 0.1
        layers: tuple[int, ...] = (64, 32)

    ns = argparse.Namespace(batch=32, name="x", opt=None)
    run = runtrack.init(project="p", config=ns)
    run.config.update(dataclasses.asdict(Opt()))
    run.config["epochs"] = 10
    run.config.update({"lr": 0.1})  # same value: fine
    with pytest.raises(ConfigError):
        run.config.update({"lr": 0.2})
    with pytest.raises(ConfigError):
        run.config["batch"] = 64
    assert run.config.lr == 0.1 and run.config["layers"] == (64, 32)
    run.finish()
    cfg = runtrack.Api().run(run.id).config
    assert cfg == {
        "batch": 32,
        "name": "x",
        "opt": None,
        "lr": 0.1,
        "layers": [64, 32],
        "epochs": 10,
    }


def test_omegaconf_config_is_resolved() -> None:
    omegaconf = pytest.importorskip("omegaconf")
    cfg = omegaconf.OmegaConf.create({"lr": 0.01, "sched": {"base": "${lr}", "steps": 5}})
    run = runtrack.init(project="p", config=cfg)
    run.finish()
    assert runtrack.Api().run(run.id).config == {"lr": 0.01, "sched": {"base": 0.01, "steps": 5}}


@pytest.mark.parametrize(
    "data",
    [
        {"loss": "abc"},
        {"loss": None},
        {"": 1.0},
        {"k\x00": 1.0},
        {"x" * 1_000_000: 1.0},
        {1: 2.0},
        [("a", 1.0)],
        {"a": object()},
    ],
)
def test_bad_log_input_is_refused_and_nothing_recorded(data: object) -> None:
    run = runtrack.init(project="p")
    run.log({"ok": 1.0})
    with pytest.raises(ValidationError):
        run.log(data)  # type: ignore[arg-type]
    run.log({"ok": 2.0})
    run.finish()
    h = runtrack.Api().run(run.id).history()
    assert set(h) == {"ok"} and h["ok"]["value"] == [1.0, 2.0]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"config": {"fn": print}},
        {"config": {"a.b": 1, "a": {"b": 2}}},
        {"project": "no spaces"},
        {"tags": {"k": ["list"]}},
        {"mode": "sometimes"},
        {"resume": 42},
        {"parent": 42},
        {"name": ""},
    ],
)
def test_bad_init_input(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        runtrack.init(**kwargs)  # type: ignore[arg-type]
    assert runtrack.Api().runs() == []


def test_unknown_ids() -> None:
    with pytest.raises(RunNotFoundError):
        runtrack.Api().run("0123456789abcdef")
    with pytest.raises(RunNotFoundError):
        runtrack.init(resume="0123456789abcdef")
    with pytest.raises(RunNotFoundError):
        runtrack.init(parent="0123456789abcdef")
    for hostile in ("does-not-exist", "NOT-AN-ID", "../../etc/passwd", "", "x" * 1000):
        with pytest.raises(RunNotFoundError, match="does not exist"):
            runtrack.Api().run(hostile)
        with pytest.raises(RunNotFoundError):
            runtrack.init(resume=hostile)


def test_finished_run_refuses_writes() -> None:
    run = runtrack.init(project="p")
    run.finish()
    with pytest.raises(RunFinishedError):
        run.log({"x": 1})
    with pytest.raises(RunFinishedError):
        run.set_tags({"a": "b"})
    run.finish()  # idempotent


def test_resume_continues_steps_and_keeps_config() -> None:
    run = runtrack.init(project="p", config={"lr": 0.1})
    for i in range(5):
        run.log({"loss": float(i)})
    run.finish()
    again = runtrack.init(resume=run.id, config={"epochs": 3})
    assert again.id == run.id and again.config["lr"] == 0.1 and again.step == 5
    with pytest.raises(ConfigError):
        again.config.update({"lr": 0.5})
    again.log({"loss": 9.0})
    again.finish()
    r = runtrack.Api().run(run.id)
    assert r.status == "finished" and r.config == {"lr": 0.1, "epochs": 3}
    assert r.history("loss")["loss"]["step"] == [0, 1, 2, 3, 4, 5]
    with pytest.raises(ValidationError):
        runtrack.init(resume=run.id, config={"lr": 0.2})


def test_nested_runs() -> None:
    parent = runtrack.init(project="p", name="sweep")
    child = runtrack.init(project="p", parent=parent)
    assert runtrack.current_run() is child
    runtrack.log({"x": 1})
    child.finish()
    assert runtrack.current_run() is parent
    parent.finish()
    assert runtrack.Api().run(child.id).parent_id == parent.id
    kids = runtrack.Api().runs("p", filter=f"run.parent = '{parent.id}'")
    assert [k.id for k in kids] == [child.id]


def test_disabled_mode_records_nothing() -> None:
    run = runtrack.init(project="p", mode="disabled", config={"a": 1})
    run.log({"x": 1.0})
    run.summary["y"] = 2
    assert run.config["a"] == 1
    run.finish()
    assert runtrack.Api().runs() == []


def test_offline_then_sync(tmp_path: Path) -> None:
    from runtrack.cli import main

    run = runtrack.init(project="p", mode="offline", config={"a": 1})
    for i in range(1000):
        run.log({"x": float(i)})
    run.finish()
    assert runtrack.Api().runs() == []
    with pytest.raises(SystemExit) as done:
        main(["sync"])
    assert done.value.code == 0
    r = runtrack.Api().run(run.id)
    assert r.status == "finished" and r.metrics["x"].count == 1000
    with pytest.raises(SystemExit):
        main(["sync"])  # nothing left; never twice
    assert runtrack.Api().run(run.id).metrics["x"].count == 1000


def test_seed_everything_is_recorded() -> None:
    seeded = runtrack.seed_everything(42)
    assert seeded["python"] == 42
    run = runtrack.init(project="p")
    run.finish()
    assert runtrack.Api().run(run.id).provenance["seeds"]["python"] == 42
    with pytest.raises(ValidationError):
        runtrack.seed_everything(-1)


def test_use_dataset_and_artifacts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_text("a,b\n1,2\n")
    (data / "test.csv").write_text("a,b\n3,4\n")
    model = tmp_path / "model.pkl"
    model.write_bytes(b"\x00model-bytes" * 1000)
    run = runtrack.init(project="p")
    ds = run.use_dataset(data)
    assert ds.file_count == 2 and ds.kind == "directory" and len(ds.digest) == 64
    v0 = run.log_artifact(model, name="churn-model", type="model")
    assert v0 is not None and v0.version == "v0" and "latest" in v0.aliases
    again = run.log_artifact(model, name="churn-model", type="model")
    assert again is not None and again.version == "v0"
    model.write_bytes(b"changed")
    v1 = run.log_artifact(model, name="churn-model", type="model", aliases=["candidate"])
    assert v1 is not None and v1.version == "v1" and set(v1.aliases) == {"latest", "candidate"}
    run.log_artifact(data)
    with pytest.raises(ValidationError):
        run.log_artifact(tmp_path / "missing")
    run.finish()
    r = runtrack.Api().run(run.id)
    assert r.inputs == (ds,)
    assert sorted(v.ref for v in r.outputs) == ["churn-model:v0", "churn-model:v1", "data:v0"]
    out = r.download_artifact("data", tmp_path / "dl")
    assert (out / "train.csv").read_text() == "a,b\n1,2\n"
    old = runtrack.Api().download_artifact("churn-model:v0", tmp_path / "m0", project="p")
    assert (old / "model.pkl").read_bytes() == b"\x00model-bytes" * 1000


def test_flush_makes_writes_visible_to_readers() -> None:
    run = runtrack.init(project="p")
    for i in range(1000):
        run.log({"x": float(i)})
    assert run.flush(timeout=30)
    assert runtrack.Api().run(run.id).metrics["x"].count == 1000
    run.finish()


def test_a_team_server_url_that_is_not_http_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # (an unreachable server is not an error: see tests/server/test_faults.py)
    monkeypatch.setenv("RUNTRACK_URL", "ftp://127.0.0.1:9")
    with pytest.raises(ValidationError, match=r"http\(s\)://"):
        runtrack.init(project="p")


def test_forked_child_cannot_write_into_the_parents_run() -> None:
    import os

    run = runtrack.init(project="p")
    run.log({"x": 1.0})
    pid = os.fork()
    if pid == 0:  # the child: a clear error, and the parent's run is untouched
        code = 0
        try:
            run.log({"x": 2.0})
            code = 3
        except runtrack.RuntrackError as exc:
            code = 0 if "forked child" in str(exc) else 4
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    run.log({"x": 3.0})
    run.finish()
    assert runtrack.Api().run(run.id).history("x")["x"]["value"] == [1.0, 3.0]


def test_a_config_int_beyond_64_bits_is_refused_before_anything_is_recorded() -> None:
    with pytest.raises(ConfigError, match=r"config value at 'seed' is an integer beyond 64 bits"):
        runtrack.init(project="big", config={"seed": 10**400, "lr": 0.1})
    assert runtrack.Api().runs("big") == []
    with runtrack.init(project="big", config={"seed": 2**64 - 1, "low": -(2**63)}) as run:
        pass
    assert runtrack.Api().run(run.id).config == {"seed": 2**64 - 1, "low": -(2**63)}
