"""``runtrack artifacts``, ``models``, ``lineage`` and ``rm``, driven as people and scripts
use them, on data made with the SDK; embedded and against a real server process."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import runtrack
from runtrack.cli import cli
from runtrack.client._state import STATE


@pytest.fixture(autouse=True)
def _sdk(sdk: None) -> None:
    """Every test here uses the quiet SDK fixture of conftest."""


def invoke(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def ok(*args: str) -> str:
    code, out, err = invoke(*args)
    assert code == 0, err
    return out


def ok_json(*args: str) -> Any:
    return json.loads(ok(*args, "--json"))


def world(root: Path) -> dict[str, Any]:
    """prep reads train.csv and logs churn-data (+ a reference artifact); train uses
    churn-data, logs auc and a scikit-learn model registered as churn/1."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    data = root / "data"
    data.mkdir()
    (data / "train.csv").write_text("a,b,label\n" + "1,2,0\n3,4,1\n" * 50)
    remote = root / "remote.csv"
    remote.write_text("x\n1\n")
    with runtrack.init(project="churn", name="prep") as prep:
        prep.use_dataset(str(data / "train.csv"))
        prep.log_artifact(data, name="churn-data", type="dataset", aliases=["candidate"])
        prep.log_artifact(remote.as_uri(), name="remote-data", type="dataset")
    x = np.random.default_rng(0).random((40, 3))
    y = (x[:, 0] > 0.5).astype(int)
    with runtrack.init(project="churn", name="train", config={"C": 0.5}) as train:
        train.use_artifact("churn-data:latest")
        train.log({"auc": 0.91})
        runtrack.log_model(LogisticRegression(C=0.5).fit(x, y), name="churn-model")
        mv = runtrack.register_model("churn-model:latest", "churn", tags={"team": "risk"})
    return {
        "prep": prep.id,
        "train": train.id,
        "model_version": mv.version,
        "dataset_digest": hashlib.sha256((data / "train.csv").read_bytes()).hexdigest(),
        "remote": remote.as_uri(),
    }


# -- artifacts --------------------------------------------------------------------------
def test_artifacts_ls_versions_show(tmp_path: Path) -> None:
    w = world(tmp_path)
    out = ok("artifacts", "ls", "--project", "churn")
    assert "churn-data" in out and "churn-model" in out and "candidate=v0" in out
    assert "dataset" in out and "model" in out and " B" in out
    rows = {a["name"]: a for a in ok_json("artifacts", "ls", "-p", "churn")}
    assert rows["churn-data"]["version_count"] == 1 and rows["churn-data"]["latest"] == "v0"
    assert rows["churn-data"]["aliases"]["candidate"] == "v0"
    assert rows["churn-model"]["type"] == "model" and rows["churn-model"]["size"] > 0
    assert rows["churn-data"]["created_at"].endswith("+00:00")  # ISO UTC, as ls --json
    only = ok_json("artifacts", "ls", "-p", "churn", "--type", "model")
    assert [a["name"] for a in only] == ["churn-model"]

    out = ok("artifacts", "versions", "churn-data", "-p", "churn")
    assert "v0" in out and w["prep"] in out and "candidate" in out
    (v0,) = ok_json("artifacts", "versions", "churn-data", "-p", "churn")
    assert v0["version"] == "v0" and v0["created_by"] == w["prep"]

    out = ok("artifacts", "show", "churn-model:v0", "-p", "churn")
    assert "churn-model:v0" in out and w["train"] in out and "sklearn" in out
    assert "model.joblib" in out and "runtrack-model.json" in out
    doc = ok_json("artifacts", "show", "churn/churn-model:latest")
    assert doc["full_ref"] == "churn/churn-model:v0" and doc["created_by"] == w["train"]
    assert doc["metadata"]["flavor"] == "sklearn"
    files = {f["path"]: f for f in doc["files"]}
    assert "model.joblib" in files and files["model.joblib"]["size"] > 0
    assert sum(f["size"] for f in doc["files"]) == doc["size"]

    out = ok("artifacts", "show", "remote-data", "-p", "churn")
    assert w["remote"] in out  # a reference file shows where it lives
    doc = ok_json("artifacts", "show", "remote-data", "-p", "churn")
    assert doc["files"][0]["ref"] == w["remote"]


def test_artifacts_get_downloads_verified_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    out = ok("artifacts", "get", "churn-data:candidate", "-p", "churn")
    assert str(work / "churn-data") in out and "verified" in out
    assert (work / "churn-data" / "train.csv").read_text().startswith("a,b,label")
    doc = ok_json("artifacts", "get", "churn-model", "-p", "churn", "--dest", "elsewhere")
    assert doc["path"] == str(work / "elsewhere") and "model.joblib" in doc["files"]
    assert (work / "elsewhere" / "model.joblib").stat().st_size > 0
    (work / "taken").write_text("a file")
    code, _, err = invoke("artifacts", "get", "churn-data", "-p", "churn", "-d", "taken")
    assert code != 0 and "is a file" in err


def test_artifact_aliases_history_and_rm(tmp_path: Path) -> None:
    world(tmp_path)
    out = ok("artifacts", "alias", "churn-data", "best", "0", "-p", "churn", "--reason", "clean")
    assert "churn-data:best -> v0" in out
    doc = ok_json("artifacts", "alias", "churn-data", "gold", "v0", "-p", "churn")
    assert doc["version"] == "v0" and "gold" in doc["artifact"]["aliases"]
    out = ok("artifacts", "history", "churn-data", "-p", "churn")
    assert "best" in out and "clean" in out and "gold" in out
    events = ok_json("artifacts", "history", "churn-data", "-p", "churn", "--alias", "best")
    assert [(e["alias"], e["from_version"], e["to_version"], e["reason"]) for e in events] == [
        ("best", None, "v0", "clean")
    ]
    assert events[0]["at"].endswith("+00:00")
    assert "removed" in ok("artifacts", "alias", "churn-data", "gold", "--remove", "-p", "churn")
    code, _, err = invoke("artifacts", "alias", "churn-data", "gold", "-p", "churn")
    assert code != 0 and "VERSION" in err

    code, _, err = invoke("artifacts", "rm", "churn-data:v0", "-p", "churn")
    assert code == 1 and "alias" in err and "--force" in err
    code, _, err = invoke("artifacts", "rm", "churn-data", "-p", "churn")
    assert code == 1 and "name the version" in err
    doc = ok_json("artifacts", "rm", "churn-data:v0", "-p", "churn", "--force")
    assert doc["deleted"]["full_ref"] == "churn/churn-data:v0"
    code, _, err = invoke("artifacts", "show", "churn-data:v0", "-p", "churn")
    assert code == 1 and "error:" in err


# -- models -----------------------------------------------------------------------------
def test_models_register_ls_versions_show(tmp_path: Path) -> None:
    w = world(tmp_path)
    doc = ok_json(
        "models",
        "register",
        "churn-model:v0",
        "churn-b",
        "-p",
        "churn",
        "--tag",
        "stage=dev",
        "--tag",
        "owner=ana",
        "--description",
        "first cut",
    )
    assert doc["model"] == "churn-b" and doc["version"] == 1
    assert doc["tags"] == {"stage": "dev", "owner": "ana"} and doc["description"] == "first cut"
    assert "churn-b/1" in ok("models", "register", "churn-model:v0", "churn-b", "-p", "churn")
    code, _, err = invoke("models", "register", "churn-model:v0", "x", "--tag", "oops")
    assert code != 0 and "KEY=VALUE" in err

    out = ok("models", "ls")
    assert "churn" in out and "churn-b" in out
    rows = {m["name"]: m for m in ok_json("models", "ls", "--project", "churn")}
    assert rows["churn"]["latest_version"] == 1 and rows["churn"]["project"] == "churn"
    (v1,) = ok_json("models", "versions", "churn")
    assert v1["run_id"] == w["train"] and v1["artifact"]["full_ref"] == "churn/churn-model:v0"
    assert "churn/churn-model:v0" in ok("models", "versions", "churn")

    out = ok("models", "show", "churn/1")
    for needle in (
        "churn/1",
        "churn/churn-model:v0",
        "train",
        w["train"],
        "finished",
        "team=risk",
        "auc",
        "0.91",
        "C",
        "churn/churn-data:v0",
        "train.csv",
        w["dataset_digest"][:12],
    ):
        assert needle in out, needle
    doc = ok_json("models", "show", "churn")
    assert doc["model"] == "churn" and doc["version"] == 1 and doc["alias"] is None
    assert doc["run"]["id"] == w["train"] and doc["run"]["status"] == "finished"
    assert doc["config"] == {"C": 0.5} and doc["metrics"]["auc"] == 0.91
    assert doc["artifact"]["full_ref"] == "churn/churn-model:v0"
    upstream = {d["id"] for d in doc["datasets"]}
    assert "artifact:churn/churn-data:v0" in upstream
    assert f"dataset:{w['dataset_digest']}" in upstream
    assert doc["lineage"]["root"] == "artifact:churn/churn-model:v0"


def test_gates_refuse_a_promotion_and_history_tells_who_when_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world(tmp_path)
    gate = [{"aliases": ["production"], "tags": ["reviewed"], "metrics": {"auc": ">= 0.95"}}]
    doc = ok_json("models", "gates", "churn", "--set", json.dumps(gate))
    assert doc["gates"][0]["aliases"] == ["production"]
    out = ok("models", "gates", "churn")
    assert "production" in out and "reviewed" in out and "auc >= 0.95" in out

    code, out, err = invoke("models", "alias", "churn", "production", "1", "--reason", "go")
    assert code == 1 and out == ""
    assert "refused" in err and "reviewed" in err and "0.95" in err and "Traceback" not in err
    code, out, _ = invoke("models", "alias", "churn", "production", "1", "-r", "go", "--json")
    error = json.loads(out)["error"]
    assert code == 1 and error["code"] == "promotion_refused" and len(error["reasons"]) == 2
    assert ok_json("models", "history", "churn") == []  # nothing changed
    assert ok_json("models", "ls")[0]["aliases"] == {}
    code, _, err = invoke("models", "show", "churn@production")
    assert code == 1 and "error:" in err

    # staging is not gated; a gate file (YAML) replaces the gates; --clear removes them
    assert "version 1" in ok("models", "alias", "churn", "staging", "1", "--reason", "try")
    gates_file = tmp_path / "gates.yaml"
    gates_file.write_text("- aliases: [production]\n  metrics:\n    auc: '>= 0.9'\n")
    doc = ok_json("models", "gates", "churn", "--file", str(gates_file))
    assert doc["gates"][0]["metrics"] == {"auc": ">= 0.9"}
    before = time.time()
    time.sleep(0.05)
    out = ok("models", "alias", "churn", "production", "v1", "--reason", "beats v0 on AUC")
    assert "churn@production -> version 1" in out
    assert ok_json("models", "gates", "churn", "--clear")["gates"] == []
    assert "no promotion gates" in ok("models", "gates", "churn")

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        out = ok("models", "history", "churn")
        assert "production" in out and "beats v0 on AUC" in out and "staging" in out
        assert "JST" in out  # the viewer's zone, named
        events = ok_json("models", "history", "churn", "--alias", "production")
        assert [(e["from_version"], e["to_version"]) for e in events] == [(None, 1)]
        assert events[0]["reason"] == "beats v0 on AUC" and events[0]["actor"]
        then = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(before))  # local, no zone
        out = ok("models", "history", "churn", "--alias", "production", "--at", then)
        assert "named no version" in out
        doc = ok_json("models", "history", "churn", "--alias", "production", "--at", then)
        assert doc["version"] is None
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 1))
        doc = ok_json("models", "history", "churn", "--alias", "production", "--at", now)
        assert doc["version"] == 1 and doc["model_version"]["ref"] == "churn/1"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    code, _, err = invoke("models", "history", "churn", "--alias", "production", "--at", "soon")
    assert code == 1 and "ISO" in err
    assert "removed" in ok("models", "alias", "churn", "staging", "--remove", "-r", "done")
    assert "staging" not in ok_json("models", "ls")[0]["aliases"]


# -- lineage ----------------------------------------------------------------------------
def test_lineage_tree_up_down_and_json(tmp_path: Path) -> None:
    w = world(tmp_path)
    ok("models", "alias", "churn", "production", "1", "--reason", "ok")
    for ref in ("churn@production", "churn/1", "churn-model:v0"):
        out = ok("lineage", ref, "-p", "churn") if ":" in ref else ok("lineage", ref)
        for needle in (
            "churn-model:v0",
            "produced by",
            "run train",
            w["train"],
            "finished",
            "churn-data:v0",
            "candidate",
            "run prep",
            "train.csv",
            w["dataset_digest"][:12],
        ):
            assert needle in out, (ref, needle)
    out = ok("lineage", "churn-data:v0", "--down", "-p", "churn")
    assert "used by" in out and "run train" in out and "churn-model:v0" in out
    assert "prep" not in out
    out = ok("lineage", "churn-data:v0", "--down", "--depth", "1", "-p", "churn")
    assert "run train" in out and "churn-model" not in out
    out = ok("lineage", w["train"])  # a run id
    assert "churn-data:v0" in out and "run prep" in out

    doc = ok_json("lineage", "churn-data:v0", "--down", "-p", "churn")
    assert doc["root"] == "artifact:churn/churn-data:v0" and doc["direction"] == "down"
    ids = {n["id"]: n for n in doc["nodes"]}
    assert ids[f"run:{w['train']}"]["data"]["status"] == "finished"
    assert {
        "source": "artifact:churn/churn-data:v0",
        "target": f"run:{w['train']}",
        "kind": "used",
    } in doc["edges"]
    out = ok("lineage", "remote-data", "--down", "-p", "churn")
    assert "nothing recorded downstream" in out


def test_lineage_shows_a_node_reached_twice_once(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "b.txt").write_text("b")
    with runtrack.init(project="p", name="maker") as maker:
        maker.log_artifact(tmp_path / "a.txt", name="a")
        maker.log_artifact(tmp_path / "b.txt", name="b")
    (tmp_path / "c.txt").write_text("c")
    with runtrack.init(project="p", name="joiner") as joiner:
        joiner.use_artifact("a:v0")
        joiner.use_artifact("b:v0")
        joiner.log_artifact(tmp_path / "c.txt", name="c")
    out = ok("lineage", "c:v0", "-p", "p")
    assert out.count("run maker") == 2 and out.count("(see above)") == 1
    assert out.count(maker.id) == 2 and "run joiner" in out


# -- rm ---------------------------------------------------------------------------------
def test_rm_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w = world(tmp_path)
    code, out, err = invoke("rm", w["train"])
    assert code == 1 and "churn/1" in err and "--force" in err
    assert w["train"] in ok("ls", "churn")  # refused: still there

    with runtrack.init(project="churn", name="scratch") as scratch:
        scratch.log({"x": 1.0})
    monkeypatch.setattr("runtrack.cli._registry.interactive", lambda: True)
    code, _, err = invoke("rm", scratch.id, input="n\n")
    assert code == 1 and "aborted" in err and "scratch" in err
    assert scratch.id in ok("ls", "churn")
    code, out, _ = invoke("rm", scratch.id[:10], input="y\n")
    assert code == 0 and f"deleted run scratch ({scratch.id})" in out
    assert scratch.id not in ok("ls", "churn")

    live = runtrack.init(project="churn", name="live")
    code, _, err = invoke("rm", live.id, "--yes")
    assert code == 1 and "still running" in err
    live.finish()

    doc = ok_json("rm", w["train"], "--force")  # --json: no prompt
    assert doc["deleted"] == [{"id": w["train"], "name": "train", "project": "churn"}]
    doc = ok_json("models", "show", "churn/1")  # the model version stays, without its run
    assert doc["run"] is None and doc["artifact"]["full_ref"] == "churn/churn-model:v0"
    assert "(deleted)" in ok("models", "show", "churn/1")


# -- errors and help --------------------------------------------------------------------
@pytest.mark.parametrize(
    "args,needle",
    [
        (("artifacts", "show", "nope:v1"), "nope"),
        (("artifacts", "show", "churn-data:v7", "-p", "churn"), "v7"),
        (("artifacts", "get", "bad name!"), "artifact name"),
        (("artifacts", "versions", "nope"), "nope"),
        (("artifacts", "history", "nope", "-p", "churn"), "nope"),
        (("models", "show", "nope@production"), "nope"),
        (("models", "show", "churn@nosuch"), "nosuch"),
        (("models", "history", "nope"), "nope"),
        (("models", "gates", "churn", "--set", "{not json"), "JSON"),
        (("models", "gates", "churn", "--set", '[{"bogus": 1}]'), "bogus"),
        (("models", "alias", "churn", "prod", "x", "-r", "why"), "number"),
        (("lineage", "nope:v9"), "nope"),
        (("lineage", "churn/9"), "churn"),
        (("rm", "zzzzzzzzzzzzzzzz"), "no run"),
    ],
)
def test_bad_refs_get_one_clear_line(tmp_path: Path, args: tuple[str, ...], needle: str) -> None:
    world(tmp_path)
    code, out, err = invoke(*args)
    assert code != 0 and out == ""
    first = err.splitlines()[0]
    assert first.startswith("error: ") and needle in first, err
    assert "Traceback" not in err
    code, out, _ = invoke(*args, "--json")
    assert code != 0 and json.loads(out)["error"]["code"]


def test_every_subcommand_has_help_and_json() -> None:
    from runtrack.cli.artifacts import artifacts
    from runtrack.cli.models import models

    for group in (artifacts, models):
        assert group.name is not None
        for sub in group.commands:
            code, out, _ = invoke(group.name, sub, "--help")
            assert code == 0 and "--json" in out, (group.name, sub)


# -- against a team server --------------------------------------------------------------
@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    from runtrack.testing.live import LiveServer

    with LiveServer(tmp_path / "server") as live:
        yield live.url


def test_models_show_and_lineage_against_a_server(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNTRACK_URL", server)
    w = world(tmp_path)
    for store in STATE.stores.values():  # the CLI opens its own connection, as a new process
        store.close()
    STATE.stores.clear()
    STATE.artifact_stores.clear()
    assert not (tmp_path / "rt" / "runtrack.db").exists()
    ok("models", "alias", "churn", "production", "1", "--reason", "ship")
    doc = ok_json("models", "show", "churn@production")
    assert doc["alias"] == "production" and doc["run"]["id"] == w["train"]
    assert doc["metrics"]["auc"] == 0.91
    assert f"dataset:{w['dataset_digest']}" in {d["id"] for d in doc["datasets"]}
    out = ok("lineage", "churn@production")
    assert "run train" in out and "churn-data:v0" in out and "train.csv" in out
    work = tmp_path / "dl"
    out = ok("artifacts", "get", "churn-model:v0", "-p", "churn", "--dest", str(work))
    assert (work / "model.joblib").exists()
