"""Scale-out: two ``runtrack server`` processes serve one PostgreSQL database and one S3
bucket (moto's server process) at once. Clients split between them see one store: every
point stored once, artifacts uploaded through one server and read through the other,
an upload session begun on one server and finished on the other."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from runtrack.store.rest import RestStore
from runtrack.testing.live import LiveServer

pytestmark = pytest.mark.postgres

CLIENT = textwrap.dedent("""
    import runtrack, sys
    n = int(sys.argv[1])
    run = runtrack.init(project="team", config={"n": n})
    for i in range(n):
        run.log({"i": float(i)}, step=i)
    with open(sys.argv[2], "wb") as fh:
        fh.write(run.id.encode() * 1000)
    version = run.log_artifact(sys.argv[2], name="weights-" + run.id)
    run.finish()
    print(run.id, version.ref if version else None, flush=True)
""")


@pytest.fixture
def two_servers(
    tmp_path: Path, pg_url: str, bucket: str, moto_endpoint: str
) -> Iterator[tuple[LiveServer, LiveServer]]:
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "RUNTRACK_S3_ENDPOINT_URL": moto_endpoint,
    }
    db = pg_url.replace("postgresql+psycopg://", "postgresql://")
    artifacts = f"s3://{bucket}/team"
    a = LiveServer(tmp_path / "a", db=db, artifacts=artifacts, env=env).start()
    try:
        b = LiveServer(tmp_path / "b", db=db, artifacts=artifacts, env=env).start()
        try:
            yield a, b
        finally:
            b.kill()
    finally:
        a.kill()


def _client(tmp_path: Path, url: str, name: str, n: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNTRACK_")}
    env.update(
        RUNTRACK_URL=url,
        RUNTRACK_DIR=str(tmp_path / name),
        RUNTRACK_QUIET="1",
        RUNTRACK_FLUSH_INTERVAL="0.2",
        RUNTRACK_SYSTEM_METRICS_INTERVAL="0",
        RUNTRACK_CAPTURE_PACKAGES="0",
    )
    return subprocess.Popen(
        [sys.executable, "-c", CLIENT, str(n), str(tmp_path / f"{name}.bin")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_servers_one_database_one_bucket(
    two_servers: tuple[LiveServer, LiveServer], tmp_path: Path, s3: Any, bucket: str
) -> None:
    a, b = two_servers
    n = 3000
    procs = [_client(tmp_path, srv.url, f"c{i}", n) for i, srv in enumerate([a, b, a, b])]
    runs = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        run_id, ref = out.split()
        assert ref.startswith("weights-")
        runs.append((run_id, ref))

    for reader in (a, b):  # each server sees every client's run, exactly once
        store = RestStore(reader.url)
        try:
            assert store.count_runs("team") == 4
            for run_id, ref in runs:
                history = store.get_history(run_id, ["i"])["i"]
                assert list(history.step) == list(range(n))
                assert store.get_run(run_id).status == "finished"
                files = store.get_artifact_files("team", ref)
                assert [f.size for f in files] == [len(run_id) * 1000]
        finally:
            store.close()

    # the blobs are in the bucket, under the server's prefix, once each
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    blobs = [k for k in keys if k.startswith("team/sha256/")]
    assert len(blobs) == 4
    # an artifact uploaded through server A (client 0) downloads through server B
    run_id, ref = runs[0]
    with httpx2.Client(base_url=b.url) as http:
        (f,) = http.get(f"/api/v1/projects/team/artifacts/{ref}/files").json()["files"]
        got = http.get(f"/api/v1/projects/team/blobs/{f['digest']}")
        assert got.status_code == 200 and got.content == run_id.encode() * 1000


def test_an_upload_begun_on_one_server_is_finished_on_the_other(
    two_servers: tuple[LiveServer, LiveServer],
) -> None:
    a, b = two_servers
    data = os.urandom(300_000)
    digest = hashlib.sha256(data).hexdigest()
    with httpx2.Client(base_url=a.url) as on_a, httpx2.Client(base_url=b.url) as on_b:
        started = on_a.post(
            "/api/v1/blobs/uploads",
            params={"project": "team"},
            json={"digest": digest, "size": len(data), "presigned": False},
        )
        assert started.status_code in (200, 201), started.text
        session = started.json()
        upload, part_size = session["upload_id"], int(session["part_size"])
        assert session["part_count"] == 1 and part_size >= len(data)
        checksum = base64.b64encode(hashlib.sha256(data).digest()).decode()
        put = on_b.put(
            f"/api/v1/blobs/uploads/{upload}/parts/1",
            content=data,
            headers={
                "content-type": "application/octet-stream",
                "content-digest": f"sha-256=:{checksum}:",
            },
        )
        assert put.status_code < 300, put.text
        assert on_a.get(f"/api/v1/blobs/uploads/{upload}").json()["parts"][0]["n"] == 1
        done = on_a.post(f"/api/v1/blobs/uploads/{upload}/complete")
        assert done.status_code < 300, done.text
        assert done.json()["digest"] == digest
        got = on_b.get(f"/api/v1/projects/team/blobs/{digest}")
        assert got.status_code == 200 and got.content == data
        assert got.headers["x-content-type-options"] == "nosniff"
        assert got.headers["content-disposition"].startswith("attachment")


def test_runs_created_at_once_through_both_servers_are_stored_once(
    two_servers: tuple[LiveServer, LiveServer],
) -> None:
    """Many clients create runs with their records at the same moment, half of them through
    each server (group commits in both, racing on one database); every run is then sent
    again (a retry after a lost answer) through the other server: each record once."""
    import threading
    from array import array

    from runtrack.entities import MetricsRecord, NewRun, OpRecord, RunBatch, RunSpec, StatusOp

    def item(k: int, i: int) -> NewRun:
        rid = f"burst{k:02d}{i:04d}"
        spec = RunSpec(rid, "burst", f"r{i}", "u", "h", 1.7e9, config={"k": k, "i": i})
        recs = (
            MetricsRecord(1, 0, 1.7e9, ("auc",), array("d", [i / 100])),
            OpRecord(2, StatusOp("finished", 1.7e9 + 1)),
        )
        return NewRun(spec, RunBatch(rid, "s", recs))

    errors: list[BaseException] = []

    def client(k: int) -> None:
        try:
            servers = two_servers if k % 2 else two_servers[::-1]
            first, second = (RestStore(s.url) for s in servers)
            items = [item(k, i) for i in range(30)]
            for i in range(0, 30, 3):
                assert [r.applied for r in first.create_runs(items[i : i + 3])] == [2] * 3
            assert [r.skipped for r in second.create_runs(items)] == [2] * 30
            first.close()
            second.close()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    store = RestStore(two_servers[0].url)
    assert store.count_runs("burst", "run.status = 'finished' and metrics.auc >= 0") == 240
    assert store.get_run("burst070029").metrics["auc"].count == 1
    store.close()
