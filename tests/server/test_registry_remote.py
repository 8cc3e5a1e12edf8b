"""Artifacts, lineage and the registry through a real server process: the SDK with
RUNTRACK_URL set, a model loaded in a fresh process from the server, cross-project use."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import runtrack
from runtrack.errors import ConflictError, PromotionRefusedError
from runtrack.testing.live import LiveServer


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sdk: None) -> Iterator[LiveServer]:
    with LiveServer(tmp_path / "server") as srv:
        monkeypatch.setenv("RUNTRACK_URL", srv.url)
        yield srv


def test_the_whole_registry_story_through_a_server(server: LiveServer, tmp_path: Path) -> None:
    from sklearn.tree import DecisionTreeClassifier

    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_text("x,y\n1,0\n2,1\n")
    with runtrack.init(project="prep") as prep:
        shared = prep.log_artifact(data, name="churn-data", type="dataset", aliases=["gold"])
    assert shared is not None
    x = [[0, 0], [1, 1], [0, 1], [1, 0]] * 5
    y = [0, 1, 1, 0] * 5
    with runtrack.init(project="churn") as train:
        handle = train.use_artifact("prep/churn-data:gold")  # another project's version
        assert (handle.download() / "train.csv").read_text() == "x,y\n1,0\n2,1\n"
        model = DecisionTreeClassifier(random_state=0).fit(x, y)
        train.log({"auc": 0.9})
        runtrack.log_model(model, "churn-model", input_example=x[:2], register="churn")
    api = runtrack.Api()
    api.set_gates("churn", [{"metrics": {"auc": ">= 0.95"}}])
    with pytest.raises(PromotionRefusedError):
        api.set_alias("churn", "production", version=1, reason="not good enough")
    api.set_gates("churn", [])
    api.set_alias("churn", "production", version=1, reason="first model")
    m = api.model("churn@production")
    assert m.run is not None and m.run.id == train.id and m.metrics["auc"] == 0.9
    assert "artifact:prep/churn-data:v0" in {n.id for n in m.lineage.nodes}
    [event] = api.model_history("churn", alias="production")
    assert event.reason == "first model"
    down = api.lineage("prep/churn-data:v0", direction="down")
    assert "artifact:churn/churn-model:v0" in {n.id for n in down.nodes}
    code = (
        "import runtrack\n"
        "m = runtrack.load_model('churn@production')\n"
        "print(m.predict([[0, 0], [1, 1], [0, 1]]).tolist())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "RUNTRACK_DIR": str(tmp_path / "other-machine")},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(model.predict([[0, 0], [1, 1], [0, 1]]).tolist())
    with pytest.raises(ConflictError):
        api.delete_run(train.id)  # it made a registered model version
    with pytest.raises(ConflictError):
        api.delete_artifact("prep/churn-data:v0")  # the alias gold points at it
    api.set_artifact_alias("churn-data", "gold", None, project="prep", reason="retired")
    api.delete_artifact("prep/churn-data:v0")
    assert [e.reason for e in api.artifact_alias_history("churn-data", project="prep")] == [
        None,
        "retired",
    ]
