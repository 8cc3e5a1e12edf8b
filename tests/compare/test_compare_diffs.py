"""What differs between runs, from what they recorded: runs made in a real git repository
(commit, dirty tree, dataset files, seeds, models) and environments written through the
store API (package versions, hardware)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

import runtrack
from runtrack.compare.diffs import map_diff
from runtrack.entities import OpRecord, ProvenanceOp, RunBatch


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def _environment(packages: dict[str, str], python: str, ram: int, gpus: int) -> dict[str, Any]:
    return {
        "python": {"version": python, "implementation": "CPython"},
        "packages": packages,
        "os": {"platform": "Linux-6.1-x86_64"},
        "cpu": {"model": "Xeon", "logical": 8, "physical": 4},
        "ram_total_bytes": ram,
        "gpus": [
            {"index": i, "name": "NVIDIA A100", "memory_total_mb": 40960} for i in range(gpus)
        ],
        "accelerators": {},
        "env": {},
    }


def _write_environment(run_id: str, env: dict[str, Any]) -> None:
    """Replace the run's environment section, as a store client would."""
    store = runtrack.Api().store
    store.write(RunBatch(run_id, "test-env", (OpRecord(1, ProvenanceOp({"environment": env})),)))


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    _git(root, "config", "user.email", "t@example.com")
    _git(root, "config", "user.name", "t")
    (root / "train.py").write_text("print('v1')\n")
    (root / "data.csv").write_text("x,y\n1,0\n2,1\n")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "v1")
    monkeypatch.chdir(root)
    return root


def _run(name: str, config: dict[str, Any], seed: int, model_bytes: int) -> str:
    runtrack.seed_everything(seed)
    with runtrack.init(project="diffs", name=name, config=config) as run:
        run.use_dataset("data.csv", name="train")
        model = Path(f"../{name}.bin")
        model.write_bytes(b"m" * model_bytes)
        run.log_artifact(model, name=f"model-{name}", type="model")
        run.summary["auc"] = 0.8
    return run.id


def test_everything_that_differs_is_named(repo: Path) -> None:
    a = _run("A", {"lr": 0.1, "model": {"depth": 3, "act": "relu"}}, seed=1, model_bytes=1000)
    # B: a new commit, a changed dataset, another seed, a changed nested config
    (repo / "train.py").write_text("print('v2')\n")
    (repo / "data.csv").write_text("x,y\n1,0\n2,1\n3,1\n")
    _git(repo, "commit", "-q", "-am", "v2")
    b = _run("B", {"lr": 0.1, "model": {"depth": 5}, "wd": 0.01}, seed=2, model_bytes=4000)
    # C: B's commit with uncommitted changes
    (repo / "train.py").write_text("print('v3')\n")
    c = _run("C", {"lr": 0.1, "model": {"depth": 5}, "wd": 0.01}, seed=2, model_bytes=4000)
    base = {"numpy": "1.26.4", "scipy": "1.11.0", "torch": "2.2.0"}
    _write_environment(a, _environment(base, "3.11.7", 64 << 30, gpus=0))
    _write_environment(
        b, _environment({**base, "numpy": "2.0.1", "polars": "1.0"}, "3.11.7", 64 << 30, gpus=0)
    )
    _write_environment(
        c, _environment({"numpy": "2.0.1", "scipy": "1.11.0"}, "3.12.1", 128 << 30, gpus=2)
    )

    doc = runtrack.Api().compare([a, b, c], "auc").to_json()
    d = doc["diffs"]
    assert d["baseline"] == a
    # config: nested keys, changed / added / removed with their values
    config = d["config"]
    assert config["vs_baseline"][b] == {
        "changed": {"model.depth": [3, 5]},
        "added": {"wd": 0.01},
        "removed": {"model.act": "relu"},
    }
    assert config["differing"]["model.depth"] == {a: 3, b: 5, c: 5}
    assert "lr" not in config["differing"] and not config["same"]
    # code: commits and the uncommitted diff
    code = d["code"]
    assert not code["same_commit"] and not code["same_dirty"] and not code["same_diff"]
    assert code["runs"][a]["commit"] != code["runs"][b]["commit"]
    assert code["runs"][b]["commit"] == code["runs"][c]["commit"]
    assert code["runs"][b]["dirty"] is False and code["runs"][c]["dirty"] is True
    assert code["runs"][c]["diff_bytes"] > 0 and code["runs"][b]["diff_bytes"] == 0
    assert code["runs"][a]["branch"] == "main"
    # data: the dataset's digest changed between A and B
    (ds,) = d["data"]["datasets"]
    assert ds["name"] == "train" and not ds["same"]
    assert ds["digests"][a] != ds["digests"][b] == ds["digests"][c]
    # environment: python and package versions changed, added, removed
    env = d["environment"]
    assert env["python"] == {a: "3.11.7", b: "3.11.7", c: "3.12.1"}
    pk = env["packages"]
    assert pk["vs_baseline"][b] == {
        "changed": {"numpy": ["1.26.4", "2.0.1"]},
        "added": {"polars": "1.0"},
        "removed": {},
    }
    assert pk["vs_baseline"][c]["removed"] == {"torch": "2.2.0"}
    assert set(pk["differing"]) == {"numpy", "polars", "torch"}
    assert {"editable", "accelerators", "env", "determinism"} <= set(env)
    # hardware, seeds, model size, duration
    hw = d["hardware"]["differing"]
    assert hw["ram_bytes"] == {a: 64 << 30, b: 64 << 30, c: 128 << 30}
    assert hw["gpus"] == {a: None, b: None, c: "2x NVIDIA A100"}
    assert d["seeds"]["differing"]["python"] == {a: 1, b: 2, c: 2}
    assert d["model_size"]["runs"] == {a: 1000, b: 4000, c: 4000}
    assert all(v is not None and v >= 0 for v in d["duration"]["runs"].values())
    # the readable forms name them too
    md = runtrack.Api().compare([a, b, c], "auc").to_markdown()
    for text in (
        "model.depth",
        "package numpy",
        "1.26.4",
        "dataset train",
        "commit",
        "uncommitted diff",
        "ram_bytes",
        "128.0 GB",
        "model size",
        "3.9 KB",
    ):
        assert text in md, text


def test_map_diff_treats_absent_and_equal_values_as_json() -> None:
    out = map_diff(["a", "b"], [{"x": 1, "y": True, "n": None}, {"x": 1.0, "y": 1, "z": 2}])
    assert out["differing"] == {
        "y": {"a": True, "b": 1},
        "z": {"a": None, "b": 2},
        "n": {"a": None, "b": None},
    }
    assert out["vs_baseline"]["b"] == {
        "changed": {"y": [True, 1]},
        "added": {"z": 2},
        "removed": {"n": None},
    }
    assert map_diff(["a", "b"], [None, {}])["same"] is True  # not recorded = nothing
