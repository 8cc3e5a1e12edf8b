"""Artifacts of runs that log to a team server, end to end with a real server process:
blobs go to the server (not the client's disk), a server that is away never loses an
artifact, offline runs ship theirs with ``runtrack sync``, and a client killed in the
middle of an upload leaves nothing visible."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

import runtrack
from runtrack.artifacts.local import LocalArtifactStore
from runtrack.cli import cli
from runtrack.client._state import STATE
from runtrack.errors import ArtifactNotFoundError
from runtrack.testing.live import LiveServer, TcpProxy


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with LiveServer(tmp_path / "server") as live:
        yield live


def server_blobs(server: LiveServer) -> LocalArtifactStore:
    return LocalArtifactStore(server.data_dir / "artifacts")


def client_blobs(tmp_path: Path) -> set[str]:
    root = tmp_path / "rt" / "artifacts"
    return set(LocalArtifactStore(root).iter_digests()) if root.exists() else set()


def make_file(path: Path, size: int, seed: int = 0) -> str:
    block = hashlib.sha256(str(seed).encode()).digest() * 4096  # 128 KiB
    with path.open("wb") as fh:
        left = size
        while left:
            fh.write(block[: min(left, len(block))])
            left -= min(left, len(block))
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.usefixtures("sdk")
def test_a_run_on_a_server_stores_its_artifacts_there(
    server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNTRACK_URL", server.url)
    model = tmp_path / "model.bin"
    digest = make_file(model, 3_000_000)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("alpha")
    (tmp_path / "data" / "b.txt").write_text("beta")
    with runtrack.init(project="arts") as run:
        v = run.log_artifact(model, name="model", aliases=["best"])
        d = run.log_artifact(tmp_path / "data", name="data")
        assert v is not None and d is not None
        assert v.ref == "model:v0" and "best" in v.aliases
        again = run.log_artifact(model, name="model")  # same content: the same version
        assert again is not None and again.version == "v0"
    assert server_blobs(server).exists(digest)
    assert client_blobs(tmp_path) == set(), "blobs of an online run stay off the client's disk"

    api = runtrack.Api()
    out = api.download_artifact("model:best", tmp_path / "out", project="arts")
    assert hashlib.sha256((out / "model.bin").read_bytes()).hexdigest() == digest
    out = api.download_artifact("data:v0", tmp_path / "out2", project="arts")
    assert (out / "a.txt").read_text() == "alpha" and (out / "b.txt").read_text() == "beta"
    with pytest.raises(ArtifactNotFoundError):
        api.artifact("model:v1", project="arts")


@pytest.mark.usefixtures("sdk")
def test_an_artifact_logged_while_the_server_is_away_arrives_when_it_is_back(
    server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = TcpProxy(server.port)
    try:
        monkeypatch.setenv("RUNTRACK_URL", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.setenv("RUNTRACK_FLUSH_INTERVAL", "0.2")
        model = tmp_path / "model.bin"
        digest = make_file(model, 1_500_000, seed=1)
        run = runtrack.init(project="away")
        run.log({"loss": 1.0})
        proxy.cut("refuse")
        assert run.log_artifact(model, name="model") is None  # kept, to be recorded later
        run.log({"loss": 0.5})
        assert not server_blobs(server).exists(digest)
        proxy.restore()
        run.finish()
    finally:
        proxy.close()
    assert server_blobs(server).exists(digest)
    monkeypatch.setenv("RUNTRACK_URL", server.url)
    for store in STATE.stores.values():
        store.close()
    STATE.stores.clear()
    STATE.artifact_stores.clear()
    api = runtrack.Api()
    version = api.artifact("model:v0", project="away")
    assert version.created_by == run.id
    assert [f.digest for f in api.artifact_files("model:v0", project="away")] == [digest]
    (summary,) = [r.metrics["loss"] for r in api.runs("away")]
    assert (summary.last, summary.count) == (0.5, 2)


@pytest.mark.usefixtures("sdk")
def test_sync_uploads_the_artifacts_of_an_offline_run_once(
    server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    monkeypatch.setenv("RUNTRACK_URL", server.url)
    monkeypatch.setenv("RUNTRACK_MODE", "offline")
    model = tmp_path / "model.bin"
    digest = make_file(model, 700_000, seed=2)
    with runtrack.init(project="offline") as run:
        assert run.log_artifact(model, name="model") is None
    assert not server_blobs(server).exists(digest)

    monkeypatch.setenv("RUNTRACK_MODE", "online")
    for _ in range(2):  # a second sync finds nothing left to send
        result = CliRunner().invoke(cli, ["sync", "--json"])
        assert result.exit_code == 0, result.output
    assert server_blobs(server).exists(digest)
    api = runtrack.Api()
    files = api.artifact_files("model:v0", project="offline")
    assert [f.digest for f in files] == [digest]
    assert api.artifact("model:v0", project="offline").created_by == run.id
    with pytest.raises(ArtifactNotFoundError):
        api.artifact("model:v1", project="offline")


KILLED_UPLOADER = textwrap.dedent("""
    import sys, time, runtrack
    from runtrack.artifacts.rest import RestArtifactStore

    sent = []
    put_part = RestArtifactStore._put_part

    def stall_after_one(self, *args, **kwargs):
        put_part(self, *args, **kwargs)
        sent.append(1)
        print("part sent", flush=True)
        time.sleep(600)  # the test kills the process here

    if sys.argv[2] == "stall":
        RestArtifactStore._put_part = stall_after_one
    run = runtrack.init(project="kill")
    print(run.log_artifact(sys.argv[1], name="big").ref, flush=True)
    run.finish()
""")


def test_a_client_killed_mid_upload_leaves_no_partial_artifact(
    server: LiveServer, tmp_path: Path
) -> None:
    big = tmp_path / "big.bin"
    size = (64 << 20) + 3_000_000  # two parts of the server's 64 MiB
    digest = make_file(big, size, seed=3)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNTRACK_")}
    env.update(
        RUNTRACK_URL=server.url,
        RUNTRACK_DIR=str(tmp_path / "client"),
        RUNTRACK_QUIET="1",
        RUNTRACK_SYSTEM_METRICS_INTERVAL="0",
        RUNTRACK_CAPTURE_PACKAGES="0",
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_UPLOADER, str(big), "stall"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    try:
        line = proc.stdout.readline().strip()
        assert line == "part sent", proc.stderr.read() if proc.stderr else ""
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)  # reaps it and closes the pipes

    # what the server holds: one part in an upload session, which is no blob
    parts = list((server.data_dir / "artifacts").rglob("part-*"))
    assert parts, "the server should hold the part that arrived"
    assert not server_blobs(server).exists(digest)
    assert digest not in set(server_blobs(server).iter_digests())
    with httpx2.Client(base_url=server.url) as http:
        r = http.get(f"/api/v1/projects/kill/blobs/{digest}")
        assert r.status_code == 404, r.text
        r = http.get("/api/v1/projects/kill/artifacts/big:v0")
        assert r.status_code == 404, "a version of a blob that never completed"

    # the next put of the same content resumes the session: only the missing part is sent
    done = subprocess.run(
        [sys.executable, "-c", KILLED_UPLOADER, str(big), "go"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("big:v0")
    assert server_blobs(server).exists(digest)
    with server_blobs(server).open(digest) as fh:
        h = hashlib.sha256()
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    assert h.hexdigest() == digest
    deadline = time.monotonic() + 10
    while list((server.data_dir / "artifacts").rglob("part-*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not list((server.data_dir / "artifacts").rglob("part-*")), "parts left behind"


@pytest.mark.usefixtures("sdk")
def test_a_batch_cannot_adopt_a_blob_of_another_project(
    server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Knowing a digest gives no access: a version recorded through the batch route must
    reference blobs its own project holds, as through the artifact route."""
    from runtrack.entities import ArtifactFile, ArtifactOp, ArtifactSpec, OpRecord, RunBatch
    from runtrack.errors import ValidationError
    from runtrack.store.rest import RestStore

    monkeypatch.setenv("RUNTRACK_URL", server.url)
    secret = tmp_path / "secret.bin"
    digest = make_file(secret, 10_000, seed=4)
    with runtrack.init(project="owner") as run:
        assert run.log_artifact(secret, name="secret") is not None
    with runtrack.init(project="thief") as thief:
        thief_id = thief.id
    spec = ArtifactSpec(
        name="stolen",
        type="file",
        files=(ArtifactFile("secret.bin", digest, 10_000),),
        digest="0" * 64,
    )
    store = RestStore(server.url)
    try:
        with pytest.raises(ValidationError, match="not uploaded to project 'thief'") as info:
            store.write(RunBatch(thief_id, "s1", (OpRecord(1, ArtifactOp(spec)),)))
        assert info.value.code == "missing_blobs"
    finally:
        store.close()
    with httpx2.Client(base_url=server.url) as http:
        assert http.get(f"/api/v1/projects/thief/blobs/{digest}").status_code == 404
        assert http.get("/api/v1/projects/thief/artifacts/stolen:v0").status_code == 404
        assert http.get(f"/api/v1/projects/owner/blobs/{digest}").status_code == 200
