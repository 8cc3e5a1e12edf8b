"""RestArtifactStore -> the real server (in process) -> a local or an S3 (moto) store:
the ArtifactStore contract over the wire, then the S3-only paths of the routes.

How the contract's put-then-open is honest here: the server lets a project read the
blobs it uploaded itself (a *claim* recorded when its upload session completes) as well
as the blobs its versions reference. The store under test is the plain client; nothing
records versions behind its back.
"""

from __future__ import annotations

import gc
import hashlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import httpx2
import pytest
from fastapi.testclient import TestClient

from _support import AppFactory, empty_bucket
from runtrack.artifacts.base import ArtifactStore
from runtrack.artifacts.local import LocalArtifactStore
from runtrack.artifacts.rest import RestArtifactStore
from runtrack.artifacts.s3 import S3ArtifactStore
from runtrack.errors import ArtifactNotFoundError, IntegrityError, ValidationError
from runtrack.server.limits import Limits
from runtrack.testing.artifact_contract import ArtifactStoreContract, GeneratedSource, sha256

PROJECT = "proj"
MIB = 1 << 20
_BACKENDS: dict[int, ArtifactStore] = {}  # id(rest store) -> the store behind its server


@pytest.fixture
def s3_store(s3: Any) -> Iterator[S3ArtifactStore]:
    bucket = f"rt-{uuid.uuid4().hex[:20]}"
    s3.create_bucket(Bucket=bucket)
    yield S3ArtifactStore(bucket, "srv", client=s3)
    empty_bucket(s3, bucket)


@pytest.fixture
def direct() -> Iterator[httpx2.Client]:
    with httpx2.Client(timeout=30) as client:
        yield client


def _collect_after_part(response: httpx2.Response) -> None:
    if response.request.method == "PUT":
        gc.collect()


def _serve(
    app_factory: AppFactory, backend: ArtifactStore, direct: httpx2.Client | None, part_mib: int
) -> Iterator[RestArtifactStore]:
    limits = replace(Limits(), part_bytes=part_mib * MIB)
    with TestClient(app_factory(artifacts=backend, limits=limits)) as client:
        # TestClient reads each request body into its httpx Request, and the Requests of
        # the last parts sit in reference cycles until the collector runs (a real
        # transport streams the body and keeps none): collect after each answer, so the
        # memory the contract measures is the store's, not the test transport's
        client.event_hooks["response"] = [_collect_after_part]
        # moto, unlike S3, answers some concurrent requests with 500/503: retry those as a
        # real client does (S3 asks for it); a local store gets no retries, so its
        # failures show
        retries = 0 if isinstance(backend, LocalArtifactStore) else 3
        store = RestArtifactStore(client, PROJECT, direct=direct, retries=retries, backoff=0.05)
        _BACKENDS[id(store)] = backend
        yield store
        del _BACKENDS[id(store)]


class _OverServer(ArtifactStoreContract):
    def corrupt_blob(self, store: ArtifactStore, digest: str, data: bytes) -> None:
        backend = _BACKENDS[id(store)]
        if isinstance(backend, S3ArtifactStore):
            key = f"srv/sha256/{digest[:2]}/{digest[2:4]}/{digest}"
            backend.client.put_object(Bucket=backend.bucket, Key=key, Body=data)
            return
        assert isinstance(backend, LocalArtifactStore)
        path = backend.root / "sha256" / digest[:2] / digest[2:4] / digest
        path.chmod(0o644)
        path.write_bytes(data)


# The in-process transport (TestClient) reads each request body whole: the memory a put
# peaks at includes a part or two, whatever the store does (see _serve). The store itself
# streams (see test_s3.py for a real HTTP transport to S3).
class TestRestOverLocalStore(_OverServer):
    # 2 MiB parts keep a 50 MB put below the contract's 16 MiB bound
    @pytest.fixture
    def artifact_store(
        self, app_factory: AppFactory, tmp_path: Path
    ) -> Iterator[RestArtifactStore]:
        yield from _serve(app_factory, LocalArtifactStore(tmp_path / "blobs"), None, 2)


class TestRestOverS3InParts(_OverServer):
    # S3 parts are at least 5 MiB, so a few of them are more than 16 MiB (still far
    # below the 50 MB blob: nothing holds it whole)
    max_stream_memory: ClassVar[int] = 32 * MIB

    @pytest.fixture
    def artifact_store(
        self, app_factory: AppFactory, s3_store: S3ArtifactStore
    ) -> Iterator[RestArtifactStore]:
        yield from _serve(app_factory, s3_store, None, 5)


class TestRestOverS3Presigned(_OverServer):
    @pytest.fixture
    def artifact_store(
        self, app_factory: AppFactory, s3_store: S3ArtifactStore, direct: httpx2.Client
    ) -> Iterator[RestArtifactStore]:
        yield from _serve(app_factory, s3_store, direct, 5)


# -- the S3 paths of the routes --------------------------------------------------------
@pytest.fixture
def c(app_factory: AppFactory, s3_store: S3ArtifactStore) -> Iterator[TestClient]:
    limits = replace(Limits(), part_bytes=5 * MIB)
    with TestClient(app_factory(artifacts=s3_store, limits=limits)) as client:
        yield client


def _start(c: TestClient, data: bytes, **more: Any) -> httpx2.Response:
    body = {"digest": sha256(data), "size": len(data), **more}
    return c.post("/api/v1/blobs/uploads", params={"project": PROJECT}, json=body)


def _keys(store: S3ArtifactStore) -> list[str]:
    listing = store.client.list_objects_v2(Bucket=store.bucket)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def _blob_keys(store: S3ArtifactStore) -> list[str]:
    return [k for k in _keys(store) if "/sha256/" in k]


def test_presigned_upload_is_verified_before_it_becomes_a_blob(
    c: TestClient, s3_store: S3ArtifactStore, direct: httpx2.Client
) -> None:
    data = b"straight to the bucket"
    start = _start(c, data, presigned=True)
    assert start.status_code == 201, start.text
    target = start.json()["presigned"]
    assert target["url"].startswith(str(s3_store.client.meta.endpoint_url))
    direct.put(target["url"], content=data, headers=target["headers"]).raise_for_status()
    assert _blob_keys(s3_store) == []  # staged under tmp/, not a blob
    upload_id = start.json()["upload_id"]
    done = c.post(f"/api/v1/blobs/uploads/{upload_id}/complete")
    assert done.json() == {"digest": sha256(data), "size": len(data), "created": True}
    assert s3_store.read_bytes(sha256(data)) == data
    assert [k for k in _keys(s3_store) if "/tmp/" in k] == []


def test_presigned_upload_of_other_bytes_is_refused(
    c: TestClient, s3_store: S3ArtifactStore, direct: httpx2.Client
) -> None:
    data = b"what was declared"
    start = _start(c, data, presigned=True).json()
    evil = b"what was sent!!!!"
    assert len(evil) == len(data)
    direct.put(start["presigned"]["url"], content=evil, headers=start["presigned"]["headers"])
    done = c.post(f"/api/v1/blobs/uploads/{start['upload_id']}/complete")
    assert done.status_code == 400 and done.json()["error"]["code"] == "integrity"
    assert _blob_keys(s3_store) == []
    assert [k for k in _keys(s3_store) if "/tmp/" in k] == []
    assert c.get(f"/api/v1/blobs/uploads/{start['upload_id']}").status_code == 404


def test_completing_a_presigned_upload_before_sending_is_incomplete(c: TestClient) -> None:
    start = _start(c, b"not sent yet", presigned=True).json()
    done = c.post(f"/api/v1/blobs/uploads/{start['upload_id']}/complete")
    assert done.status_code == 400 and done.json()["error"]["code"] == "upload_incomplete"
    status = c.get(f"/api/v1/blobs/uploads/{start['upload_id']}").json()
    assert status["presigned"]["url"]  # a fresh URL to try again with
    put = c.put(
        f"/api/v1/blobs/uploads/{start['upload_id']}/parts/1",
        content=b"x",
        headers={"content-type": "application/octet-stream"},
    )
    assert put.status_code == 400


def test_a_presigned_upload_whose_bytes_never_arrived_is_sent_again(
    c: TestClient, direct: httpx2.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the object store lost the first PUT (or a concurrent put of the same content
    # took the staged bytes): complete answers upload_incomplete, and the client sends
    # them again to the session's fresh presigned URL, not as parts of a session that
    # has none
    store = RestArtifactStore(c, PROJECT, direct=direct, retries=0)
    real = RestArtifactStore._put_direct
    sent: list[int] = []

    def lost_first(self: RestArtifactStore, spool: Any, size: int, target: Any) -> None:
        sent.append(size)
        if len(sent) > 1:
            real(self, spool, size, target)

    monkeypatch.setattr(RestArtifactStore, "_put_direct", lost_first)
    info = store.put_bytes(b"sent twice")
    assert info.created and sent == [10, 10]
    assert store.read_bytes(info.digest) == b"sent twice"


def test_parts_go_to_an_s3_multipart_upload_and_resume(
    c: TestClient, s3_store: S3ArtifactStore
) -> None:
    source = GeneratedSource(12, seed=2)  # 12 MiB: parts of 5, 5 and 2 MiB
    data = b"".join(iter(lambda: source.read(MIB), b""))
    start = _start(c, data)
    assert start.status_code == 201
    session = start.json()
    assert (session["part_size"], session["part_count"]) == (5 * MIB, 3)
    upload_id = session["upload_id"]

    def send(n: int) -> None:
        part = data[(n - 1) * 5 * MIB : n * 5 * MIB]
        r = c.put(
            f"/api/v1/blobs/uploads/{upload_id}/parts/{n}",
            content=part,
            headers={"content-type": "application/octet-stream"},
        )
        assert r.status_code == 200, r.text

    send(3)
    send(1)
    # the client "crashes"; a new one asks for the same blob and gets the same session
    resumed = _start(c, data)
    assert resumed.status_code == 200
    assert resumed.json()["upload_id"] == upload_id
    assert resumed.json()["parts"] == [{"n": 1, "size": 5 * MIB}, {"n": 3, "size": 2 * MIB}]
    early = c.post(f"/api/v1/blobs/uploads/{upload_id}/complete")
    assert early.status_code == 400 and "2" in early.json()["error"]["message"]
    send(2)
    done = c.post(f"/api/v1/blobs/uploads/{upload_id}/complete")
    assert done.json() == {"digest": sha256(data), "size": len(data), "created": True}
    assert _blob_keys(s3_store) == [
        f"srv/sha256/{source.digest[:2]}/{source.digest[2:4]}/" + (source.digest)
    ]
    uploads = s3_store.client.list_multipart_uploads(Bucket=s3_store.bucket)
    assert uploads.get("Uploads", []) == []


def test_download_redirects_to_a_presigned_url_when_asked(
    c: TestClient, s3_store: S3ArtifactStore, direct: httpx2.Client
) -> None:
    store = RestArtifactStore(c, PROJECT, direct=direct, retries=0)
    digest = store.put_bytes(b"fetched from the bucket").digest
    r = c.get(
        f"/api/v1/projects/{PROJECT}/blobs/{digest}",
        params={"redirect": "true"},
        follow_redirects=False,
    )
    assert r.status_code == 307
    assert r.headers["cache-control"] == "no-store"
    fetched = direct.get(r.headers["location"])
    assert fetched.content == b"fetched from the bucket"
    assert fetched.headers["content-disposition"] == f'attachment; filename="{digest}"'
    # without ?redirect the server streams it itself
    r = c.get(f"/api/v1/projects/{PROJECT}/blobs/{digest}")
    assert r.status_code == 200 and r.content == b"fetched from the bucket"


def test_rest_store_without_direct_client_never_sees_presigned_urls(c: TestClient) -> None:
    store = RestArtifactStore(c, PROJECT, retries=0)
    info = store.put_bytes(b"through the server")
    assert store.read_bytes(info.digest) == b"through the server"


def test_a_changed_blob_behind_the_server_fails_verification(
    c: TestClient, s3_store: S3ArtifactStore, tmp_path: Path
) -> None:
    store = RestArtifactStore(c, PROJECT, retries=0)
    digest = store.put_bytes(b"original").digest
    key = f"srv/sha256/{digest[:2]}/{digest[2:4]}/{digest}"
    s3_store.client.put_object(Bucket=s3_store.bucket, Key=key, Body=b"modified")
    with pytest.raises(IntegrityError):
        store.get_file(digest, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_s3_expired_sessions_are_cleaned_up(c: TestClient, s3_store: S3ArtifactStore) -> None:
    from runtrack.server._blobs import BucketUploads

    data = b"y" * (6 * MIB)
    upload_id = _start(c, data).json()["upload_id"]
    c.put(
        f"/api/v1/blobs/uploads/{upload_id}/parts/1",
        content=data[: 5 * MIB],
        headers={"content-type": "application/octet-stream"},
    ).raise_for_status()
    area = BucketUploads(s3_store)
    assert area.cleanup() == 0
    assert area.cleanup(now=time.time() + 2 * 86_400) == 1
    assert c.get(f"/api/v1/blobs/uploads/{upload_id}").status_code == 404
    uploads = s3_store.client.list_multipart_uploads(Bucket=s3_store.bucket)
    assert uploads.get("Uploads", []) == []
    assert [k for k in _keys(s3_store) if "/uploads/sessions/" in k] == []


def test_rest_store_errors_are_runtrack_errors(c: TestClient) -> None:
    store = RestArtifactStore(c, PROJECT, retries=0)
    with pytest.raises(ArtifactNotFoundError):
        store.open(sha256(b"never"))
    with pytest.raises(ValidationError):
        RestArtifactStore(c, "")
    assert hashlib.sha256(b"").hexdigest() == store.put_bytes(b"").digest


def test_a_part_whose_session_ends_while_it_arrives_is_upload_not_found(tmp_path: Path) -> None:
    """Concurrent puts of the same content share a session: when one completes it while
    another's part is arriving, that part's session directory is gone. The part must be
    answered "no such upload" (the client asks again and finds the blob), not a 503."""
    import shutil

    from runtrack.server._blobs import DirectoryUploads, UploadNotFoundError

    area = DirectoryUploads(LocalArtifactStore(tmp_path / "blobs"), tmp_path / "uploads")
    data = b"z" * 1000
    session, resumed = area.start(PROJECT, sha256(data), len(data), part_limit=1, direct=False)
    assert not resumed
    spool = area.open_part(session, 1)
    spool.file.write(data[:10])
    shutil.rmtree(area._session_dir(session))  # completed by the other put meanwhile
    with pytest.raises(UploadNotFoundError, match="ended meanwhile"):
        area.keep_part(session, 1, spool)
