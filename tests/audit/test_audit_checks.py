"""The checklist on hand-made records: every check's pass and fail paths, the weights, the
JSON contract; and the audit package's imports (pure: entities and errors only)."""

from __future__ import annotations

import ast
import copy
import hashlib
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from runtrack.audit import SCORE_KEY, WEIGHTS, AuditResult, audit_record
from runtrack.entities import ArtifactVersion, DatasetInput, FrozenMap, RunRecord
from runtrack.errors import ValidationError

SHA = hashlib.sha256(b"data").hexdigest()

GOOD_PROVENANCE: dict[str, Any] = {
    "git": {
        "root": "/home/me/proj",
        "commit": "0123456789abcdef0123456789abcdef01234567",
        "dirty": False,
        "diff": "",
        "diff_truncated": False,
        "untracked_skipped": [],
    },
    "environment": {
        "python": {"version": "3.11.7"},
        "packages": {"numpy": "2.0.0", "scikit-learn": "1.5.0", "runtrack": "0.1.0"},
        "editable": {"runtrack": "file:///opt/runtrack", "mylib": "file:///home/me/proj/lib"},
        "cpu": {"model": "Xeon", "logical": 8},
        "ram_total_bytes": 16 * 2**30,
        "gpus": [],
        "accelerators": {},
    },
    "command": {"argv": ["train.py"], "hash_seed": "0"},
    "seeds": {"python": 1, "numpy": 1, "PYTHONHASHSEED": 1},
    "determinism": {
        "PYTHONHASHSEED": "1",
        "CUBLAS_WORKSPACE_CONFIG": None,
        "hash_randomization": True,
        "torch": None,
    },
}


def record(
    provenance: dict[str, Any] | None = None,
    *,
    config: dict[str, Any] | None = None,
    inputs: tuple[DatasetInput, ...] | None = None,
    used: tuple[ArtifactVersion, ...] = (),
) -> RunRecord:
    now = datetime.now(UTC)
    prov = copy.deepcopy(GOOD_PROVENANCE) if provenance is None else provenance
    return RunRecord(
        id="run1",
        project="p",
        name="r",
        status="finished",
        user="u",
        host="h",
        start_time=now,
        end_time=now,
        heartbeat_time=now,
        parent_id=None,
        group=None,
        notes=None,
        error=None,
        tags={},
        config=FrozenMap({"lr": 0.1, "model": {"depth": 3}} if config is None else config),
        metrics={},
        summary=FrozenMap({}),
        provenance=FrozenMap(prov),
        inputs=(dataset(),) if inputs is None else inputs,
        used=used,
    )


def dataset(digest: str = SHA) -> DatasetInput:
    return DatasetInput("/data/train.csv", digest, 4, 1, "file", name="train")


def with_(**sections: Any) -> dict[str, Any]:
    """The good provenance with sections replaced (None values delete the section)."""
    prov = copy.deepcopy(GOOD_PROVENANCE)
    for key, value in sections.items():
        if value is None:
            prov.pop(key, None)
        else:
            prov[key] = value
    return prov


def env(**changes: Any) -> dict[str, Any]:
    e = copy.deepcopy(GOOD_PROVENANCE["environment"])
    e.update(changes)
    return e


def check(rec: RunRecord, name: str) -> tuple[bool, str, str | None]:
    c = audit_record(rec).check(name)
    return c.passed, c.detail, c.fix


def test_weights_add_up_to_100_and_a_good_record_scores_100() -> None:
    assert sum(WEIGHTS.values()) == 100
    result = audit_record(record())
    assert [c.name for c in result.checks] == list(WEIGHTS)
    assert result.score == 100 and result.failed == ()
    assert "editable from this repository: mylib" in result.check("environment").detail


def test_json_contract_and_summary_values() -> None:
    result = audit_record(record(with_(seeds=None)))
    doc = result.to_json()
    assert doc["score"] == 85 and isinstance(doc["score"], int)
    assert doc["recorded"] is False and doc["max_score"] == 100
    for c in doc["checks"]:
        assert {"name", "passed", "fix"} <= set(c)
        assert (c["fix"] is None) == c["passed"]
    values = result.summary_values()
    assert values[SCORE_KEY] == 85.0 and values["audit.seeds"] == 0.0
    assert values["audit.code"] == 1.0 and len(values) == 1 + len(WEIGHTS)
    assert result.as_recorded().recorded and isinstance(result, AuditResult)
    with pytest.raises(KeyError):
        result.check("nope")


def test_provenance_must_be_loaded() -> None:
    from dataclasses import replace

    with pytest.raises(ValidationError, match="provenance is not loaded"):
        audit_record(replace(record(), provenance=None))


# -- code ---------------------------------------------------------------------------------
def _git(**changes: Any) -> dict[str, Any]:
    g = copy.deepcopy(GOOD_PROVENANCE["git"])
    g.update(changes)
    return g


@pytest.mark.parametrize(
    ("git", "passed", "detail", "fix"),
    [
        (_git(), True, "clean work tree", None),
        (_git(dirty=True, diff="diff --git a/x b/x\n+1\n"), True, "stored diff (2 lines)", None),
        (None, False, "no git state recorded", "RUNTRACK_CAPTURE_GIT"),
        ("null", False, "not in a git repository", "git init"),
        (_git(commit=None), False, "no commit", "commit the code"),
        (_git(dirty=None), False, "did not answer", "commit every change"),
        (
            _git(dirty=True, diff="diff...", diff_truncated=True),
            False,
            "cut at RUNTRACK_DIFF_MAX_BYTES",
            "raise RUNTRACK_DIFF_MAX_BYTES",
        ),
        (
            _git(
                dirty=True,
                diff="",
                untracked_skipped=[{"path": "big.bin", "size": 9, "reason": "binary"}],
            ),
            False,
            "not in the stored diff (skipped: big.bin)",
            "commit the changes",
        ),
    ],
)
def test_code(git: Any, passed: bool, detail: str, fix: str | None) -> None:
    prov = with_(git=git) if git != "null" else {**with_(), "git": None}
    ok, got_detail, got_fix = check(record(prov), "code")
    assert ok is passed and detail in got_detail
    assert got_fix is None if fix is None else fix in (got_fix or "")


def test_code_notes_untracked_files_left_out_of_a_stored_diff() -> None:
    skipped = [{"path": "model.pkl", "size": 10**9, "reason": "too_large"}]
    git = _git(dirty=True, diff="diff --git a/x b/x\n", untracked_skipped=skipped)
    ok, detail, _ = check(record(with_(git=git)), "code")
    assert ok and "model.pkl (too_large)" in detail


# -- environment -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("environment", "detail", "fix"),
    [
        (None, "no environment recorded", "background capture"),
        (env(packages=None), "RUNTRACK_CAPTURE_PACKAGES=0", "unset RUNTRACK_CAPTURE_PACKAGES"),
        (env(packages={}), "empty", "virtual environment"),
        (env(packages={"numpy": "", "x": "1"}), "no version for numpy", "pip install"),
        (
            env(editable={"mylib": "file:///elsewhere/mylib"}),
            "editable installs outside the repository, not pinned by a version: mylib",
            "keep their source in this repository",
        ),
        (env(python={}), "Python version", "re-run"),
    ],
)
def test_environment_fails(environment: Any, detail: str, fix: str) -> None:
    ok, got_detail, got_fix = check(record(with_(environment=environment)), "environment")
    assert not ok and detail in got_detail and fix in (got_fix or "")


def test_environment_passes_without_the_editable_list_of_older_runs() -> None:
    e = env()
    del e["editable"]
    ok, detail, _ = check(record(with_(environment=e)), "environment")
    assert ok and "3 packages with exact versions, Python 3.11.7" in detail


# -- inputs ------------------------------------------------------------------------------
def _version(digest: str) -> ArtifactVersion:
    return ArtifactVersion("p", "data", "dataset", "v0", 0, digest, 1, 1, "r0", datetime.now(UTC))


def test_inputs() -> None:
    ok, detail, _ = check(record(inputs=(dataset(),), used=(_version(SHA),)), "inputs")
    assert ok and "1 dataset and 1 artifact version hashed" in detail
    assert "declared inputs only" in detail
    ok, detail, fix = check(record(inputs=()), "inputs")
    assert not ok and "no inputs declared" in detail and "run.use_dataset(path)" in (fix or "")
    ok, detail, fix = check(record(inputs=(dataset("not-a-hash"),)), "inputs")
    assert not ok and "without a content hash: train" in detail
    ok, detail, _ = check(record(inputs=(), used=(_version(""),)), "inputs")
    assert not ok and "p/data:v0" in detail


# -- seeds -------------------------------------------------------------------------------
def test_seeds() -> None:
    ok, detail, fix = check(record(with_(seeds=None)), "seeds")
    assert not ok and "no seed recorded for python, numpy (no seeds recorded at all)" in detail
    assert "runtrack.seed_everything" in (fix or "")
    ok, detail, _ = check(record(with_(seeds={"python": 3})), "seeds")
    assert not ok and detail == "no seed recorded for numpy"
    torch_env = env(packages={"numpy": "2", "torch": "2.3"})
    ok, detail, _ = check(record(with_(environment=torch_env)), "seeds")
    assert not ok and detail == "no seed recorded for torch"
    ok, detail, _ = check(record(with_(seeds={"python": 1, "numpy": 2, "torch": 3})), "seeds")
    assert ok and detail == "seeded: python=1, numpy=2"
    ok, detail, _ = check(record(with_(environment=env(packages=None))), "seeds")
    assert ok and "other RNGs in use are unknown" in detail


# -- determinism -------------------------------------------------------------------------
def _det(torch: dict[str, Any] | None = None, **env_vars: Any) -> dict[str, Any]:
    d = copy.deepcopy(GOOD_PROVENANCE["determinism"])
    d.update(env_vars)
    d["torch"] = torch
    return d


CPU_TORCH = {
    "deterministic_algorithms": False,
    "warn_only": False,
    "cudnn_deterministic": False,
    "cudnn_benchmark": False,
    "cuda_initialized": False,
}


def test_determinism() -> None:
    ok, detail, _ = check(record(), "determinism")
    assert ok and detail == "PYTHONHASHSEED=0, torch not imported"
    ok, detail, fix = check(record(with_(determinism=None)), "determinism")
    assert not ok and "not recorded" in detail and "re-run" in (fix or "")
    # seed_everything set PYTHONHASHSEED (for child processes); this one hashed at random
    unseeded = with_(command={"argv": ["train.py"], "hash_seed": None})
    ok, detail, fix = check(record(unseeded), "determinism")
    assert not ok
    assert detail == "PYTHONHASHSEED was not set when Python started: str hashing was randomised"
    assert fix == "start Python with PYTHONHASHSEED set (PYTHONHASHSEED=0 python train.py)"
    # older runs recorded no start value: the value of the determinism section counts
    older = with_(command={"argv": ["train.py"]})
    assert check(record(older), "determinism")[0]
    older["determinism"] = _det(PYTHONHASHSEED="random")
    assert not check(record(older), "determinism")[0]
    ok, detail, _ = check(record(with_(determinism=_det(CPU_TORCH))), "determinism")
    assert ok and "torch on CPU (deterministic algorithms off)" in detail


def test_determinism_on_cuda() -> None:
    cuda = {**CPU_TORCH, "cuda_initialized": True, "cudnn_benchmark": True}
    ok, detail, fix = check(record(with_(determinism=_det(cuda))), "determinism")
    assert not ok
    assert detail == (
        "torch deterministic algorithms are off on CUDA; cudnn.benchmark is on; "
        "CUBLAS_WORKSPACE_CONFIG is not set"
    )
    assert fix == (
        "call torch.use_deterministic_algorithms(True); set torch.backends.cudnn.benchmark = "
        "False; export CUBLAS_WORKSPACE_CONFIG=:4096:8"
    )
    fixed = {**cuda, "deterministic_algorithms": True, "cudnn_benchmark": False}
    det = _det(fixed, CUBLAS_WORKSPACE_CONFIG=":4096:8")
    ok, detail, _ = check(record(with_(determinism=det)), "determinism")
    assert ok and "torch deterministic algorithms on" in detail and ":4096:8" in detail


# -- config ------------------------------------------------------------------------------
def test_config() -> None:
    ok, detail, _ = check(record(), "config")
    assert ok and detail == "2 values, none left unresolved"
    ok, detail, _ = check(record(config={}), "config")
    assert ok and "no config recorded" in detail
    bad = {
        "optim": {"lr": "${model.lr}", "name": "adam"},
        "paths": ["ok", "${oc.env:HOME}/data"],
        "data": {"root": "???"},
        "literal": "\\${not.an.interpolation}",
        "price": "$5 {approx}",
    }
    ok, detail, fix = check(record(config=bad), "config")
    assert not ok
    assert (
        "unresolved interpolations: optim.lr = ${model.lr}, paths[1] = ${oc.env:HOME}/data"
        in detail
    )
    assert "missing values ('???'): data.root" in detail
    assert "literal" not in detail and "price" not in detail
    assert "OmegaConf.to_container(cfg, resolve=True)" in (fix or "")


# -- hardware ----------------------------------------------------------------------------
def test_hardware() -> None:
    ok, detail, _ = check(record(), "hardware")
    assert ok and detail == "Xeon (8 logical cores), 16.0 GiB RAM, no GPU"
    gpu = env(gpus=[{"name": "A100"}], accelerators={"torch": "2", "torch.cuda_available": True})
    ok, detail, _ = check(record(with_(environment=gpu)), "hardware")
    assert ok and detail.endswith("GPUs: A100")
    no_gpu = env(accelerators={"torch": "2", "torch.cuda_available": True})
    ok, detail, fix = check(record(with_(environment=no_gpu)), "hardware")
    assert not ok and "no GPU was listed" in detail and "nvidia-smi" in (fix or "")
    ok, detail, fix = check(
        record(with_(environment=env(ram_total_bytes=None, cpu={}))), "hardware"
    )
    assert not ok and "CPU" in detail and "RAM" in detail and "psutil" in (fix or "")
    ok, detail, _ = check(record(with_(environment=None)), "hardware")
    assert not ok and "no environment recorded" in detail


# -- layering ----------------------------------------------------------------------------
def test_audit_package_is_pure() -> None:
    """runtrack.audit reads records: the standard library, entities and errors only."""
    src = Path(__file__).resolve().parents[2] / "src" / "runtrack" / "audit"
    for path in src.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                assert node.module in (None, "_checks", "_result", "entities", "errors"), path
            elif isinstance(node, ast.ImportFrom) and node.module:
                top = node.module.split(".")[0]
                assert top == "__future__" or top in sys.stdlib_module_names, path
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] in sys.stdlib_module_names, path
