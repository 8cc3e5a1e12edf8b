"""gc and a team server: the admin route (``POST /maintenance/gc``), ``runtrack gc`` with
``RUNTRACK_URL``, and the server's side of the protocol of ``runtrack.store.gc``: a
version (or a batch holding one) whose blob a concurrent gc round deleted is answered
``missing_blobs`` after it was recorded, and the client uploads the blob again."""

from __future__ import annotations

import functools
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from _support import AppFactory
from runtrack.artifacts.local import LocalArtifactStore
from runtrack.artifacts.manifest import build_manifest
from runtrack.artifacts.rest import RestArtifactStore
from runtrack.cli import cli
from runtrack.client._artifact_log import record_version
from runtrack.client._shipper import send_with_blobs
from runtrack.client._sync import blob_copier
from runtrack.entities import ArtifactOp, ArtifactSpec, OpRecord, RunBatch, RunSpec
from runtrack.server.users import SqlAuthenticator
from runtrack.store.gc import gc_mark
from runtrack.store.rest import RestStore
from runtrack.store.sql.store import SqlStore
from runtrack.testing.live import LiveServer


class CountingRest(RestArtifactStore):
    """Counts the blobs sent (``put``)."""

    puts = 0

    def put(self, source: Any, *, expected_digest: str | None = None) -> Any:
        self.puts += 1
        return super().put(source, expected_digest=expected_digest)


def run_spec(project: str) -> RunSpec:
    return RunSpec(uuid.uuid4().hex[:16], project, "r", "u", "h", time.time())


# -- the admin route -------------------------------------------------------------------
@pytest.fixture
def team(app_factory: AppFactory, server_config: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """root: a server administrator; ana: admin of project "p" only."""
    auth = SqlAuthenticator(server_config.db_url, auto_upgrade=True)
    auth.create_user("root", admin=True)
    auth.create_user("ana")
    heads = {
        name: {"Authorization": f"Bearer {auth.create_token(name, 'test')[1]}"}
        for name in ("root", "ana")
    }
    arts = LocalArtifactStore(tmp_path / "blobs")
    with TestClient(app_factory(auth=True, authenticator=auth, artifacts=arts)) as http:
        yield {"http": http, "arts": arts, **heads}


def test_gc_through_the_admin_route(team: dict[str, Any], tmp_path: Path) -> None:
    http, arts, root, ana = team["http"], team["arts"], team["root"], team["ana"]
    store = RestStore("http://testserver", client=http)  # it asks for msgpack answers
    store.client.headers.update(root)
    root, ana = {**root, "accept": "application/json"}, {**ana, "accept": "application/json"}
    run_id = store.create_run(run_spec("p")).id
    kept = RestArtifactStore(http, "p")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"referenced")
    spec = build_manifest(tmp_path / "d", kept, name="a", type="t")
    store.log_artifact(run_id, spec)
    orphan = arts.put_bytes(b"an upload whose version never came").digest

    body = {"dry_run": True, "grace": 0}
    assert http.post("/api/v1/maintenance/gc", json=body, headers=ana).status_code == 403
    r = http.post("/api/v1/maintenance/gc", json=body, headers=root)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["deleted"] == [orphan] and doc["bytes"] == 34 and doc["dry_run"] is True
    assert doc["kept_referenced"] == 1 and doc["rounds"] == 0 and arts.exists(orphan)

    doc = store.collect_garbage(dry_run=False, grace=0)  # what `runtrack gc` sends
    assert doc["deleted"] == [orphan] and doc["rounds"] == 1 and not arts.exists(orphan)
    assert arts.exists(spec.files[0].digest)
    r = http.post("/api/v1/maintenance/gc", json={"grace": -1}, headers=root)
    assert r.status_code == 400


@pytest.mark.usefixtures("sdk")
def test_runtrack_gc_with_a_server_url_collects_on_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with LiveServer(tmp_path / "server") as server:
        orphan = LocalArtifactStore(server.data_dir / "artifacts").put_bytes(b"orphan").digest
        monkeypatch.setenv("RUNTRACK_URL", server.url)
        runner = CliRunner()
        result = runner.invoke(cli, ["gc", "--grace", "0", "--dry-run", "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["deleted"] == [orphan]
        result = runner.invoke(cli, ["gc", "--grace", "0"])
        assert result.exit_code == 0 and "deleted 1 blobs (6 bytes)" in result.output
        assert not LocalArtifactStore(server.data_dir / "artifacts").exists(orphan)


def test_gc_options_need_each_other(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["gc", "--db", f"sqlite:///{tmp_path / 'x.db'}"])
    assert result.exit_code == 1 and "together" in result.output


# -- the server's side of the protocol -------------------------------------------------
class RoundInTheWindow:
    """A gc round begun (in the server's database) before a version is recorded, that
    deletes one of its blobs just after the commit, then finishes: the worst moment."""

    def __init__(self, server: LiveServer, digest: str, committed: Any) -> None:
        self.db = SqlStore(f"sqlite:///{server.data_dir / 'runtrack.db'}")
        self.blobs = LocalArtifactStore(server.data_dir / "artifacts")
        self.digest = digest
        self.committed = committed
        self.round = self.db.begin_gc_round(60)
        self.thread = threading.Thread(target=self._run)
        self.error: BaseException | None = None
        self.thread.start()

    def _run(self) -> None:
        try:
            deadline = time.monotonic() + 30
            while not self.committed(self.db) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert self.blobs.delete(self.digest)
            self.db.finish_gc_round(self.round)
        except BaseException as exc:  # pragma: no cover - reported by join()
            self.error = exc
            self.db.finish_gc_round(self.round)

    def join(self) -> None:
        self.thread.join(30)
        self.db.close()
        assert self.error is None


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with LiveServer(tmp_path / "server") as live:
        yield live


def test_a_version_whose_blob_gc_deleted_is_completed_by_the_client(
    server: LiveServer, tmp_path: Path
) -> None:
    rest = RestStore(server.url)
    arts = CountingRest(rest.client, "p")
    run_id = rest.create_run(run_spec("p")).id
    source = tmp_path / "model"
    source.mkdir()
    (source / "w.bin").write_bytes(b"weights" * 1000)
    (source / "cfg.json").write_bytes(b"{}")
    since = gc_mark(rest)
    spec = build_manifest(source, arts, name="m", type="model")
    digest = next(f.digest for f in spec.files if f.path == "w.bin")

    def recorded(db: SqlStore) -> bool:
        return bool(db.referenced_among([digest]))

    window = RoundInTheWindow(server, digest, recorded)
    assert arts.puts == 2
    version = record_version(rest, arts, run_id, spec, source, since=since)
    window.join()
    assert version.version == "v0"
    assert arts.puts == 3  # the server answered missing_blobs after the commit: sent again
    assert arts.read_bytes(digest) == b"weights" * 1000  # uploaded again, verified
    rest.close()


def test_a_batch_whose_blob_gc_deleted_is_shipped_again_from_the_spool(
    server: LiveServer, tmp_path: Path
) -> None:
    rest = RestStore(server.url)
    arts = CountingRest(rest.client, "p")
    run_id = rest.create_run(run_spec("p")).id
    spool = LocalArtifactStore(tmp_path / "spool")  # where an offline run kept its blobs
    source = tmp_path / "data"
    source.mkdir()
    (source / "x.bin").write_bytes(b"x" * 5000)
    spec: ArtifactSpec = build_manifest(source, spool, name="d", type="dataset")
    digest = spec.files[0].digest
    batch = RunBatch(run_id, "s1", (OpRecord(1, ArtifactOp(spec)),))

    def recorded(db: SqlStore) -> bool:
        return db.stream_position(run_id, "s1") == 1

    copy = blob_copier(spool, arts)
    copy(batch.records)  # what the shipper does first: the blob is on the server
    window = RoundInTheWindow(server, digest, recorded)
    result = send_with_blobs(
        functools.partial(rest.write, batch), functools.partial(copy, batch.records)
    )
    window.join()
    assert result.position == 1
    assert arts.puts == 2  # copied again from the spool after the server's answer
    assert arts.read_bytes(digest) == b"x" * 5000
    rest.close()
