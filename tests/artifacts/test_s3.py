"""S3ArtifactStore against a real (moto) S3 over HTTP: the contract, then what only S3 has."""

from __future__ import annotations

import io
import os
import random
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx2
import pytest

from runtrack.artifacts.base import ArtifactStore
from runtrack.artifacts.registry import open_artifact_store
from runtrack.artifacts.s3 import MIN_PART_SIZE, S3ArtifactStore
from runtrack.errors import (
    ArtifactNotFoundError,
    IntegrityError,
    StoreError,
    StoreUnavailableError,
    ValidationError,
)
from runtrack.testing.artifact_contract import ArtifactStoreContract, GeneratedSource, sha256

PREFIX = "team/blobs"


@pytest.fixture
def artifact_store(s3: Any, bucket: str) -> S3ArtifactStore:
    return S3ArtifactStore(bucket, PREFIX, client=s3)


def _keys(s3: Any, bucket: str) -> list[str]:
    listing = s3.list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def _multipart_uploads(s3: Any, bucket: str) -> list[str]:
    return [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def _blob_key(digest: str, prefix: str = PREFIX) -> str:
    return f"{prefix}/sha256/{digest[:2]}/{digest[2:4]}/{digest}"


class TestS3ArtifactStoreContract(ArtifactStoreContract):
    def corrupt_blob(self, store: ArtifactStore, digest: str, data: bytes) -> None:
        assert isinstance(store, S3ArtifactStore)
        store.client.put_object(Bucket=store.bucket, Key=_blob_key(digest), Body=data)


# -- layout and the two put paths ------------------------------------------------------
def test_layout_small_blob_goes_straight_to_its_key(
    artifact_store: S3ArtifactStore, s3: Any, bucket: str
) -> None:
    info = artifact_store.put_bytes(b"layout")
    assert _keys(s3, bucket) == [_blob_key(info.digest)]
    head = s3.head_object(Bucket=bucket, Key=_blob_key(info.digest))
    assert head["ContentType"] == "application/octet-stream"
    assert _multipart_uploads(s3, bucket) == []


def test_large_source_goes_through_a_multipart_temp_object(s3: Any, bucket: str) -> None:
    store = S3ArtifactStore(bucket, PREFIX, client=s3, part_size=MIN_PART_SIZE)
    source = GeneratedSource(12, seed=3)  # 12 MiB: three parts of 5, 5 and 2 MiB
    info = store.put(source)
    assert (info.digest, info.size, info.created) == (source.digest, source.size, True)
    assert _keys(s3, bucket) == [_blob_key(source.digest)]  # the temp object is gone
    assert _multipart_uploads(s3, bucket) == []
    store.verify(source.digest)
    again = store.put(GeneratedSource(12, seed=3))
    assert not again.created
    assert _keys(s3, bucket) == [_blob_key(source.digest)]


def test_source_of_exactly_one_part(s3: Any, bucket: str) -> None:
    store = S3ArtifactStore(bucket, client=s3, part_size=MIN_PART_SIZE)
    data = random.Random(5).randbytes(MIN_PART_SIZE)
    info = store.put_bytes(data)
    assert info.created and store.read_bytes(info.digest) == data
    assert _keys(s3, bucket) == [_blob_key(info.digest, prefix="").lstrip("/")]


def test_large_put_with_wrong_expected_digest_leaves_nothing(s3: Any, bucket: str) -> None:
    store = S3ArtifactStore(bucket, PREFIX, client=s3, part_size=MIN_PART_SIZE)
    with pytest.raises(IntegrityError):
        store.put(GeneratedSource(11, seed=4), expected_digest=sha256(b"other"))
    assert _keys(s3, bucket) == []
    assert _multipart_uploads(s3, bucket) == []


def test_large_put_whose_source_fails_leaves_nothing(s3: Any, bucket: str) -> None:
    store = S3ArtifactStore(bucket, PREFIX, client=s3, part_size=MIN_PART_SIZE)
    inner = GeneratedSource(12, seed=6)

    class FailsLate:
        def read(self, size: int = -1, /) -> bytes:
            if inner._next >= 8:
                raise RuntimeError("disk vanished")
            return inner.read(size)

    with pytest.raises(RuntimeError, match="disk vanished"):
        store.put(FailsLate())
    assert _keys(s3, bucket) == []
    assert _multipart_uploads(s3, bucket) == []


def test_put_of_stored_content_touches_it(artifact_store: S3ArtifactStore) -> None:
    digest = artifact_store.put_bytes(b"touch me").digest
    first = artifact_store.last_put(digest)
    time.sleep(0.05)
    assert not artifact_store.put_bytes(b"touch me").created
    assert artifact_store.last_put(digest) > first
    assert artifact_store.read_bytes(digest) == b"touch me"


def test_last_put_falls_back_to_last_modified(
    artifact_store: S3ArtifactStore, s3: Any, bucket: str
) -> None:
    digest = sha256(b"foreign")
    s3.put_object(Bucket=bucket, Key=_blob_key(digest), Body=b"foreign")  # no metadata
    assert abs(artifact_store.last_put(digest) - time.time()) < 120
    with pytest.raises(ArtifactNotFoundError):
        artifact_store.last_put(sha256(b"missing"))


def test_iter_digests_ignores_stray_keys(
    artifact_store: S3ArtifactStore, s3: Any, bucket: str
) -> None:
    real = artifact_store.put_bytes(b"real").digest
    other = sha256(b"other")
    for key in (
        f"{PREFIX}/sha256/README",
        f"{PREFIX}/sha256/00/00/{other}",  # filed under the wrong fan-out
        f"{PREFIX}/sha256/{real[:2]}/{real[2:4]}/{real.upper()}",
        f"{PREFIX}/sha256/{real[:2]}/{real[2:4]}/{real}/nested",
        f"{PREFIX}/tmp/{'0' * 32}",
        f"elsewhere/sha256/{other[:2]}/{other[2:4]}/{other}",
    ):
        s3.put_object(Bucket=bucket, Key=key, Body=b"")
    assert list(artifact_store.iter_digests()) == [real]


def test_iter_digests_pages_through_many_blobs(s3: Any, bucket: str) -> None:
    store = S3ArtifactStore(bucket, client=s3)
    digests = set()
    for i in range(1100):  # more than one listing page (1000 keys)
        digest = sha256(str(i).encode())
        s3.put_object(Bucket=bucket, Key=f"sha256/{digest[:2]}/{digest[2:4]}/{digest}", Body=b"")
        digests.add(digest)
    listed = list(store.iter_digests())
    assert len(listed) == 1100 and set(listed) == digests


# -- direct transfers ------------------------------------------------------------------
def test_presigned_get(artifact_store: S3ArtifactStore) -> None:
    digest = artifact_store.put_bytes(b"presigned content").digest
    response = httpx2.get(artifact_store.presign_get(digest, expires=60))
    assert response.status_code == 200
    assert response.content == b"presigned content"
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"] == f'attachment; filename="{digest}"'


@pytest.mark.parametrize("expires", [0, -1, 604_801, 1.5, True])
def test_presign_refuses_odd_expiry(artifact_store: S3ArtifactStore, expires: Any) -> None:
    with pytest.raises(ValidationError, match="expires"):
        artifact_store.presign_get(sha256(b"x"), expires=expires)


def test_presigned_put_then_commit(artifact_store: S3ArtifactStore, s3: Any, bucket: str) -> None:
    data = b"uploaded directly to the bucket"
    upload = artifact_store.presign_put(artifact_store.new_token(), expires=60)
    response = httpx2.put(upload.url, content=data, headers=upload.headers)
    assert response.status_code == 200
    assert not artifact_store.exists(sha256(data))  # staged, not a blob yet
    assert list(artifact_store.iter_digests()) == []
    assert artifact_store.stage_size(upload.token) == len(data)
    info = artifact_store.stage_commit(
        upload.token, expected_digest=sha256(data), expected_size=len(data)
    )
    assert info.created and artifact_store.read_bytes(info.digest) == data
    assert _keys(s3, bucket) == [_blob_key(info.digest)]


def test_presigned_put_of_other_bytes_is_refused_and_removed(
    artifact_store: S3ArtifactStore, s3: Any, bucket: str
) -> None:
    upload = artifact_store.presign_put(artifact_store.new_token(), expires=60)
    httpx2.put(upload.url, content=b"evil", headers=upload.headers).raise_for_status()
    with pytest.raises(IntegrityError, match="hashes to"):
        artifact_store.stage_commit(upload.token, expected_digest=sha256(b"good"), expected_size=4)
    assert _keys(s3, bucket) == []
    upload = artifact_store.presign_put(artifact_store.new_token(), expires=60)
    httpx2.put(upload.url, content=b"longer", headers=upload.headers).raise_for_status()
    with pytest.raises(IntegrityError, match="declared"):
        artifact_store.stage_commit(upload.token, expected_digest=sha256(b"good"), expected_size=4)
    assert _keys(s3, bucket) == []
    with pytest.raises(ArtifactNotFoundError):
        artifact_store.stage_commit(
            artifact_store.new_token(), expected_digest=sha256(b"x"), expected_size=1
        )


@pytest.mark.parametrize("token", ["../../x", "A" * 32, "0" * 31, "", "0" * 32 + "/"])
def test_tokens_cannot_name_other_keys(artifact_store: S3ArtifactStore, token: str) -> None:
    with pytest.raises(ValidationError, match="token"):
        artifact_store.presign_put(token)
    with pytest.raises(ValidationError, match="token"):
        artifact_store.stage_commit(token, expected_digest=sha256(b""), expected_size=0)


@pytest.mark.parametrize("name", ["../x", "a/../../b", "/abs", "a//b", "", "a\\b", "a?b"])
def test_record_names_stay_under_uploads(artifact_store: S3ArtifactStore, name: str) -> None:
    with pytest.raises(ValidationError, match="record"):
        artifact_store.put_record(name, b"")


def test_records_round_trip(artifact_store: S3ArtifactStore, s3: Any, bucket: str) -> None:
    artifact_store.put_record("sessions/abc.json", b"{}")
    assert artifact_store.get_record("sessions/abc.json") == b"{}"
    assert artifact_store.has_record("sessions/abc.json")
    assert [n for n, _ in artifact_store.list_records("sessions")] == ["sessions/abc.json"]
    assert _keys(s3, bucket) == [f"{PREFIX}/uploads/sessions/abc.json"]
    artifact_store.delete_record("sessions/abc.json")
    assert artifact_store.get_record("sessions/abc.json") is None
    assert list(artifact_store.iter_digests()) == []


def test_cleanup_temp_removes_what_dead_puts_left(
    artifact_store: S3ArtifactStore, s3: Any, bucket: str
) -> None:
    token = artifact_store.new_token()
    artifact_store.stage_begin(token)
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}/tmp/{artifact_store.new_token()}", Body=b"x")
    keep = artifact_store.put_bytes(b"a blob").digest
    assert artifact_store.cleanup_temp(max_age_s=3600) == 0
    assert artifact_store.cleanup_temp(max_age_s=0) == 2
    assert _keys(s3, bucket) == [_blob_key(keep)]
    assert _multipart_uploads(s3, bucket) == []
    with pytest.raises(ValidationError):
        artifact_store.cleanup_temp(-1)


# -- configuration ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("bucket_name", "prefix"),
    [("UPPER", ""), ("a", ""), ("ok-bucket", "../up"), ("ok-bucket", "a/./b"), ("b..x", "")],
)
def test_bad_bucket_or_prefix(s3: Any, bucket_name: str, prefix: str) -> None:
    with pytest.raises(ValidationError):
        S3ArtifactStore(bucket_name, prefix, client=s3)


def test_part_size_has_s3s_floor(s3: Any) -> None:
    with pytest.raises(ValidationError, match="part_size"):
        S3ArtifactStore("ok-bucket", client=s3, part_size=MIN_PART_SIZE - 1)


def test_registry_opens_s3_urls(
    moto_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNTRACK_S3_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    store = open_artifact_store(f"s3://{bucket}/some/prefix/")
    assert isinstance(store, S3ArtifactStore)
    assert (store.bucket, store.prefix) == (bucket, "some/prefix")
    digest = store.put_bytes(b"via the registry").digest
    assert store.read_bytes(digest) == b"via the registry"
    with pytest.raises(ValidationError, match="scheme"):
        open_artifact_store("gs://bucket")


# -- errors become runtrack errors -----------------------------------------------------
def test_missing_bucket_is_a_store_error(s3: Any) -> None:
    store = S3ArtifactStore("no-such-bucket-here", client=s3)
    with pytest.raises(StoreError, match="bucket does not exist"):
        store.put_bytes(b"x")
    with pytest.raises(StoreError, match="bucket does not exist"):
        store.open(sha256(b"x"))


def test_missing_credentials_are_a_clear_store_error(
    moto_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import boto3

    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    client = boto3.session.Session().client(
        "s3", endpoint_url=moto_endpoint, region_name="us-east-1"
    )
    store = S3ArtifactStore(bucket, client=client)
    with pytest.raises(StoreError, match="no usable credentials") as info:
        store.put_bytes(b"x")
    assert not isinstance(info.value, StoreUnavailableError)


def test_refused_credentials_are_a_clear_store_error(
    moto_server: Callable[..., AbstractContextManager[str]],
    make_s3_client: Callable[..., Any],
) -> None:
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"}  # this moto checks keys
    with moto_server(env) as url:
        store = S3ArtifactStore("some-bucket", client=make_s3_client(url, key="AKIAWRONG"))
        with pytest.raises(StoreError, match="access refused") as info:
            store.put_bytes(b"x")
        assert "credentials" in info.value.message
        assert not isinstance(info.value, StoreUnavailableError)


def test_unreachable_endpoint_is_store_unavailable() -> None:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:9",  # discard port: nothing listens
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    store = S3ArtifactStore("some-bucket", client=client)
    with pytest.raises(StoreUnavailableError, match="cannot reach"):
        store.exists(sha256(b"x"))
    with pytest.raises(StoreUnavailableError):
        store.put(io.BytesIO(b"x"))


def test_a_server_lost_midway_through_a_download(
    moto_server: Callable[..., AbstractContextManager[str]],
    make_s3_client: Callable[..., Any],
    tmp_path: Path,
) -> None:
    """The stream ``open`` returns turns transport failures into ``OSError`` (the
    contract's one exception); ``get_file`` turns that into ``StoreError``."""
    with moto_server() as url:
        client = make_s3_client(url)
        client.create_bucket(Bucket="doomed")
        store = S3ArtifactStore("doomed", client=client)
        source = GeneratedSource(64, seed=9)
        store.put(source)
        stream = store.open(source.digest)
        stream.read(1)
        second = store.open(source.digest)
        second.read(1)
    # the server is gone, with most of the blob unsent
    with stream, pytest.raises(OSError, match="reading from S3 failed"):
        while stream.read(1 << 20):
            pass
    with second, pytest.raises(StoreError):
        from runtrack.artifacts.base import copy_and_hash

        copy_and_hash(second)
    with pytest.raises(StoreUnavailableError):
        store.get_file(source.digest, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# -- a copy onto the blob's key that fails: some S3-compatible services (moto among them)
# answer one of simultaneous copies onto one key with a 5xx, having kept one of them, and
# moto writes a copy whose source is deleted midway, then answers 404 for the source
_COPY_ERRORS = [
    StoreUnavailableError("the object store is unavailable (500); retry later"),
    ArtifactNotFoundError("srv/tmp/0123: no such key"),
]


def _copy_that_fails(monkeypatch: pytest.MonkeyPatch, error: Exception, *, keeps: bool) -> None:
    real = S3ArtifactStore._copy

    def copy(self: S3ArtifactStore, source: str, dest: str) -> None:
        if keeps:
            real(self, source, dest)
        raise error

    monkeypatch.setattr(S3ArtifactStore, "_copy", copy)


@pytest.mark.parametrize("error", _COPY_ERRORS, ids=["5xx", "source-gone"])
def test_a_copy_kept_despite_its_error_reports_the_blob_created(
    s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    store = S3ArtifactStore(bucket, PREFIX, client=s3, part_size=MIN_PART_SIZE)
    source = GeneratedSource(6, seed=11)  # two parts: the path through tmp/ and a copy
    _copy_that_fails(monkeypatch, error, keeps=True)
    info = store.put(source)
    # the blob is new and this put stored it: one put at least must say so (the
    # contract's concurrent puts of one content count on it)
    assert (info.digest, info.created) == (source.digest, True)
    assert _keys(s3, bucket) == [_blob_key(source.digest)]
    store.verify(source.digest)


@pytest.mark.parametrize("error", _COPY_ERRORS, ids=["5xx", "source-gone"])
def test_a_copy_that_fails_and_stores_nothing_raises_and_leaves_nothing(
    s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    store = S3ArtifactStore(bucket, PREFIX, client=s3, part_size=MIN_PART_SIZE)
    _copy_that_fails(monkeypatch, error, keeps=False)
    with pytest.raises(type(error)):
        store.put(GeneratedSource(6, seed=12))
    assert _keys(s3, bucket) == []
    assert _multipart_uploads(s3, bucket) == []
