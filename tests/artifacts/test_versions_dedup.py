"""Deduplication, measured on every artifact backend with a tracking store: a local
directory, S3 (moto's server process) and a real team server (REST).

Versions are logged as ``run.log_artifact`` logs them (``build_manifest`` into the
artifact store, then ``record_version``). Logging the same 100 MB directory twice stores
it once: the second log returns the same version and the stored bytes do not grow.
Changing one file of the 1,000 stores exactly one new blob and makes version v1.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from runtrack.artifacts.base import ArtifactStore
from runtrack.artifacts.local import LocalArtifactStore
from runtrack.artifacts.manifest import build_manifest
from runtrack.artifacts.rest import RestArtifactStore
from runtrack.artifacts.s3 import S3ArtifactStore
from runtrack.client._artifact_log import record_version
from runtrack.entities import ArtifactVersion, RunSpec
from runtrack.store.base import TrackingStore
from runtrack.store.gc import gc_mark
from runtrack.store.rest import RestStore
from runtrack.store.sql.store import SqlStore
from runtrack.testing.live import LiveServer


@dataclass
class Backend:
    tracking: TrackingStore
    artifacts: ArtifactStore
    stored: Callable[[], dict[str, int]]  # digest -> size of every blob, as stored
    run_id: str = ""

    def log(self, path: Path, name: str) -> ArtifactVersion:
        since = gc_mark(self.tracking)
        spec = build_manifest(path, self.artifacts, name=name, type="dataset")
        return record_version(self.tracking, self.artifacts, self.run_id, spec, path, since=since)


def _directory_sizes(root: Path) -> dict[str, int]:
    blobs = root / "sha256"
    return {p.name: p.stat().st_size for p in blobs.rglob("*") if p.is_file()}


@pytest.fixture(params=["local", "s3", "rest"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "local":
        store = SqlStore(f"sqlite:///{tmp_path / 'rt.db'}", auto_upgrade=True)
        arts: ArtifactStore = LocalArtifactStore(tmp_path / "blobs")
        made = Backend(store, arts, lambda: _directory_sizes(tmp_path / "blobs"))
    elif request.param == "s3":
        s3, bucket = request.getfixturevalue("s3"), request.getfixturevalue("bucket")
        store = SqlStore(f"sqlite:///{tmp_path / 'rt.db'}", auto_upgrade=True)

        def listed() -> dict[str, int]:
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="d/sha256/")
            return {o["Key"].rsplit("/", 1)[1]: o["Size"] for p in pages for o in p["Contents"]}

        made = Backend(store, S3ArtifactStore(bucket, "d", client=s3), listed)
    else:
        server = LiveServer(tmp_path / "server").start()
        request.addfinalizer(server.kill)
        rest = RestStore(server.url)
        request.addfinalizer(rest.close)
        arts = RestArtifactStore(rest.client, "dedup")
        made = Backend(rest, arts, lambda: _directory_sizes(server.data_dir / "artifacts"))
    spec = RunSpec(uuid.uuid4().hex[:16], "dedup", "r", "u", "h", time.time())
    made.run_id = made.tracking.create_run(spec).id
    yield made
    made.tracking.close()


def make_tree(root: Path, files: int, size: int, seed: int) -> Path:
    """``files`` files of ``size`` incompressible, deterministic bytes, 100 per directory."""
    rng = random.Random(seed)
    for i in range(files):
        sub = root / f"shard{i // 100:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"part-{i:04d}.bin").write_bytes(rng.randbytes(size))
    return root


@pytest.fixture(scope="module")
def hundred_mb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """100 MB: 100 files of 1 MB (made once per module)."""
    return make_tree(tmp_path_factory.mktemp("big"), 100, 1_000_000, seed=7)


def test_the_same_100_mb_directory_is_stored_once(backend: Backend, hundred_mb: Path) -> None:
    first = backend.log(hundred_mb, "data")
    stored = backend.stored()
    assert first.version == "v0" and first.size == 100_000_000
    assert len(stored) == 100 and sum(stored.values()) == 100_000_000

    again = backend.log(hundred_mb, "data")
    assert (again.version, again.digest) == ("v0", first.digest)  # the same version
    assert backend.stored() == stored  # not a byte more


def test_one_changed_file_of_1000_is_one_new_blob_and_version_v1(
    backend: Backend, tmp_path: Path
) -> None:
    root = make_tree(tmp_path / "many", 1000, 1000, seed=9)
    first = backend.log(root, "many")
    stored = backend.stored()
    assert first.version == "v0" and first.file_count == 1000 and len(stored) == 1000

    changed = root / "shard03" / "part-0345.bin"
    changed.write_bytes(random.Random(10).randbytes(1000))
    newer = backend.log(root, "many")
    after = backend.stored()
    files = backend.tracking.get_artifact_files("dedup", newer.ref)
    (entry,) = [f for f in files if f.path == "shard03/part-0345.bin"]
    assert newer.version == "v1" and newer.digest != first.digest
    assert set(after) - set(stored) == {entry.digest}  # exactly one new blob
    assert sum(after.values()) == sum(stored.values()) + 1000
