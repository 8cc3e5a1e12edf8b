"""`runtrack reproduce` / `rerun` end to end: real repositories, real training processes,
the current interpreter (--env current)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from _repro import Project, git, invoke, reproduce

import runtrack


def test_a_clean_run_reproduces_exactly_and_is_linked(project: Project) -> None:
    original = project.train("--lr", "0.2", "--seed-everything")

    code, doc, _ = reproduce("reproduce", original, "--verify")

    assert code == 0, doc
    assert doc["verdict"] == "reproduced" and doc["reason"] is None
    new = doc["reproduction"]
    assert new and new != original
    # the API.md shape: every summary metric, both values and the delta
    assert set(doc["metrics"]) == {"loss", "w"}
    for m in doc["metrics"].values():
        assert m["delta"] == 0.0 and m["original"] == m["reproduced"]
    # the same code, data, command, seeds; the new run says what it reproduces
    api = runtrack.Api()
    old, rep = api.run(original), api.run(new)
    assert rep.tags["reproduction_of"] == original
    assert rep.provenance["reproduction"]["of"] == original
    assert rep.provenance["git"]["commit"] == old.provenance["git"]["commit"]
    assert rep.provenance["command"]["argv"] == old.provenance["command"]["argv"]
    assert rep.config == old.config
    assert (
        rep.provenance["seeds"]
        == old.provenance["seeds"]
        == {
            **old.provenance["seeds"],
            "python": 0,
        }
    )
    assert [d.digest for d in rep.inputs] == [d.digest for d in old.inputs]
    assert doc["inputs"]["datasets"][0]["status"] == "ok"
    assert doc["code"]["worktree"] is None  # removed afterwards
    assert git(project.root, "worktree", "list").count("\n") == 0  # only the main one
    # runs that reproduce it are found with the query language
    assert [r.id for r in api.runs("repro", filter=f"tags.reproduction_of = '{original}'")] == [new]

    # the Python API does the same
    result = api.reproduce(original)
    assert result["verdict"] == "reproduced"
    assert result["reproduction"] not in (None, new)


def test_a_dirty_tree_reproduces_through_its_stored_diff(project: Project) -> None:
    clean = project.train()
    # an uncommitted change that moves the metric, through a new untracked module too
    (project.root / "tweak.py").write_text("FACTOR = 0.5\n")
    script = (project.root / "train.py").read_text()
    (project.root / "train.py").write_text(
        script.replace("w += args.lr * (x - w)", "w += args.lr * tweak.FACTOR * (x - w)").replace(
            "import runtrack\n", "import runtrack\nimport tweak\n"
        )
    )
    dirty = project.train()
    # the tree goes back to the commit: only the stored diff has the change now
    git(project.root, "checkout", "-q", "train.py")
    (project.root / "tweak.py").unlink()

    api = runtrack.Api()
    assert api.run(dirty).provenance["git"]["dirty"] is True
    assert api.run(dirty).summary["w"] != api.run(clean).summary["w"]

    code, doc, _ = reproduce("reproduce", dirty, "--verify")

    assert code == 0, doc
    assert doc["verdict"] == "reproduced"
    assert doc["code"]["diff_files"] == 2
    assert doc["metrics"]["w"]["reproduced"] == api.run(dirty).summary["w"]


def test_a_changed_dataset_is_named_and_nothing_runs(project: Project) -> None:
    data = project.outside / "train.csv"
    data.write_text("1\n2\n3\n")
    original = project.train("--data", str(data))
    data.write_text("1\n2\n3\n4\n")  # changed afterwards

    code, doc, _ = reproduce("reproduce", original, "--verify")

    assert code == 1
    assert doc["verdict"] == "failed" and doc["stage"] == "inputs"
    assert doc["reproduction"] is None
    assert "inputs changed" in doc["reason"] and str(data) in doc["reason"]
    assert "'train'" in doc["reason"]
    (entry,) = doc["inputs"]["datasets"]
    assert entry["status"] == "changed" and entry["path"] == str(data)
    assert runtrack.Api().count("repro") == 1  # no reproduction was started

    # said for people too, naming the file
    code, out, _ = invoke("reproduce", original, "--verify")
    assert code == 1 and "FAILED" in out and str(data) in out

    # a dataset that is gone is named as missing
    data.unlink()
    _, doc, _ = reproduce("reproduce", original)
    assert doc["inputs"]["datasets"][0]["status"] == "missing"
    assert "is missing" in doc["reason"]


def test_a_non_deterministic_run_differs_with_the_deltas(project: Project) -> None:
    # the data is in the repository but ignored by git: verified, then linked in
    (project.root / "data" / "ignored.csv").write_text("2\n4\n6\n")
    original = project.train("--noise", "--data", "data/ignored.csv")

    code, doc, _ = reproduce("reproduce", original, "--verify")

    assert code == 3, doc
    assert doc["verdict"] == "differs"
    w = doc["metrics"]["w"]
    assert w["delta"] != 0 and w["delta"] == pytest.approx(w["reproduced"] - w["original"])
    assert not w["within"]
    assert doc["metrics"]["loss"]["within"]  # logged before the noise: the same
    assert "w (Δ=" in doc["reason"] and "1 of 2 metrics" in doc["reason"]
    (entry,) = doc["inputs"]["datasets"]
    assert entry["status"] == "ok" and entry["linked_into_worktree"].endswith("data/ignored.csv")

    # a tolerance for that key makes it pass; the table for people says it
    code, doc, _ = reproduce("reproduce", original, "--verify", "--tolerance", "w=0.01")
    assert code == 0 and doc["verdict"] == "reproduced"
    assert doc["metrics"]["w"]["tolerance"] == 0.01


def test_rerun_with_set_changes_the_metric_and_links_the_run(project: Project) -> None:
    original = project.train("--lr", "0.1", "--seed-everything")
    api = runtrack.Api()

    # an option on the recorded command line: its value is replaced there
    code, doc, _ = reproduce("rerun", original, "--set", "lr=0.3")
    assert code == 0, doc
    assert doc["verdict"] == "completed" and doc["kind"] == "rerun"
    assert doc["config"]["set"]["lr"]["via"] == "command line"
    assert doc["metrics"]["w"]["delta"] != 0
    first = api.run(doc["reproduction"])
    assert first.tags["rerun_of"] == original and "reproduction_of" not in first.tags
    assert first.config["lr"] == 0.3
    assert list(first.provenance["command"]["argv"][-3:]) == ["--lr", "0.3", "--seed-everything"]

    # a key not on the command line: argparse gets it (so the seed is seeded with it)
    code, doc, _ = reproduce("rerun", original, "--set", "seed=5", "--set", "epochs=2")
    assert code == 0, doc
    second = api.run(doc["reproduction"])
    assert second.config["seed"] == 5 and second.config["epochs"] == 2
    assert second.provenance["seeds"]["python"] == 5
    assert doc["config"]["set"]["seed"]["via"].startswith("argparse")
    assert doc["config"]["set"]["seed"]["recorded"] == 5
    assert second.metrics["loss"].count == 2

    # a rerun is itself reproducible: the overrides it ran with are carried
    code, doc, _ = reproduce("reproduce", second.id, "--verify")
    assert code == 0 and doc["verdict"] == "reproduced", doc
    assert api.run(doc["reproduction"]).config == second.config


def test_artifacts_are_pinned_to_the_versions_the_run_used(
    project: Project, tmp_path: Path
) -> None:
    weights = tmp_path / "w.txt"
    weights.write_text("2.5")
    with runtrack.init(project="repro") as maker:
        maker.log_artifact(weights, name="weights", type="model")
    (project.root / "use.py").write_text(
        "import runtrack\n"
        "with runtrack.init(project='repro') as run:\n"
        "    art = run.use_artifact('weights:latest')\n"
        "    path = next(p for p in art.download().rglob('*') if p.is_file())\n"
        "    run.summary['w'] = float(path.read_text())\n"
        "print('RUN', run.id)\n"
    )
    project.commit("use an artifact")
    original = project.train(script="use.py")
    weights.write_text("7.0")  # a new version: latest moves to v1
    with runtrack.init(project="repro") as maker:
        assert maker.log_artifact(weights, name="weights", type="model").version == "v1"

    code, doc, _ = reproduce("reproduce", original, "--verify")

    assert code == 0 and doc["verdict"] == "reproduced", doc
    (art,) = doc["inputs"]["artifacts"]
    assert art["ref"] == "repro/weights:v0" and art["pinned"] and art["latest"] == "v1"
    assert "latest is now v1" in art["note"]
    rep = runtrack.Api().run(doc["reproduction"])
    assert [v.ref for v in rep.used] == ["weights:v0"]
    assert doc["command"]["env"]["RUNTRACK_PIN_ARTIFACTS"] == '{"repro/weights": "v0"}'


def test_a_failing_command_fails_with_its_exit_code_and_output(
    project: Project, tmp_path: Path
) -> None:
    marker = tmp_path / "fail-now"
    original = project.train("--fail-if", str(marker))
    marker.touch()

    code, doc, _ = reproduce("reproduce", original, "--verify")

    assert code == 1
    assert doc["verdict"] == "failed" and doc["stage"] == "run"
    assert doc["exit_code"] == 3 and "exited with code 3" in doc["reason"]
    assert "boom: the marker file exists" in doc["output_tail"]
    assert doc["reproduction"] is not None  # the run it started, ended failed

    code, out, _ = invoke("reproduce", original, "--verify")
    assert code == 1 and "boom" in out and "exited with code 3" in out


def test_the_example_training_script_reproduces_exactly(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    example = Path(__file__).resolve().parents[2] / "examples" / "train_digits.py"
    root = tmp_path / "examples-repo"
    (root / "examples").mkdir(parents=True)
    shutil.copy(example, root / "examples" / "train_digits.py")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "example")
    original = Project(root, tmp_path).train("--epochs", "3", script="examples/train_digits.py")

    code, doc, _ = reproduce("reproduce", original, "--verify")

    assert code == 0 and doc["verdict"] == "reproduced", doc
    assert {"test/acc", "test/f1_macro", "best_val_loss", "val/loss"} <= set(doc["metrics"])
    assert all(m["delta"] == 0 for m in doc["metrics"].values())
    assert doc["inputs"]["datasets"][0]["name"] == "sklearn-digits"


HYDRA_TRAIN = """
import hydra
import runtrack
from omegaconf import DictConfig


@hydra.main(version_base=None, config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    with runtrack.init(project="repro", config=cfg) as run:
        w = 0.0
        for _ in range(cfg.epochs):
            w += cfg.lr * (3.0 - w) / cfg.model.depth
        run.summary["w"] = w
    print("RUN", run.id)


main()
"""


def test_a_hydra_run_reproduces_and_reruns_with_overrides(project: Project) -> None:
    pytest.importorskip("hydra")
    (project.root / "conf").mkdir()
    (project.root / "conf" / "config.yaml").write_text("lr: 0.1\nepochs: 3\nmodel:\n  depth: 2\n")
    (project.root / "train_hydra.py").write_text(HYDRA_TRAIN)
    (project.root / ".gitignore").write_text("outputs/\n")
    project.commit("hydra")
    original = project.train("lr=0.2", script="train_hydra.py")

    code, doc, _ = reproduce("reproduce", original, "--verify")
    assert code == 0 and doc["verdict"] == "reproduced", doc

    code, doc, _ = reproduce("rerun", original, "--set", "lr=0.4", "--set", "model.depth=4")
    assert code == 0, doc
    assert {h["via"] for h in doc["config"]["set"].values()} == {"hydra override"}
    assert doc["command"]["argv"][-2:] == ["lr=0.4", "model.depth=4"]
    new = runtrack.Api().run(doc["reproduction"])
    assert new.config["lr"] == 0.4 and new.config["model"]["depth"] == 4
    assert new.tags["rerun_of"] == original
    assert list(new.provenance["hydra"]["overrides"]) == ["lr=0.4", "model.depth=4"]
