"""Artifact manifests: building, digests, path rules, and writing them out safely."""

from __future__ import annotations

import hashlib
import logging
import os
import random
from pathlib import Path

import pytest

from runtrack.artifacts.base import BLOCK_SIZE, EMPTY_DIGEST
from runtrack.artifacts.local import LocalArtifactStore
from runtrack.artifacts.manifest import (
    build_manifest,
    manifest_digest,
    materialize,
    validate_alias,
    validate_artifact_name,
    validate_artifact_type,
    validate_manifest,
    validate_manifest_path,
)
from runtrack.entities import ArtifactFile, FrozenMap
from runtrack.errors import ArtifactNotFoundError, IntegrityError, ValidationError


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "store")


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def read_tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


TREE = {
    "train.csv": b"a,b\n1,2\n",
    "nested/deeper/weights.bin": bytes(range(256)) * 10,
    "nested/empty.txt": b"",
    ".hidden": b"dotfile",
    "n\u00e4me with spaces.txt": b"unicode",
}


# -- building --------------------------------------------------------------------------
def test_a_file_gives_one_entry_named_by_its_basename(
    store: LocalArtifactStore, tmp_path: Path
) -> None:
    path = tmp_path / "src" / "model.pkl"
    write_tree(tmp_path / "src", {"model.pkl": b"pickled"})
    spec = build_manifest(path, store, name="churn-model", type="model")
    assert spec.files == (ArtifactFile("model.pkl", sha(b"pickled"), 7),)
    assert (spec.name, spec.type, spec.aliases, spec.size) == ("churn-model", "model", (), 7)
    assert spec.digest == manifest_digest(spec.files)
    assert spec.metadata == {}
    assert store.read_bytes(sha(b"pickled")) == b"pickled"


def test_a_directory_gives_every_file_sorted(store: LocalArtifactStore, tmp_path: Path) -> None:
    root = write_tree(tmp_path / "data", TREE)
    (root / "nested" / "no-files-here").mkdir()
    spec = build_manifest(str(root), store, name="churn-data", type="dataset")
    assert [f.path for f in spec.files] == sorted(TREE)
    assert {f.path: (f.digest, f.size) for f in spec.files} == {
        rel: (sha(data), len(data)) for rel, data in TREE.items()
    }
    assert set(store.iter_digests()) == {sha(d) for d in TREE.values()}
    assert spec.size == sum(len(d) for d in TREE.values())


def test_metadata_and_aliases(store: LocalArtifactStore, tmp_path: Path) -> None:
    write_tree(tmp_path / "d", {"f": b"x"})
    metadata = {"rows": 2, "nested": {"cols": ["a", "b"]}}
    spec = build_manifest(
        tmp_path / "d",
        store,
        name="n",
        type="t",
        metadata=metadata,
        aliases=["candidate", "best", "candidate"],
    )
    metadata["rows"] = 99
    assert spec.aliases == ("candidate", "best")
    assert isinstance(spec.metadata, FrozenMap)
    assert spec.metadata == {"rows": 2, "nested": {"cols": ["a", "b"]}}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "bad name"},
        {"name": "../x"},
        {"type": ""},
        {"aliases": ["v3"]},
        {"aliases": "latest"},
        {"metadata": {"obj": object()}},
        {"metadata": ["not", "a", "mapping"]},
    ],
    ids=repr,
)
def test_bad_arguments_are_refused_before_anything_is_stored(
    store: LocalArtifactStore, tmp_path: Path, kwargs: dict[str, object]
) -> None:
    write_tree(tmp_path / "d", {"f": b"x"})
    args: dict[str, object] = {"name": "n", "type": "t", **kwargs}
    with pytest.raises(ValidationError):
        build_manifest(tmp_path / "d", store, **args)  # type: ignore[arg-type]
    assert list(store.iter_digests()) == []


def test_nothing_to_log(store: LocalArtifactStore, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "only-dirs" / "a" / "b").mkdir(parents=True)
    for path in (tmp_path / "empty", tmp_path / "only-dirs"):
        with pytest.raises(ValidationError, match="holds no files"):
            build_manifest(path, store, name="n", type="t")
    with pytest.raises(ValidationError, match="does not exist"):
        build_manifest(tmp_path / "missing", store, name="n", type="t")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_special_files_are_left_out(
    store: LocalArtifactStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = write_tree(tmp_path / "d", {"real.txt": b"r"})
    os.mkfifo(root / "pipe")
    with caplog.at_level(logging.WARNING):
        spec = build_manifest(root, store, name="n", type="t")
    assert [f.path for f in spec.files] == ["real.txt"]
    assert "pipe" in caplog.text
    with pytest.raises(ValidationError, match="not a regular file"):
        build_manifest(root / "pipe", store, name="n", type="t")


def test_symlinks(
    store: LocalArtifactStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outside = write_tree(tmp_path / "outside", {"secret.txt": b"do not take"})
    root = write_tree(tmp_path / "d", {"sub/real.txt": b"real"})
    os.symlink(root / "sub" / "real.txt", root / "inside-file")
    os.symlink("sub", root / "inside-dir")  # relative, inside: followed
    os.symlink(outside / "secret.txt", root / "outside-file")
    os.symlink(outside, root / "outside-dir")
    os.symlink(root / "nowhere", root / "dangling")
    os.symlink("..", root / "sub" / "loop")
    with caplog.at_level(logging.WARNING):
        spec = build_manifest(root, store, name="n", type="t")
    assert [f.path for f in spec.files] == ["inside-dir/real.txt", "inside-file", "sub/real.txt"]
    assert {f.digest for f in spec.files} == {sha(b"real")}
    assert not store.exists(sha(b"do not take"))
    for name in ("outside-file", "outside-dir", "dangling", "sub/loop"):
        assert repr(name) in caplog.text


def test_a_symlink_given_as_the_path_is_followed(store: LocalArtifactStore, tmp_path: Path) -> None:
    write_tree(tmp_path / "real", {"f.txt": b"x"})
    os.symlink(tmp_path / "real" / "f.txt", tmp_path / "link.txt")
    os.symlink(tmp_path / "real", tmp_path / "linkdir")
    assert build_manifest(tmp_path / "link.txt", store, name="n", type="t").files == (
        ArtifactFile("link.txt", sha(b"x"), 1),
    )
    assert [
        f.path for f in build_manifest(tmp_path / "linkdir", store, name="n", type="t").files
    ] == ["f.txt"]


@pytest.mark.parametrize("hostile", ["back\\slash", "new\nline", "tab\there", "del\x7f"])
def test_hostile_file_names_are_refused(
    store: LocalArtifactStore, tmp_path: Path, hostile: str
) -> None:
    root = write_tree(tmp_path / "d", {"fine.txt": b"fine"})
    (root / hostile).write_bytes(b"x")
    with pytest.raises(ValidationError, match="invalid artifact file path"):
        build_manifest(root, store, name="n", type="t")
    assert list(store.iter_digests()) == []


def test_undecodable_file_names_are_refused(store: LocalArtifactStore, tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    try:
        (Path(os.fsencode(root).decode()) / os.fsdecode(b"bad\xff")).write_bytes(b"x")
    except (OSError, UnicodeError):  # pragma: no cover - the filesystem refuses them itself
        pytest.skip("this filesystem does not store undecodable names")
    with pytest.raises(ValidationError, match="not valid Unicode"):
        build_manifest(root, store, name="n", type="t")


def test_names_are_recorded_in_nfc(store: LocalArtifactStore, tmp_path: Path) -> None:
    nfd, nfc = "e\u0301.txt", "\u00e9.txt"
    root = write_tree(tmp_path / "d", {nfd: b"accent"})
    spec = build_manifest(root, store, name="n", type="t")
    assert [f.path for f in spec.files] == [nfc]
    (root / nfc).write_bytes(b"other")
    if len(list(root.iterdir())) == 2:  # a normalising filesystem keeps one of them
        with pytest.raises(ValidationError, match="NFC"):
            build_manifest(root, store, name="n", type="t")


def test_progress(store: LocalArtifactStore, tmp_path: Path) -> None:
    big = random.Random(0).randbytes(3 * BLOCK_SIZE + 5)
    root = write_tree(tmp_path / "d", {"big.bin": big, "small.txt": b"small", "zero": b""})
    total = len(big) + 5
    calls: list[tuple[int, int]] = []
    spec = build_manifest(
        root, store, name="n", type="t", progress=lambda d, t: calls.append((d, t))
    )
    assert calls[0] == (0, total) and calls[-1] == (total, total)
    assert len(calls) >= 5  # the big file reports block by block
    assert all(t == total for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)

    out: list[tuple[int, int]] = []
    materialize(spec.files, store, tmp_path / "out", progress=lambda d, t: out.append((d, t)))
    assert out[0] == (0, total) and out[-1] == (total, total) and len(out) >= 5
    assert [d for d, _ in out] == sorted(d for d, _ in out)


def test_an_exception_from_progress_aborts(store: LocalArtifactStore, tmp_path: Path) -> None:
    root = write_tree(tmp_path / "d", {"f": b"x" * 10})

    def stop(done: int, total: int) -> None:
        if done:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_manifest(root, store, name="n", type="t", progress=stop)
    assert list(store.iter_digests()) == []
    assert list((store.root / "tmp").iterdir()) == []


# -- the manifest digest ---------------------------------------------------------------
def test_manifest_digest_is_the_documented_scheme() -> None:
    hello = sha(b"hello\n")
    files = [ArtifactFile("a.txt", hello, 6)]
    text = '{"files":[{"digest":"' + hello + '","path":"a.txt","size":6}],"version":1}'
    assert manifest_digest(files) == sha(text.encode())
    assert manifest_digest(files) == (
        "b0dad16438e1b6997377799a28dd5fd7446de0cbcd3aeb1fa8a737d40b71f193"
    )
    quoted = [ArtifactFile("\u00fc.txt", EMPTY_DIGEST, 0), ArtifactFile('dir/b "q".txt', hello, 6)]
    text = (
        '{"files":[{"digest":"' + hello + '","path":"dir/b \\"q\\".txt","size":6},'
        '{"digest":"' + EMPTY_DIGEST + '","path":"\u00fc.txt","size":0}],"version":1}'
    )
    assert manifest_digest(quoted) == sha(text.encode("utf-8"))


def test_manifest_digest_ignores_order_and_sees_every_field() -> None:
    files = [ArtifactFile(f"f{i}", sha(bytes([i])), 1) for i in range(10)]
    base = manifest_digest(files)
    shuffled = list(files)
    random.Random(3).shuffle(shuffled)
    assert manifest_digest(shuffled) == base
    assert manifest_digest(tuple(reversed(files))) == base
    renamed = [*files[:-1], ArtifactFile("other", files[-1].digest, 1)]
    changed = [*files[:-1], ArtifactFile("f9", sha(b"changed"), 1)]
    resized = [*files[:-1], ArtifactFile("f9", files[-1].digest, 2)]
    assert len({base, *(manifest_digest(m) for m in (renamed, changed, resized))}) == 4


def test_same_content_same_digest_whatever_the_build(
    store: LocalArtifactStore, tmp_path: Path
) -> None:
    one = write_tree(tmp_path / "one", TREE)
    two = write_tree(tmp_path / "two", dict(reversed(list(TREE.items()))))
    os.utime(two / "train.csv", (0, 0))
    a = build_manifest(one, store, name="a", type="dataset", metadata={"x": 1})
    b = build_manifest(two, store, name="b", type="other", aliases=["prod"])
    assert a.digest == b.digest and a.files == b.files
    (two / "train.csv").write_bytes(b"a,b\n1,3\n")
    assert build_manifest(two, store, name="b", type="t").digest != a.digest


# -- rules for paths and names ---------------------------------------------------------
@pytest.mark.parametrize(
    "bad",
    [
        "",
        "/etc/passwd",
        "../x",
        "a/../../b",
        "a/..",
        "..",
        ".",
        "./a",
        "a/./b",
        "a//b",
        "a/",
        "a\\b",
        "..\\..\\windows",
        "a\x00b",
        "a\nb",
        "\x1b[31mred",
        "a\x7f",
        "a\x85b",
        "bad\udcff",
        "x" * 256,
        "\u00e9" * 128,  # 256 bytes of UTF-8 in one segment
        "/".join(["abcdefgh"] * 114),  # 1025 bytes
        None,
        b"a",
        3,
    ],
    ids=repr,
)
def test_hostile_paths(bad: object) -> None:
    with pytest.raises(ValidationError, match="invalid artifact file path"):
        validate_manifest_path(bad)


@pytest.mark.parametrize(
    "good",
    [
        "a",
        "a/b/c.txt",
        ".hidden",
        "..a",
        "a..",
        "...",
        "a b/c d",
        "\u00fc/\u00df",
        'quote"s',
        "x" * 255,
        "/".join(["x" * 255] * 3 + ["x" * 254, "x"]),  # exactly 1024 bytes
        "C:notes",
    ],
)
def test_safe_paths(good: str) -> None:
    assert validate_manifest_path(good) == good


@pytest.mark.parametrize("name", ["a", "churn-data", "model_v2.1", "A" * 128, "0start"])
def test_valid_names(name: str) -> None:
    assert validate_artifact_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "-lead", ".lead", "a b", "a/b", "a:b", "a" * 129, "caf\u00e9", "a\n", None]
)
def test_invalid_names(name: object) -> None:
    with pytest.raises(ValidationError) as info:
        validate_artifact_name(name)
    assert repr(name)[:20] in info.value.message and "letters, digits" in info.value.message


def test_types() -> None:
    assert validate_artifact_type("model") == "model"
    assert validate_artifact_type("t" * 64) == "t" * 64
    with pytest.raises(ValidationError, match=r"artifact type 'tt.*64"):
        validate_artifact_type("t" * 65)


@pytest.mark.parametrize("alias", ["latest", "production", "v", "v1a", "version3", "best-v2"])
def test_valid_aliases(alias: str) -> None:
    assert validate_alias(alias) == alias


@pytest.mark.parametrize("alias", ["v0", "v3", "V12", "v007"])
def test_version_shaped_aliases_are_reserved(alias: str) -> None:
    with pytest.raises(ValidationError, match=f"'{alias}'.*reserved for versions"):
        validate_alias(alias)


def test_alias_shape() -> None:
    with pytest.raises(ValidationError, match="alias 'a b'"):
        validate_alias("a b")
    with pytest.raises(ValidationError):
        validate_alias("a" * 65)


@pytest.mark.parametrize(
    ("files", "match"),
    [
        ([ArtifactFile("a", EMPTY_DIGEST, 0)] * 2, "more than once"),
        ([ArtifactFile("a", EMPTY_DIGEST, 0), ArtifactFile("a/b", EMPTY_DIGEST, 0)], "directory"),
        ([ArtifactFile("a", "../" * 21 + "x", 0)], "invalid digest"),
        ([ArtifactFile("a", EMPTY_DIGEST, -1)], "size"),
        ([ArtifactFile("a", EMPTY_DIGEST, True)], "size"),
        ([ArtifactFile("../a", EMPTY_DIGEST, 0)], "invalid artifact file path"),
        ([("a", EMPTY_DIGEST, 0)], "ArtifactFile"),
    ],
)
def test_invalid_manifests(files: list[ArtifactFile], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        validate_manifest(files)
    with pytest.raises(ValidationError, match=match):
        manifest_digest(files)


# -- materialising ---------------------------------------------------------------------
def test_materialize_round_trip(store: LocalArtifactStore, tmp_path: Path) -> None:
    root = write_tree(tmp_path / "data", TREE)
    spec = build_manifest(root, store, name="n", type="t")
    dest = tmp_path / "restored" / "here"
    assert materialize(spec.files, store, dest) == dest
    assert read_tree(dest) == TREE
    assert materialize(list(reversed(spec.files)), store, str(dest)) == dest  # again: no-op
    assert read_tree(dest) == TREE


def test_materialize_keeps_identical_files_and_rewrites_others(
    store: LocalArtifactStore, tmp_path: Path
) -> None:
    files = [
        ArtifactFile("same", store.put_bytes(b"same").digest, 4),
        ArtifactFile("stale", store.put_bytes(b"fresh").digest, 5),
    ]
    dest = write_tree(tmp_path / "dest", {"same": b"same", "stale": b"stale", "extra": b"e"})
    inode = (dest / "same").stat().st_ino
    materialize(files, store, dest)
    assert read_tree(dest) == {"same": b"same", "stale": b"fresh", "extra": b"e"}
    assert (dest / "same").stat().st_ino == inode


@pytest.mark.parametrize("hostile", ["../escaped", "/tmp/abs", "a/../../escaped", "a\\..\\b"])
def test_materialize_refuses_traversal_before_writing(
    store: LocalArtifactStore, tmp_path: Path, hostile: str
) -> None:
    digest = store.put_bytes(b"evil").digest
    files = [ArtifactFile("a-first.txt", digest, 4), ArtifactFile(hostile, digest, 4)]
    dest = tmp_path / "dest"
    with pytest.raises(ValidationError, match="invalid artifact file path"):
        materialize(files, store, dest)
    assert not (tmp_path / "escaped").exists()
    assert not dest.exists() or list(dest.iterdir()) == []


def test_materialize_refuses_symlink_escapes(store: LocalArtifactStore, tmp_path: Path) -> None:
    digest = store.put_bytes(b"evil").digest
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    os.symlink(outside, dest / "link")
    os.symlink(tmp_path / "nonexistent", dest / "dangling")
    os.symlink("../outside", dest / "relative")
    (dest / "inner").mkdir()
    os.symlink("../link", dest / "inner" / "chained")
    for rel in ("link/evil.txt", "dangling/x/evil.txt", "relative/evil.txt", "inner/chained/e"):
        files = [ArtifactFile("a-first.txt", digest, 4), ArtifactFile(rel, digest, 4)]
        with pytest.raises(ValidationError, match="outside"):
            materialize(files, store, dest)
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "nonexistent").exists()
    assert not (dest / "a-first.txt").exists()  # checked before anything was written


def test_materialize_follows_symlinks_that_stay_inside(
    store: LocalArtifactStore, tmp_path: Path
) -> None:
    digest = store.put_bytes(b"ok").digest
    dest = tmp_path / "dest"
    (dest / "real").mkdir(parents=True)
    os.symlink("real", dest / "alias")
    materialize([ArtifactFile("alias/f", digest, 2)], store, dest)
    assert (dest / "real" / "f").read_bytes() == b"ok"


def test_materialize_replaces_a_symlink_in_a_files_place(
    store: LocalArtifactStore, tmp_path: Path
) -> None:
    victim = write_tree(tmp_path / "outside", {"victim": b"precious"}) / "victim"
    dest = tmp_path / "dest"
    dest.mkdir()
    os.symlink(victim, dest / "f")
    materialize([ArtifactFile("f", store.put_bytes(b"new").digest, 3)], store, dest)
    assert victim.read_bytes() == b"precious"
    assert not (dest / "f").is_symlink() and (dest / "f").read_bytes() == b"new"


def test_materialize_refuses_what_is_in_the_way(store: LocalArtifactStore, tmp_path: Path) -> None:
    digest = store.put_bytes(b"x").digest
    dest = write_tree(tmp_path / "dest", {"file": b"", "dir/inner": b""})
    with pytest.raises(ValidationError, match="directory is in its place"):
        materialize([ArtifactFile("dir", digest, 1)], store, dest)
    with pytest.raises(ValidationError, match="not a directory"):
        materialize([ArtifactFile("file/x", digest, 1)], store, dest)
    (tmp_path / "a-file").write_bytes(b"")
    with pytest.raises(ValidationError, match="destination"):
        materialize([ArtifactFile("x", digest, 1)], store, tmp_path / "a-file")


def test_materialize_verifies_every_blob(store: LocalArtifactStore, tmp_path: Path) -> None:
    digest = store.put_bytes(b"original").digest
    blob = store.root / "sha256" / digest[:2] / digest[2:4] / digest
    blob.chmod(0o644)
    blob.write_bytes(b"tampered")
    dest = tmp_path / "dest"
    with pytest.raises(IntegrityError):
        materialize([ArtifactFile("f", digest, 8)], store, dest)
    assert not (dest / "f").exists()


def test_materialize_checks_sizes_and_presence(store: LocalArtifactStore, tmp_path: Path) -> None:
    digest = store.put_bytes(b"four").digest
    with pytest.raises(IntegrityError, match="4"):
        materialize([ArtifactFile("f", digest, 5)], store, tmp_path / "d1")
    assert not (tmp_path / "d1" / "f").exists()
    with pytest.raises(ArtifactNotFoundError):
        materialize([ArtifactFile("f", sha(b"absent"), 6)], store, tmp_path / "d2")
    assert not (tmp_path / "d2" / "f").exists()
