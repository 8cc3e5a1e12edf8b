"""Artifact manifests: which relative file paths hold which blobs, and one digest for all.

A manifest is a sequence of ``ArtifactFile(path, digest, size)`` records. Paths are
relative POSIX paths checked by :func:`validate_manifest_path`, both when a manifest is
built from local files and when one recorded by someone else is written out again
(:func:`materialize`), so a manifest can never name a file outside its destination.

Manifest digest (scheme version 1)
----------------------------------
:func:`manifest_digest` is the lowercase hex SHA-256 of this UTF-8 text::

    json.dumps(
        {"files": [{"digest": d, "path": p, "size": n}, ...], "version": 1},
        sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    )

with the entries sorted by path (a reference file's entry also holds ``"ref": uri``;
its ETag is not part of the digest) (Unicode code point order, which is also the UTF-8 byte
order). For one file ``a.txt`` holding ``b"hello\\n"`` the text is::

    {"files":[{"digest":"5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03","path":"a.txt","size":6}],"version":1}

and the manifest digest is
``b0dad16438e1b6997377799a28dd5fd7446de0cbcd3aeb1fa8a737d40b71f193``.

Valid paths contain no control characters and no backslashes, so the only escape JSON
can need is ``\\"`` for a double quote; non-ASCII characters appear as themselves. Any
language can recompute the digest. It depends on nothing but the (path, digest, size)
entries: not their order, the artifact's name, metadata, the machine or the time.

:func:`build_manifest` records paths in Unicode NFC form, so a file name typed on
macOS (which may store NFD) and on Linux gives one digest.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ..entities import ArtifactFile, ArtifactSpec, FrozenMap
from ..errors import IntegrityError, ValidationError
from .base import BLOCK_SIZE, ArtifactStore, validate_digest

if TYPE_CHECKING:
    from .hashcache import HashCache

__all__ = [
    "DEFAULT_WORKERS",
    "MANIFEST_VERSION",
    "MAX_PATH_BYTES",
    "MAX_SEGMENT_BYTES",
    "Progress",
    "build_manifest",
    "local_files",
    "manifest_digest",
    "materialize",
    "validate_alias",
    "validate_artifact_name",
    "validate_artifact_type",
    "validate_manifest",
    "validate_manifest_path",
]

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # progress(done_bytes, total_bytes)

MANIFEST_VERSION: Final = 1
# files hashed and stored at once by build_manifest: two per core (one hashing while the
# other waits for the disk), at least 4 (remote stores wait for the network), at most 16
DEFAULT_WORKERS: Final = min(16, max(4, 2 * (os.cpu_count() or 1)))
_GROUP_FILES: Final = 32  # small files stored by one task of build_manifest's threads
_GROUP_BYTES: Final = 4 << 20
MAX_PATH_BYTES: Final = 1024
MAX_SEGMENT_BYTES: Final = 255

_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_SHORT_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_VERSION_SHAPED: Final = re.compile(r"[vV][0-9]+")
_NAME_RULE: Final = "letters, digits, '.', '_' and '-', starting with a letter or digit"
_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc, exactly


def _show(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------
def _check_name(value: object, what: str, pattern: re.Pattern[str], limit: int) -> str:
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise ValidationError(
            f"invalid {what} {_show(value)}: it must be 1 to {limit} characters of {_NAME_RULE}"
        )
    return value


def validate_artifact_name(name: object) -> str:
    """``^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`` or ``ValidationError``."""
    return _check_name(name, "artifact name", _NAME, 128)


def validate_artifact_type(type: object) -> str:
    """Like a name, at most 64 characters (``model``, ``dataset``, ...)."""
    return _check_name(type, "artifact type", _SHORT_NAME, 64)


def validate_alias(alias: object) -> str:
    """Like a type, and not shaped like a version (``v3``, ``V12``): those are reserved."""
    alias = _check_name(alias, "alias", _SHORT_NAME, 64)
    if _VERSION_SHAPED.fullmatch(alias):
        raise ValidationError(
            f"invalid alias {alias!r}: names shaped like 'v' + digits are reserved for versions"
        )
    return alias


# --------------------------------------------------------------------------------------
# Paths and manifests
# --------------------------------------------------------------------------------------
def validate_manifest_path(p: object) -> str:
    """Return ``p`` if it is a safe relative POSIX path, else raise ``ValidationError``.

    Safe: a ``str`` of ``/``-separated non-empty segments, none ``.`` or ``..``; no leading
    ``/``, no backslash, no control character (Unicode category Cc, NUL included), valid
    Unicode (no lone surrogates from undecodable file names); at most
    ``MAX_PATH_BYTES`` (1024) bytes of UTF-8 in all and ``MAX_SEGMENT_BYTES`` (255) per
    segment (lengths count UTF-8 bytes, as filesystems do).
    """
    if not isinstance(p, str):
        raise ValidationError(
            f"invalid artifact file path {_show(p)}: paths are strings, not {type(p).__name__}"
        )

    def bad(problem: str) -> ValidationError:
        return ValidationError(f"invalid artifact file path {_show(p)}: {problem}")

    if not p:
        raise bad("it is empty")
    try:
        encoded = p.encode("utf-8")
    except UnicodeEncodeError:
        raise bad("it is not valid Unicode (an undecodable file name?)") from None
    if len(encoded) > MAX_PATH_BYTES:
        raise bad(f"it is {len(encoded)} bytes long; the limit is {MAX_PATH_BYTES}")
    if "\\" in p:
        raise bad("it contains a backslash; paths use '/' only")
    if _CONTROL.search(p):
        raise bad("it contains a control character")
    if p.startswith("/"):
        raise bad("it is absolute; paths are relative to the artifact's root")
    for segment in p.split("/"):
        if not segment:
            raise bad("it has an empty segment ('//' or a trailing '/')")
        if segment in (".", ".."):
            raise bad(f"it has a {segment!r} segment; paths must stay inside the artifact")
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise bad(f"a segment is longer than {MAX_SEGMENT_BYTES} bytes")
    return p


def validate_manifest(files: Iterable[ArtifactFile]) -> tuple[ArtifactFile, ...]:
    """Check every entry and the manifest as a whole; return the entries sorted by path.

    Raises ``ValidationError`` for a bad path, digest or size, a path listed twice, or a
    path that is also the directory of another (``a`` and ``a/b``).
    """
    entries: list[ArtifactFile] = []
    for entry in files:
        if not isinstance(entry, ArtifactFile):
            raise ValidationError(f"manifest entries are ArtifactFile, not {_show(entry)}")
        validate_manifest_path(entry.path)
        validate_digest(entry.digest)
        if isinstance(entry.size, bool) or not isinstance(entry.size, int) or entry.size < 0:
            raise ValidationError(f"{entry.path!r} has size {_show(entry.size)}; sizes are >= 0")
        if entry.ref is not None or entry.etag is not None:
            validate_reference(entry)
        entries.append(entry)
    entries.sort(key=lambda e: e.path)
    paths: set[str] = set()
    for entry in entries:
        if entry.path in paths:
            raise ValidationError(f"the manifest lists {entry.path!r} more than once")
        paths.add(entry.path)
    for entry in entries:
        parts = entry.path.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if parent in paths:
                raise ValidationError(
                    f"the manifest lists {parent!r} as a file and as the directory of "
                    f"{entry.path!r}"
                )
    return tuple(entries)


REFERENCE_SCHEMES: Final = ("s3", "gs", "http", "https", "file")
_REF: Final = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*)://[^\x00-\x20\x7f]+")


def validate_reference(entry: ArtifactFile) -> None:
    """A reference file's URI (``s3://bucket/key``, ``https://...``, ``file:///...``)
    and the ETag its store reported. Nothing here fetches the URI."""
    ref = entry.ref
    if not isinstance(ref, str) or len(ref) > 2048 or not (m := _REF.fullmatch(ref)):
        raise ValidationError(
            f"{entry.path!r}: reference {_show(ref)} is not a URI such as s3://bucket/key "
            "(at most 2,048 characters, no spaces or control characters)"
        )
    if m.group("scheme") not in REFERENCE_SCHEMES:
        raise ValidationError(
            f"{entry.path!r}: reference scheme {m.group('scheme')!r} is not supported; "
            f"use one of {', '.join(REFERENCE_SCHEMES)}"
        )
    etag = entry.etag
    if etag is not None and (
        not isinstance(etag, str) or len(etag) > 200 or not etag.isprintable()
    ):
        raise ValidationError(f"{entry.path!r}: etag {_show(etag)} is not a short printable text")


def manifest_digest(files: Iterable[ArtifactFile]) -> str:
    """The digest of a manifest: see "Manifest digest" in this module's docstring.

    Raises ``ValidationError`` for a manifest :func:`validate_manifest` refuses.
    """
    entries = validate_manifest(files)
    payload = {
        "files": [
            {"digest": e.digest, "path": e.path, "size": e.size}
            if e.ref is None
            else {"digest": e.digest, "path": e.path, "ref": e.ref, "size": e.size}
            for e in entries
        ],
        "version": MANIFEST_VERSION,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------
# Building a manifest from local files
# --------------------------------------------------------------------------------------
def build_manifest(
    path: str | os.PathLike[str],
    store: ArtifactStore,
    *,
    name: str,
    type: str,
    metadata: Mapping[str, Any] | None = None,
    aliases: Sequence[str] = (),
    progress: Progress | None = None,
    hash_cache: HashCache | None = None,
    workers: int = DEFAULT_WORKERS,
) -> ArtifactSpec:
    """Put the file or directory at ``path`` into ``store`` and describe it.

    * A file gives one entry named by its basename.
    * A directory gives every regular file under it, hidden ones included, with paths
      relative to it, sorted. Symlinks whose target lies inside the directory are
      followed (their files are recorded under the link's path); symlinks leading outside
      it, dangling ones, links that would loop, and non-regular files (FIFOs, sockets,
      devices) are left out, each with a logged warning. A directory without files
      raises ``ValidationError``.

    ``progress(done_bytes, total_bytes)`` is called with ``(0, total)`` first and after
    every block stored (from worker threads, one call at a time, ``done`` increasing).
    Names, type, aliases (duplicates dropped), metadata (must be JSON-serialisable;
    stored as a JSON copy) and every path are validated before anything is stored.
    Entries record what was actually stored, so a file that changes during the build is
    recorded as it was read.

    ``hash_cache``: a file whose digest the cache knows (same path and ``stat``) and
    whose blob ``store`` still has (``store.touch``) is not read at all; the digests of
    the files read are recorded in it (see ``runtrack.artifacts.hashcache``).
    ``workers``: how many files are hashed and stored at once (threads: SHA-256 and the
    I/O release the GIL). Each file is stored by one ``store.put``, with that call's
    guarantees (on a local store: written, flushed to disk, then linked into place). If a
    put fails the error is raised once the puts in progress have ended; blobs already
    stored stay (``gc`` removes them if no version comes to reference them).
    """
    name = validate_artifact_name(name)
    type = validate_artifact_type(type)
    if isinstance(aliases, str):
        raise ValidationError(f"aliases must be a list of strings, not the string {aliases!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValidationError(f"workers must be an int >= 1, not {workers!r}")
    alias_list = tuple(dict.fromkeys(validate_alias(a) for a in aliases))
    frozen_metadata = _json_copy(metadata)
    found = _scan(Path(path))

    counter = _Counter(progress, sum(st.st_size for _, _, st in found))
    counter.advance(0)
    stored = _Storing(store, counter, hash_cache)
    if workers == 1 or len(found) == 1:
        entries = [stored.one(item) for item in found]
    else:
        entries = stored.many(found, workers)
    if hash_cache is not None:
        hash_cache.record(stored.fresh, hashed_at_ns=stored.hashed_at_ns)
    files = tuple(entries)
    return ArtifactSpec(
        name=name,
        type=type,
        files=files,
        digest=manifest_digest(files),
        metadata=frozen_metadata,
        aliases=alias_list,
    )


def local_files(path: str | os.PathLike[str]) -> dict[str, str]:
    """``{manifest path: filesystem path}`` of the files :func:`build_manifest` would
    store for ``path`` now (to put a file of a recorded version again)."""
    return {label: fs_path for label, fs_path, _ in _scan(Path(path))}


class _Counter:
    """Bytes stored so far, reported to ``progress`` one call at a time (thread-safe)."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self._progress = progress
        self._total = total
        self._done = 0
        self._lock = threading.Lock()
        self.cancelled = threading.Event()  # set when the build failed: stop reading

    def advance(self, n: int) -> None:
        if self.cancelled.is_set():
            raise _Cancelled
        if self._progress is None:
            return
        with self._lock:
            self._done += n
            self._progress(self._done, self._total)


class _Cancelled(Exception):
    """Raised into the reads of a put when another put of the build failed."""


class _Storing:
    """Stores the files of one build: cache hits are touched, the rest put."""

    def __init__(self, store: ArtifactStore, counter: _Counter, cache: HashCache | None) -> None:
        self._store = store
        self._counter = counter
        self._cache = cache
        self.hashed_at_ns = time.time_ns()  # before any file is read
        self.fresh: list[tuple[str, os.stat_result, str]] = []  # for the cache
        self._lock = threading.Lock()

    def one(self, item: tuple[str, str, os.stat_result]) -> ArtifactFile:
        label, fs_path, st = item
        if self._cache is not None:
            known = self._cache.lookup(fs_path, st)
            if known is not None and self._store.touch(known):
                self._counter.advance(st.st_size)
                return ArtifactFile(path=label, digest=known, size=st.st_size)
        try:
            handle = open(fs_path, "rb", buffering=0)  # noqa: SIM115 - closed just below
        except OSError as exc:
            raise ValidationError(f"cannot read {fs_path!r}: {exc.strerror}") from exc
        with handle:
            before = os.fstat(handle.fileno())
            info = self._store.put(_CountingReader(handle, self._counter.advance))
            after = os.fstat(handle.fileno())
        if self._cache is not None and info.size == before.st_size and _same(before, after):
            with self._lock:
                self.fresh.append((fs_path, before, info.digest))
        return ArtifactFile(path=label, digest=info.digest, size=info.size)

    def many(
        self, found: list[tuple[str, str, os.stat_result]], workers: int
    ) -> list[ArtifactFile]:
        """Every item stored by ``workers`` threads, largest first, small files in groups
        (a task per 40 kB file would cost more than storing it); entries in order."""
        order = sorted(range(len(found)), key=lambda i: -found[i][2].st_size)
        groups: list[list[int]] = []
        size = 0
        for i in order:
            if not groups or len(groups[-1]) >= _GROUP_FILES or size >= _GROUP_BYTES:
                groups.append([])
                size = 0
            groups[-1].append(i)
            size += found[i][2].st_size

        def store(group: list[int]) -> list[tuple[int, ArtifactFile]]:
            return [(i, self.one(found[i])) for i in group]

        out: list[ArtifactFile | None] = [None] * len(found)
        with ThreadPoolExecutor(workers, thread_name_prefix="runtrack-put") as pool:
            futures = [pool.submit(store, group) for group in groups]
            try:
                for future in as_completed(futures):
                    for i, entry in future.result():
                        out[i] = entry
            except BaseException:
                self._counter.cancelled.set()
                for future in futures:
                    future.cancel()
                raise
        return [entry for entry in out if entry is not None]


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_size, a.st_mtime_ns, a.st_ctime_ns, a.st_ino, a.st_dev) == (
        b.st_size,
        b.st_mtime_ns,
        b.st_ctime_ns,
        b.st_ino,
        b.st_dev,
    )


class _CountingReader:
    """Reports each block read from a file to ``advance`` (bytes so far, as they go)."""

    def __init__(self, inner: io.RawIOBase, advance: Callable[[int], None]) -> None:
        self._inner = inner
        self._advance = advance

    def read(self, size: int = -1, /) -> bytes:
        chunk = self._inner.read(size) or b""
        if chunk:
            self._advance(len(chunk))
        return chunk

    def readinto(self, buffer: memoryview, /) -> int:
        n = self._inner.readinto(buffer) or 0
        if n:
            self._advance(n)
        return n


def _json_copy(metadata: Mapping[str, Any] | None) -> FrozenMap:
    if metadata is None:
        return FrozenMap({})
    if not isinstance(metadata, Mapping):
        raise ValidationError(f"metadata must be a mapping, not {type(metadata).__name__}")
    try:
        data = json.loads(json.dumps(dict(metadata)))
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"metadata must be JSON-serialisable: {exc}") from None
    return FrozenMap(data)


def _scan(path: Path) -> list[tuple[str, str, os.stat_result]]:
    """``(manifest path, absolute filesystem path, stat)`` of every file to store, sorted."""
    try:
        root = path.resolve(strict=True)
    except OSError:
        raise ValidationError(f"cannot log {os.fspath(path)!r}: it does not exist") from None
    if root.is_file():
        label = unicodedata.normalize("NFC", path.name or root.name)
        validate_manifest_path(label)
        return [(label, str(root), root.stat())]
    if not root.is_dir():
        raise ValidationError(f"cannot log {os.fspath(path)!r}: not a regular file or directory")

    found: dict[str, tuple[str, os.stat_result]] = {}

    def add(rel: str, fs_path: str) -> None:
        label = unicodedata.normalize("NFC", rel)
        validate_manifest_path(label)
        if label in found:
            raise ValidationError(
                f"two files in {os.fspath(path)!r} are both named {label!r} once their "
                "names are in Unicode normal form (NFC)"
            )
        found[label] = (fs_path, os.stat(fs_path))

    def skip(rel: str, why: str) -> None:
        logger.warning("left out of the artifact from %s: %r (%s)", os.fspath(path), rel, why)

    # Each stack item: a directory to list, its manifest prefix, the real paths of the
    # directories on the way down to it (to notice symlink loops).
    stack: list[tuple[str, str, frozenset[Path]]] = [(str(root), "", frozenset({root}))]
    while stack:
        directory, prefix, ancestors = stack.pop()
        try:
            with os.scandir(directory) as listing:
                entries = list(listing)
        except OSError as exc:
            raise ValidationError(f"cannot list {directory!r}: {exc.strerror}") from exc
        for entry in entries:
            rel = prefix + entry.name
            if entry.is_symlink():
                target = Path(os.path.realpath(entry.path))
                if not target.is_relative_to(root):
                    skip(rel, "a symlink to a place outside the directory")
                elif target.is_dir():
                    if target in ancestors:
                        skip(rel, "a symlink that loops back to a directory above it")
                    else:
                        stack.append((entry.path, rel + "/", ancestors | {target}))
                elif target.is_file():
                    add(rel, entry.path)
                else:
                    skip(rel, "a dangling symlink or one to a special file")
            elif entry.is_dir(follow_symlinks=False):
                real = Path(os.path.realpath(entry.path))
                stack.append((entry.path, rel + "/", ancestors | {real}))
            elif entry.is_file(follow_symlinks=False):
                add(rel, entry.path)
            else:
                skip(rel, "not a regular file")
    if not found:
        raise ValidationError(f"cannot log {os.fspath(path)!r}: the directory holds no files")
    return [(label, fs_path, st) for label, (fs_path, st) in sorted(found.items())]


# --------------------------------------------------------------------------------------
# Writing a manifest out
# --------------------------------------------------------------------------------------
def materialize(
    files: Sequence[ArtifactFile],
    store: ArtifactStore,
    dest: str | os.PathLike[str],
    *,
    progress: Progress | None = None,
) -> Path:
    """Write every file of a manifest under ``dest`` (created if missing); return ``dest``.

    The whole manifest is validated first (:func:`validate_manifest`), and every target
    is checked before anything is written: a path that would land outside ``dest``, even
    through a symlink already inside ``dest``, or whose place is taken by a directory,
    raises ``ValidationError``. Each file is written atomically and verified against its
    digest (``IntegrityError``; a blob whose size differs from the manifest's also raises
    it and is removed). A file already at its place with the right content is kept as it
    is. An existing symlink at a file's own place is replaced by the file, never followed.
    Files not in the manifest are left alone. If one file fails, those written before it
    stay. ``progress(done_bytes, total_bytes)`` as for :func:`build_manifest`.

    Not a defence against another process rewriting ``dest`` while this runs.
    """
    entries = validate_manifest(files)
    dest = Path(dest)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        root = dest.resolve(strict=True)
    except OSError as exc:
        raise ValidationError(f"cannot use {os.fspath(dest)!r} as a destination: {exc}") from exc
    targets = [(entry, _target(root, entry.path)) for entry in entries]

    total = sum(e.size for e in entries)
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total)

    if progress is not None:
        progress(0, total)
    for entry, target in targets:
        if _holds(target, entry):
            advance(entry.size)
            continue
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValidationError(f"cannot create the directory of {entry.path!r}: {exc}") from exc
        _target(root, entry.path)  # again, now that its directories exist
        written = 0

        def count(n: int) -> None:
            nonlocal written
            written += n
            advance(n)

        store.get_file(entry.digest, target, verify=True, on_progress=count)
        if written != entry.size:
            target.unlink()
            raise IntegrityError(
                f"the manifest gives {entry.path!r} {entry.size} bytes, but its blob "
                f"{entry.digest} has {written}"
            )
    return dest


def _target(root: Path, rel: str) -> Path:
    """Where ``rel`` goes under ``root``, refusing places outside it or taken by a dir."""
    target = root.joinpath(*rel.split("/"))
    if not Path(os.path.realpath(target.parent)).is_relative_to(root):
        raise ValidationError(
            f"artifact file path {rel!r} would be written outside {str(root)!r} "
            "through a symlink in the destination"
        )
    if target.is_dir() and not target.is_symlink():
        raise ValidationError(f"cannot write {rel!r}: a directory is in its place")
    for ancestor in target.parents:
        if ancestor == root:
            break
        if os.path.lexists(ancestor) and not ancestor.is_dir():
            raise ValidationError(f"cannot write {rel!r}: {ancestor} is not a directory")
    return target


def _holds(target: Path, entry: ArtifactFile) -> bool:
    """Whether ``target`` is already a regular file with exactly the entry's content."""
    try:
        if target.is_symlink() or not target.is_file() or target.stat().st_size != entry.size:
            return False
        hasher = hashlib.sha256()
        with open(target, "rb") as handle:
            while block := handle.read(BLOCK_SIZE):
                hasher.update(block)
    except OSError:
        return False
    return hasher.hexdigest() == entry.digest
