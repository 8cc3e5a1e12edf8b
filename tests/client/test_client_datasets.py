"""Dataset hashing, its SQLite cache and DVC metadata (runtrack.client.provenance.datasets)."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runtrack.client.provenance import datasets
from runtrack.client.provenance.datasets import CACHE_FILENAME, hash_dataset
from runtrack.errors import ValidationError

OLD = time.time() - 3600  # an mtime old enough to be cached (not "racy")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def expected_dir_digest(files: dict[str, bytes]) -> str:
    """The scheme documented in the module docstring, written out independently."""
    h = hashlib.sha256(b"runtrack-dir-v1\n")
    for rel in sorted(files, key=os.fsencode):
        h.update(os.fsencode(rel) + b"\0" + sha(files[rel]).encode() + b"\n")
    return h.hexdigest()


def write(path: Path, data: bytes, *, mtime: float | None = OLD) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def hash_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every file actually read (cache misses)."""
    calls: list[str] = []
    real = datasets._sha256_file

    def counting(path: str) -> tuple[str, os.stat_result]:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(datasets, "_sha256_file", counting)
    return calls


def test_file(tmp_path: Path, cache_dir: Path) -> None:
    data = os.urandom(3 * (1 << 20) + 17)  # several 1 MiB blocks and a tail
    f = write(tmp_path / "train.csv", data)
    record = hash_dataset(f, cache_dir=cache_dir, name="train")
    assert record.digest == sha(data)
    assert record.size == len(data)
    assert record.file_count == 1
    assert record.kind == "file"
    assert record.name == "train"
    assert record.path == str(f)
    assert record.dvc_md5 is None and record.dvc_source is None


def test_relative_path_is_recorded_absolute(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "data" / "x.csv", b"a\n")
    monkeypatch.chdir(tmp_path)
    record = hash_dataset("data/x.csv", cache_dir=cache_dir)
    assert record.path == str(tmp_path / "data" / "x.csv")
    assert record.name is None


def test_empty_file(tmp_path: Path, cache_dir: Path) -> None:
    record = hash_dataset(write(tmp_path / "e", b""), cache_dir=cache_dir)
    assert record.digest == sha(b"") and record.size == 0


def test_directory_digest_follows_the_documented_scheme(tmp_path: Path, cache_dir: Path) -> None:
    files = {
        "a.csv": b"1,2\n",
        "a-b/x.txt": b"dash sorts before slash",
        "a/x.txt": b"nested",
        "sub/deeper/z.bin": os.urandom(1000),
        "empty": b"",
        "ünïcode.txt": b"utf-8 names",
    }
    root = tmp_path / "data"
    for rel, data in files.items():
        write(root / rel, data)
    (root / "empty-dir").mkdir()
    write(root / ".git" / "HEAD", b"ref: refs/heads/main\n")  # skipped
    write(root / ".dvc" / "config", b"[core]\n")  # skipped
    record = hash_dataset(root, cache_dir=cache_dir)
    assert record.kind == "directory"
    assert record.digest == expected_dir_digest(files)
    assert record.file_count == len(files)
    assert record.size == sum(len(d) for d in files.values())


def test_directory_digest_depends_on_content_and_names_only(
    tmp_path: Path, cache_dir: Path
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for root, mtime in ((a, OLD), (b, OLD - 500)):
        write(root / "x.txt", b"x", mtime=mtime)
        write(root / "d" / "y.txt", b"y", mtime=mtime)
    digest = hash_dataset(a, cache_dir=cache_dir).digest
    assert hash_dataset(b, cache_dir=cache_dir).digest == digest  # location/time independent
    (b / "d" / "y.txt").rename(b / "d" / "z.txt")
    assert hash_dataset(b, cache_dir=cache_dir).digest != digest
    write(a / "x.txt", b"X")
    assert hash_dataset(a, cache_dir=cache_dir).digest != digest


def test_empty_directory(tmp_path: Path, cache_dir: Path) -> None:
    (tmp_path / "empty").mkdir()
    record = hash_dataset(tmp_path / "empty", cache_dir=cache_dir)
    assert record.digest == sha(b"runtrack-dir-v1\n")
    assert record.file_count == 0 and record.size == 0


def test_symlinks_are_followed_and_never_loop(tmp_path: Path, cache_dir: Path) -> None:
    outside = write(tmp_path / "outside.bin", b"linked content")
    root = tmp_path / "data"
    write(root / "real.txt", b"real")
    (root / "link.bin").symlink_to(outside)
    (root / "sub").mkdir()
    (root / "sub" / "loop").symlink_to(root, target_is_directory=True)  # a cycle
    (root / "dangling").symlink_to(tmp_path / "nowhere")
    os.mkfifo(root / "fifo")  # never opened: reading it would block
    record = hash_dataset(root, cache_dir=cache_dir)
    assert record.digest == expected_dir_digest(
        {"real.txt": b"real", "link.bin": b"linked content"}
    )
    assert record.file_count == 2


def test_linked_directory_is_hashed_under_its_link_name(tmp_path: Path, cache_dir: Path) -> None:
    shared = tmp_path / "shared"
    write(shared / "s.txt", b"s")
    root = tmp_path / "data"
    root.mkdir()
    (root / "one").symlink_to(shared, target_is_directory=True)
    (root / "two").symlink_to(shared, target_is_directory=True)
    record = hash_dataset(root, cache_dir=cache_dir)
    assert record.digest == expected_dir_digest({"one/s.txt": b"s", "two/s.txt": b"s"})


def test_missing_path(tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValidationError) as info:
        hash_dataset("x", cache_dir=cache_dir)
    assert str(info.value) == "dataset path 'x' does not exist"


def test_special_file_is_refused(tmp_path: Path, cache_dir: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(ValidationError, match="is not a regular file or directory"):
        hash_dataset(tmp_path / "pipe", cache_dir=cache_dir)


def test_unreadable_file_is_named(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "data"
    write(root / "ok.txt", b"ok")
    secret = write(root / "secret.txt", b"no")
    real_open = open

    def guarded_open(file: str, *args: object, **kwargs: object) -> object:
        if os.fspath(file) == str(secret):
            raise PermissionError(13, "Permission denied")
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(datasets, "open", guarded_open, raising=False)
    with pytest.raises(ValidationError) as info:
        hash_dataset(root, cache_dir=cache_dir)
    assert str(info.value) == f"dataset file {str(secret)!r} cannot be read: Permission denied"


def test_unreadable_directory_is_named(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "data"
    locked = root / "locked"
    write(locked / "x", b"x")
    real_scandir = os.scandir

    def guarded_scandir(path: str) -> object:
        if os.fspath(path) == str(locked):
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", guarded_scandir)
    with pytest.raises(ValidationError) as info:
        hash_dataset(root, cache_dir=cache_dir)
    assert str(info.value) == (
        f"dataset directory {str(locked)!r} cannot be read: Permission denied"
    )


# --------------------------------------------------------------------------------------
# cache
# --------------------------------------------------------------------------------------
def test_unchanged_files_come_from_the_cache(
    tmp_path: Path, cache_dir: Path, hash_calls: list[str]
) -> None:
    root = tmp_path / "data"
    files = {f"part-{i:03}.bin": os.urandom(2000) for i in range(200)}
    for rel, data in files.items():
        write(root / rel, data)
    first = hash_dataset(root, cache_dir=cache_dir)
    assert len(hash_calls) == 200
    assert (cache_dir / CACHE_FILENAME).exists()

    hash_calls.clear()
    second = hash_dataset(root, cache_dir=cache_dir)
    assert hash_calls == []  # no file read again (its speed is benchmarks/' business)
    assert second == first


def test_a_modified_file_is_hashed_again(
    tmp_path: Path, cache_dir: Path, hash_calls: list[str]
) -> None:
    root = tmp_path / "data"
    write(root / "a.txt", b"aaaa")
    write(root / "b.txt", b"bbbb")
    hash_dataset(root, cache_dir=cache_dir)
    hash_calls.clear()

    # Same size, and the old mtime put back: the ctime still tells the change.
    write(root / "a.txt", b"AAAA", mtime=OLD)
    record = hash_dataset(root, cache_dir=cache_dir)
    assert hash_calls == [str(root / "a.txt")]
    assert record.digest == expected_dir_digest({"a.txt": b"AAAA", "b.txt": b"bbbb"})

    hash_calls.clear()
    write(root / "b.txt", b"longer content", mtime=OLD - 10)
    record = hash_dataset(root, cache_dir=cache_dir)
    assert hash_calls == [str(root / "b.txt")]
    assert record.digest == expected_dir_digest({"a.txt": b"AAAA", "b.txt": b"longer content"})
    assert record.size == 4 + 14


def test_a_replaced_file_is_hashed_again(
    tmp_path: Path, cache_dir: Path, hash_calls: list[str]
) -> None:
    f = write(tmp_path / "x.bin", b"one")
    hash_dataset(f, cache_dir=cache_dir)
    other = write(tmp_path / "y.bin", b"two")
    other.replace(f)  # a new inode under the same path
    os.utime(f, (OLD, OLD))
    hash_calls.clear()
    assert hash_dataset(f, cache_dir=cache_dir).digest == sha(b"two")
    assert hash_calls == [str(f)]


def test_recently_modified_files_are_not_cached(
    tmp_path: Path, cache_dir: Path, hash_calls: list[str]
) -> None:
    f = write(tmp_path / "fresh.txt", b"fresh", mtime=None)
    hash_dataset(f, cache_dir=cache_dir)
    hash_dataset(f, cache_dir=cache_dir)
    assert hash_calls == [str(f), str(f)]


def test_cache_unavailable_still_hashes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    not_a_dir = write(tmp_path / "cache-is-a-file", b"")
    f = write(tmp_path / "x", b"x")
    with caplog.at_level(logging.WARNING, logger="runtrack"):
        record = hash_dataset(f, cache_dir=not_a_dir)
    assert record.digest == sha(b"x")
    assert "dataset hash cache is unavailable" in caplog.text


def test_corrupt_cache_still_hashes(
    tmp_path: Path, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(cache_dir / CACHE_FILENAME, b"this is not a database" * 100)
    f = write(tmp_path / "x", b"x")
    with caplog.at_level(logging.WARNING, logger="runtrack"):
        assert hash_dataset(f, cache_dir=cache_dir).digest == sha(b"x")
    assert "dataset hash cache is unavailable" in caplog.text


def test_several_processes_share_the_cache(tmp_path: Path, cache_dir: Path) -> None:
    root = tmp_path / "data"
    files = {f"f{i}.txt": f"row {i}\n".encode() * 50 for i in range(300)}
    for rel, data in files.items():
        write(root / rel, data)
    code = (
        "import sys; from pathlib import Path\n"
        "from runtrack.client.provenance.datasets import hash_dataset\n"
        "print(hash_dataset(sys.argv[1], cache_dir=Path(sys.argv[2])).digest)\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(root), str(cache_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert {out.strip() for out, _ in outputs} == {expected_dir_digest(files)}
    assert all(err == "" for _, err in outputs)


# --------------------------------------------------------------------------------------
# DVC
# --------------------------------------------------------------------------------------
def test_dvc_file_beside_the_dataset(tmp_path: Path, cache_dir: Path) -> None:
    f = write(tmp_path / "train.csv", b"a,b\n")
    dvc = tmp_path / "train.csv.dvc"
    dvc.write_text(
        "outs:\n- md5: 3f2a1b4c5d6e7f8091a2b3c4d5e6f708\n  size: 4\n  hash: md5\n"
        "  path: train.csv\n"
    )
    record = hash_dataset(f, cache_dir=cache_dir)
    assert record.dvc_md5 == "3f2a1b4c5d6e7f8091a2b3c4d5e6f708"
    assert record.dvc_source == str(dvc)


def test_dvc_file_for_a_directory(tmp_path: Path, cache_dir: Path) -> None:
    write(tmp_path / "images" / "1.png", b"png")
    (tmp_path / "images.dvc").write_text(
        "outs:\n- md5: 0123456789abcdef0123456789abcdef.dir\n  nfiles: 1\n  path: images\n"
    )
    record = hash_dataset(str(tmp_path / "images") + "/", cache_dir=cache_dir)
    assert record.dvc_md5 == "0123456789abcdef0123456789abcdef.dir"
    assert record.dvc_source == str(tmp_path / "images.dvc")


def test_dvc_lock_in_a_parent_directory(tmp_path: Path, cache_dir: Path) -> None:
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    write(project / "data" / "prepared" / "train.csv", b"x")
    (project / "dvc.lock").write_text(
        "schema: '2.0'\n"
        "stages:\n"
        "  featurize:\n"
        "    cmd: python featurize.py\n"
        "    deps:\n"
        "    - path: data/raw\n"
        "      md5: ffffffffffffffffffffffffffffffff.dir\n"
        "    outs:\n"
        "    - path: data/features\n"
        "      md5: eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.dir\n"
        "  prepare:\n"
        "    cmd: python prepare.py\n"
        "    outs:\n"
        "    - path: data/prepared\n"
        "      md5: 1234567890abcdef1234567890abcdef.dir\n"
        "      size: 1\n"
        "      nfiles: 1\n"
    )
    record = hash_dataset(project / "data" / "prepared", cache_dir=cache_dir)
    assert record.dvc_md5 == "1234567890abcdef1234567890abcdef.dir"
    assert record.dvc_source == str(project / "dvc.lock")
    # a dataset the lock file does not produce gets nothing
    other = hash_dataset(project / "data" / "prepared" / "train.csv", cache_dir=cache_dir)
    assert other.dvc_md5 is None and other.dvc_source is None


def test_dvc_lock_search_stops_at_the_git_root(tmp_path: Path, cache_dir: Path) -> None:
    (tmp_path / "dvc.lock").write_text(
        "stages:\n  s:\n    outs:\n    - path: repo/data\n      md5: abc\n"
    )
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    write(repo / "data" / "x", b"x")
    assert hash_dataset(repo / "data", cache_dir=cache_dir).dvc_md5 is None


def test_old_dvc_lock_format(tmp_path: Path, cache_dir: Path) -> None:
    write(tmp_path / "model.pkl", b"m")
    (tmp_path / "dvc.lock").write_text(
        "train:\n  cmd: python train.py\n  outs:\n  - path: model.pkl\n    md5: cafe\n"
    )
    assert hash_dataset(tmp_path / "model.pkl", cache_dir=cache_dir).dvc_md5 == "cafe"


def test_malformed_dvc_files_are_ignored(
    tmp_path: Path, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    f = write(tmp_path / "d.csv", b"d")
    (tmp_path / "d.csv.dvc").write_text("outs: [unclosed\n")
    (tmp_path / "dvc.lock").write_text("- just\n- a list\n")
    with caplog.at_level(logging.WARNING, logger="runtrack"):
        record = hash_dataset(f, cache_dir=cache_dir)
    assert record.digest == sha(b"d")
    assert record.dvc_md5 is None
    assert "could not read DVC file" in caplog.text
