"""``api.audit`` on real runs: scores, fixes, the recorded summary and its queries, the
registry gate, and the provenance the audit reads (determinism, editable installs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import pytest
from _audit_support import MakeRun, git

import runtrack
from runtrack.client.provenance.determinism import capture_determinism
from runtrack.client.provenance.environment import capture_environment, editable_packages
from runtrack.errors import PromotionRefusedError, RunNotFoundError


def test_a_careful_run_scores_100(good_run: MakeRun) -> None:
    run_id = good_run()
    api = runtrack.Api()
    result = api.audit(run_id)
    assert [(c.name, c.detail) for c in result.failed] == []
    assert result.score == 100 and result.recorded
    assert result.check("code").detail.endswith("clean work tree")
    assert "1 dataset hashed" in result.check("inputs").detail
    assert result.check("seeds").detail.startswith("seeded: python=7, numpy=7")
    summary = api.run(run_id).summary
    assert summary["audit.score"] == 100.0 and summary["audit.seeds"] == 1.0
    prov = api.run(run_id).provenance
    assert prov["determinism"]["PYTHONHASHSEED"] == "7" and prov["command"]["hash_seed"] == "0"
    assert result.check("determinism").detail.startswith("PYTHONHASHSEED=0")


def test_a_script_started_with_a_hash_seed_scores_100(repo: Path, data_file: Path) -> None:
    """End to end: ``PYTHONHASHSEED=0 python train.py DATA`` from a clean repository."""
    (repo / "train.py").write_text(
        "import sys\n"
        "import runtrack\n\n"
        "runtrack.seed_everything(11)\n"
        "with runtrack.init(project='e2e', config={'lr': 0.1}) as run:\n"
        "    run.use_dataset(sys.argv[1], name='train')\n"
        "    run.log({'loss': 0.1})\n"
        "    print('RUN', run.id)\n"
    )
    git(repo, "commit", "-q", "-am", "a training script")
    env = {**os.environ, "PYTHONHASHSEED": "0", "RUNTRACK_CAPTURE_PACKAGES": "1"}
    out = subprocess.run(
        [sys.executable, "train.py", str(data_file)],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    run_id = out.split("RUN ", 1)[1].split()[0]
    result = runtrack.Api().audit(run_id)
    assert [(c.name, c.detail) for c in result.failed] == []
    assert result.score == 100
    assert result.check("determinism").detail.startswith("PYTHONHASHSEED=0")


def test_a_careless_run_fails_with_the_right_fixes(bad_run: MakeRun) -> None:
    run_id = bad_run()
    api = runtrack.Api()
    result = api.audit(run_id, record=False)
    failed = {c.name: c for c in result.failed}
    assert set(failed) == {"code", "environment", "inputs", "seeds", "determinism", "config"}
    assert "RUNTRACK_CAPTURE_PACKAGES=0" in failed["environment"].detail  # the sdk fixture
    assert "cut at RUNTRACK_DIFF_MAX_BYTES" in failed["code"].detail
    assert "commit the changes" in (failed["code"].fix or "")
    assert "no seeds recorded at all" in failed["seeds"].detail
    assert "runtrack.seed_everything(SEED)" in (failed["seeds"].fix or "")
    assert failed["config"].detail == "unresolved interpolations: lr = ${optim.lr}"
    assert "resolve=True" in (failed["config"].fix or "")
    assert "PYTHONHASHSEED was not set when Python started" in failed["determinism"].detail
    assert result.score == 5  # hardware only
    assert not result.recorded
    assert "audit.score" not in api.run(run_id).summary  # record=False writes nothing


def test_a_dirty_tree_passes_when_its_diff_is_stored(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / "train.py").write_text("lr = 0.3\n")
    (repo / "notes.txt").write_text("untracked text is stored in the diff too\n")
    monkeypatch.chdir(repo)
    with runtrack.init(project="audit") as run:
        pass
    git(repo, "checkout", "--", "train.py")
    code = runtrack.Api().audit(run.id, record=False).check("code")
    assert code.passed and "+ stored diff" in code.detail


def test_the_score_is_recorded_and_queryable(good_run: MakeRun, bad_run: MakeRun) -> None:
    bad = bad_run()
    with runtrack.init(project="audit") as unaudited:
        pass
    good, good2 = good_run(), good_run()
    api = runtrack.Api()
    for run_id in (bad, good, good2):
        api.audit(run_id)

    def ids(flt: str) -> set[str]:
        return {r.id for r in api.runs("audit", filter=flt)}

    assert ids("metrics.audit.score >= 80") == {good, good2}
    assert ids("audit.score >= 80") == {good, good2}
    assert ids("AUDIT.score < 80") == {bad}
    assert ids("audit.score is null") == {unaudited.id}
    assert ids("audit.seeds = 0 and audit.code = 0") == {bad}
    assert api.count("audit", "audit.score >= 80") == 2
    ordered = [r.id for r in api.runs("audit", order_by="audit.score asc")]
    assert ordered[0] == bad and ordered[-1] == unaudited.id

    # every audit is a new seq of the run's "audit" stream: the latest one wins
    assert api.store.stream_position(bad, "audit") == 1
    api.audit(bad)
    assert api.store.stream_position(bad, "audit") == 2
    assert ids("audit.score < 80") == {bad}


def test_audit_of_an_unknown_run_or_a_handle() -> None:
    with pytest.raises(RunNotFoundError):
        runtrack.Api().audit("nosuchrun0000")
    with runtrack.init(project="audit") as run:
        pass
    assert runtrack.Api().audit(run, record=False).run_id == run.id  # a handle will do


def test_the_registry_gate_reads_the_audit_score(good_run: MakeRun, bad_run: MakeRun) -> None:
    bad = bad_run(model=b"weights of the careless run")
    good = good_run(model=b"weights of the careful run")
    api = runtrack.Api()
    assert api.register_model("model:v0", "churn", project="audit").version == 1
    assert api.register_model("model:v1", "churn", project="audit").version == 2
    api.set_gates("churn", [{"aliases": ["production"], "audit_score": 80}])
    with pytest.raises(PromotionRefusedError, match=f"run `runtrack audit {good}`"):
        api.set_alias("churn", "production", version=2, reason="try")
    score = api.audit(bad).score
    with pytest.raises(PromotionRefusedError, match=f"audit score {score} < 80"):
        api.set_alias("churn", "production", version=1, reason="try")
    api.set_alias("churn", "staging", version=1, reason="the gate is for production only")
    api.audit(good)
    api.set_alias("churn", "production", version=2, reason="audited")
    assert api.model("churn@production").version == 2


# -- the provenance the audit reads ------------------------------------------------------
def _fake_torch(*, cuda: bool) -> types.ModuleType:
    torch = types.ModuleType("torch")
    torch.are_deterministic_algorithms_enabled = lambda: True  # type: ignore[attr-defined]
    torch.backends = types.SimpleNamespace(  # type: ignore[attr-defined]
        cudnn=types.SimpleNamespace(deterministic=True, benchmark=False)
    )
    torch.cuda = types.SimpleNamespace(is_initialized=lambda: cuda)  # type: ignore[attr-defined]
    return torch  # no is_deterministic_algorithms_warn_only_enabled: an older torch


def test_capture_determinism(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", _fake_torch(cuda=True))
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    det = capture_determinism()
    assert det["CUBLAS_WORKSPACE_CONFIG"] == ":16:8" and det["PYTHONHASHSEED"] is None
    assert det["torch"] == {
        "deterministic_algorithms": True,
        "warn_only": None,
        "cudnn_deterministic": True,
        "cudnn_benchmark": False,
        "cuda_initialized": True,
    }
    json.dumps(det)
    monkeypatch.delitem(sys.modules, "torch")
    assert capture_determinism()["torch"] is None


def test_determinism_is_recorded_at_init_and_refreshed_at_finish(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "torch", _fake_torch(cuda=True))
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", "x")
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG")
    monkeypatch.setenv("PYTHONHASHSEED", "0")  # as if set when the process started
    with runtrack.init(project="audit") as run:
        deadline = time.monotonic() + 30
        while "determinism" not in run._provenance and time.monotonic() < deadline:
            time.sleep(0.005)  # captured with the environment, in the background
        assert run._provenance["determinism"]["CUBLAS_WORKSPACE_CONFIG"] is None
        runtrack.seed_everything(3)  # sets PYTHONHASHSEED for child processes
        monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    det = runtrack.Api().run(run.id).provenance["determinism"]
    assert det["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8" and det["PYTHONHASHSEED"] == "3"
    check = runtrack.Api().audit(run.id, record=False).check("determinism")
    assert check.passed and "torch deterministic algorithms on" in check.detail


def test_a_cuda_run_without_cublas_config_fails_determinism(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "torch", _fake_torch(cuda=True))
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", "x")
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG")
    monkeypatch.setenv("PYTHONHASHSEED", "0")
    with runtrack.init(project="audit") as run:
        pass
    check = runtrack.Api().audit(run.id, record=False).check("determinism")
    assert not check.passed and check.detail == "CUBLAS_WORKSPACE_CONFIG is not set"
    assert check.fix == "export CUBLAS_WORKSPACE_CONFIG=:4096:8"


def _dist(site: Path, name: str, direct_url: dict[str, Any] | None) -> None:
    info = site / f"{name}.dist-info"
    info.mkdir(parents=True)
    if direct_url is not None:
        (info / "direct_url.json").write_text(json.dumps(direct_url))


def test_editable_installs_are_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "site1", tmp_path / "site2"
    _dist(first, "My_Lib-0.1", {"url": "file:///src/mylib", "dir_info": {"editable": True}})
    _dist(first, "wheel_local-1.0", {"url": "file:///w.whl", "archive_info": {}})
    _dist(first, "plain-2.0", None)
    _dist(second, "plain-1.0", {"url": "file:///old", "dir_info": {"editable": True}})
    (first / "broken-1.0.dist-info").mkdir()
    (first / "broken-1.0.dist-info" / "direct_url.json").write_text("{not json")
    monkeypatch.setattr(sys, "path", [str(first), str(second)])
    assert editable_packages() == {"my-lib": "file:///src/mylib"}  # the first "plain" wins
    env = capture_environment(packages=True)
    assert env["editable"] == {"my-lib": "file:///src/mylib"}
    assert capture_environment(packages=False)["editable"] is None


def test_audit_on_a_team_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runtrack.testing.live import LiveServer

    with LiveServer(tmp_path / "server") as srv:
        monkeypatch.setenv("RUNTRACK_URL", srv.url)
        with runtrack.init(project="remote", config={"x": "${y}"}) as run:
            pass
        api = runtrack.Api()
        result = api.audit(run.id)
        assert result.recorded and not result.check("config").passed
        assert [r.id for r in api.runs("remote", filter="audit.config = 0")] == [run.id]
        assert api.store.stream_position(run.id, "audit") == 1
