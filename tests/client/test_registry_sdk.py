"""The SDK side of artifacts, lineage and the registry, on the embedded store: inputs and
the shared verified cache, reference artifacts (file:// and a real S3 server), models
logged and loaded in a fresh process, the registry through ``runtrack.Api``."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import runtrack
from runtrack.errors import (
    ArtifactNotFoundError,
    IntegrityError,
    ModelNotFoundError,
    PromotionRefusedError,
    RunFinishedError,
    ValidationError,
)

pytestmark = pytest.mark.usefixtures("sdk")


def _files(root: Path, n: int = 3) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / f"part-{i}.csv").write_text(f"id,value\n{i},{i * i}\n")
    return root


def test_use_artifact_records_the_edge_and_downloads_verified(tmp_path: Path) -> None:
    data = _files(tmp_path / "data")
    with runtrack.init(project="churn") as producer:
        v = producer.log_artifact(data, name="churn-data", type="dataset", aliases=["gold"])
    assert v is not None and (v.version, set(v.aliases)) == ("v0", {"latest", "gold"})
    with runtrack.init(project="churn") as consumer:
        handle = consumer.use_artifact("churn-data:gold", type="dataset")
        path = handle.download()
        assert sorted(os.listdir(path)) == ["part-0.csv", "part-1.csv", "part-2.csv"]
        assert (path / "part-1.csv").read_text() == "id,value\n1,1\n"
        assert handle.download() == path  # shared cache, keyed by content
        with pytest.raises(ValidationError, match="type 'dataset'"):
            consumer.use_artifact("churn-data:v0", type="model")
        with pytest.raises(ArtifactNotFoundError):
            consumer.use_artifact("churn-data:v9")
    used = runtrack.Api().run(consumer.id).used
    assert [u.ref for u in used] == ["churn-data:v0"]
    # a file edited in the cache is noticed and mended, never served as it is
    (path / "part-1.csv").write_text("tampered")
    with runtrack.init(project="churn") as again:
        again_path = again.use_artifact("churn-data:latest").download()
    assert again_path == path and (path / "part-1.csv").read_text() == "id,value\n1,1\n"
    copy = runtrack.Api().artifact_handle("churn-data:v0").download(tmp_path / "copy")
    assert (copy / "part-2.csv").read_text() == "id,value\n2,4\n"
    with pytest.raises(RunFinishedError):
        again.use_artifact("churn-data:v0")


def test_a_corrupt_blob_is_refused_on_download(tmp_path: Path) -> None:
    data = _files(tmp_path / "data", 1)
    with runtrack.init(project="churn") as run:
        v = run.log_artifact(data / "part-0.csv", name="one")
    assert v is not None
    digest = runtrack.Api().artifact_files("one:v0")[0].digest
    blob = next((Path(os.environ["RUNTRACK_DIR"]) / "artifacts").rglob(digest))
    os.chmod(blob, 0o644)
    blob.write_bytes(b"not what was logged")
    with pytest.raises(IntegrityError):
        runtrack.Api().artifact_handle("one:v0").download()


def test_reference_artifacts_are_hashed_by_the_client_and_checked_on_use(tmp_path: Path) -> None:
    target = tmp_path / "external.bin"
    target.write_bytes(b"external content")
    uri = f"file://{target}"
    with runtrack.init(project="refs") as run:
        v = run.log_artifact(uri, name="ext")
        again = run.log_artifact(uri, name="ext")
    assert v is not None and again is not None and again.version == v.version == "v0"
    [entry] = runtrack.Api().artifact_files("ext:v0", project="refs")
    assert entry.ref == uri and entry.digest == hashlib.sha256(b"external content").hexdigest()
    assert not list((Path(os.environ["RUNTRACK_DIR"]) / "artifacts").rglob(entry.digest))
    with runtrack.init(project="refs") as run:
        path = run.use_artifact("ext:v0").download()
    assert (path / "external.bin").read_bytes() == b"external content"
    target.write_bytes(b"changed behind our back")
    # the verified copy in the cache is still served; a machine without it finds out
    assert runtrack.Api().artifact_handle("ext:v0", project="refs").download() == path
    shutil.rmtree(Path(os.environ["RUNTRACK_DIR"]) / "cache" / "artifacts")
    with pytest.raises(IntegrityError, match="changed since it was recorded"):
        runtrack.Api().artifact_handle("ext:v0", project="refs").download(tmp_path / "x")
    with runtrack.init(project="refs") as run, pytest.raises(ValidationError):
        run.log_artifact("ftp://example.com/x", name="bad")


def test_reference_artifacts_on_s3(
    tmp_path: Path, s3: Any, bucket: str, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)
    for var, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):  # fmt: skip
        monkeypatch.setenv(var, value)
    for i in range(3):
        s3.put_object(Bucket=bucket, Key=f"images/{i}.png", Body=f"png-{i}".encode())
    with runtrack.init(project="refs") as run:
        v = run.log_artifact(f"s3://{bucket}/images/", name="images", type="dataset")
    assert v is not None and v.file_count == 3
    files = runtrack.Api().artifact_files("images:v0", project="refs")
    assert [f.path for f in files] == ["0.png", "1.png", "2.png"]
    assert all(f.ref and f.ref.startswith(f"s3://{bucket}/images/") and f.etag for f in files)
    path = runtrack.Api().artifact_handle("images:latest", project="refs").download()
    assert (path / "2.png").read_bytes() == b"png-2"
    s3.put_object(Bucket=bucket, Key="images/3.png", Body=b"png-3")
    with runtrack.init(project="refs") as run:
        v1 = run.log_artifact(f"s3://{bucket}/images/", name="images", type="dataset")
    assert v1 is not None and (v1.version, v1.file_count) == ("v1", 4)


def _trained_model() -> tuple[Any, Any]:
    from sklearn.linear_model import LogisticRegression

    rng = __import__("numpy").random.default_rng(0)
    x = rng.random((80, 4))
    y = (x[:, 0] + x[:, 1] > 1).astype(int)
    return LogisticRegression().fit(x, y), x


def test_log_register_promote_and_load_in_a_fresh_process(tmp_path: Path) -> None:
    data = _files(tmp_path / "data")
    with runtrack.init(project="churn") as prep:
        prep.use_dataset(data)
        prep.log_artifact(data, name="churn-data", type="dataset")
    versions = []
    for auc in (0.81, 0.87):
        with runtrack.init(project="churn", config={"C": auc}) as run:
            run.use_artifact("churn-data:latest")
            model, x = _trained_model()
            run.log({"auc": auc})
            run.set_tags({"reviewed": "yes"} if auc > 0.85 else {})
            logged = runtrack.log_model(model, "churn-model", input_example=x[:3])
            assert logged is not None and logged.type == "model"
            versions.append(runtrack.register_model("churn-model:latest", "churn"))
    assert [v.version for v in versions] == [1, 2]
    by_run = runtrack.register_model(f"run:{run.id}", "churn")  # the run's model artifact
    assert by_run.version == 2
    api = runtrack.Api()
    api.set_gates("churn", [{"aliases": ["production"], "metrics": {"auc": ">= 0.85"}}])
    with pytest.raises(PromotionRefusedError, match=r"auc = 0\.81"):
        api.set_alias("churn", "production", version=1, reason="try the first")
    assert api.model_history("churn") == []
    before = datetime.now(UTC)
    time.sleep(0.01)
    api.set_alias("churn", "production", version=2, reason="beats v1 on AUC")
    m = api.model("churn@production")
    assert (m.name, m.version, m.alias) == ("churn", 2, "production")
    assert m.run is not None and m.config["C"] == 0.87 and m.metrics["auc"] == 0.87
    labels = {d["label"] for d in m.datasets}
    assert "churn-data:v0" in labels and "data" in labels  # artifact and raw dataset
    assert api.lineage("churn/2").root == api.lineage("churn@production").root == m.lineage.root
    [event] = api.model_history("churn", alias="production")
    assert (event.to_version, event.reason) == (2, "beats v1 on AUC")
    assert api.model_history("churn", alias="production", at=before) is None
    at_now = api.model_history("churn", alias="production", at=datetime.now(UTC))
    assert isinstance(at_now, runtrack.entities.ModelVersion) and at_now.version == 2
    code = (
        "import runtrack, numpy as np\n"
        "m = runtrack.load_model('churn@production')\n"
        "x = np.random.default_rng(0).random((80, 4))\n"
        "print(type(m).__name__, m.predict(x[:5]).tolist())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, timeout=120
    )
    model, x = _trained_model()
    assert out.returncode == 0, out.stderr
    assert out.stdout.split(" ", 1) == ["LogisticRegression", f"{model.predict(x[:5]).tolist()}\n"]
    assert (
        runtrack.load_model("churn-model:v0").predict(x[:5]).tolist()
        == model.predict(x[:5]).tolist()
    )
    with pytest.raises(ModelNotFoundError):
        runtrack.load_model("churn@staging")
    with pytest.raises(ValidationError, match="not a model"):
        runtrack.load_model("churn-data:v0")


def test_lineage_from_the_api_finds_the_project(tmp_path: Path) -> None:
    data = _files(tmp_path / "data")
    with runtrack.init(project="vision") as prep:
        prep.log_artifact(data, name="images", type="dataset")
    with runtrack.init(project="vision") as train:
        train.use_artifact("images:v0")
        train.log_artifact(data / "part-0.csv", name="weights", type="model")
    api = runtrack.Api()  # default project is "default": the artifact is found in vision
    down = api.lineage("images:v0", direction="down")
    assert {n.id for n in down.nodes} == {
        "artifact:vision/images:v0",
        f"run:{train.id}",
        "artifact:vision/weights:v0",
    }
    up = api.lineage(train.id, direction="up")
    assert {n.kind for n in up.nodes} == {"run", "artifact"}
    with pytest.raises(ValidationError):
        api.lineage("images:v0", direction="left")


def test_log_model_needs_a_run() -> None:
    model, _ = _trained_model()
    with pytest.raises(runtrack.errors.NoActiveRunError):
        runtrack.log_model(model, "m")
