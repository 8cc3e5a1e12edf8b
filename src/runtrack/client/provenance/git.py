"""Git state of the code a run executes: commit, branch, remote, dirty flag and the diff.

Uses the ``git`` command line (no GitPython), four short calls with a timeout each, run
with ``GIT_OPTIONAL_LOCKS=0`` so that capturing never takes the index lock from under the
user's own git commands. ``.gitignore`` is respected: ignored files are never read.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import threading
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

__all__ = ["capture_git", "strip_credentials"]

MAX_SKIPPED_LISTED: Final = 1000
"""At most this many entries are listed in ``untracked_skipped``."""
_BINARY_SNIFF: Final = 8000  # git's own heuristic: a NUL byte in the first 8000 bytes
_DIFF_OPTIONS: Final = (
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--src-prefix=a/",
    "--dst-prefix=b/",
)


def capture_git(
    cwd: Path,
    *,
    diff_max_bytes: int,
    untracked_file_max_bytes: int,
    timeout: float = 10.0,
) -> dict[str, Any] | None:
    """The git state of the work tree containing ``cwd``, or None outside a repository.

    Returns a JSON-ready dict:

    * ``root``: the work tree's top directory; ``commit``: HEAD's hash (None before the
      first commit); ``branch``: None when HEAD is detached; ``remote``: the URL of the
      current branch's upstream remote, else ``origin``, else the only remote, else None,
      with credentials removed (see :func:`strip_credentials`);
    * ``dirty``: True when tracked files differ from HEAD or untracked (not ignored) files
      exist; None when ``git status`` did not answer within ``timeout``;
    * ``diff``: ``git diff HEAD`` (staged and unstaged changes; binary files are named,
      not inlined) followed by every untracked text file as a new-file diff, sorted by path;
      untracked files larger than ``untracked_file_max_bytes``, binary (a NUL byte, or not
      UTF-8), unreadable or beyond the cap are listed in ``untracked_skipped`` as
      ``{"path", "size", "reason"}`` (reason ``too_large``, ``binary``, ``unreadable``,
      ``not_a_file`` (a nested repository), ``diff_max_bytes``; at most
      :data:`MAX_SKIPPED_LISTED` entries);
    * ``diff_truncated``: True when the diff was cut at ``diff_max_bytes`` (UTF-8 bytes,
      at a line boundary); ``diff_sha256``: sha256 hex of the recorded ``diff`` text.

    Never raises for git's sake: a missing ``git`` executable, a directory that is not a
    repository or one git refuses to open give None; a slow call gives partial fields.
    """
    git = _Git(Path(cwd), timeout)
    top = git.run("rev-parse", "--show-toplevel")
    if top is None or not top.strip():
        return None
    root = Path(os.fsdecode(top.rstrip(b"\n")))
    git = _Git(root, timeout)

    status = git.run(
        "-c",
        "core.quotepath=off",
        "status",
        "--porcelain=v2",
        "--branch",
        "-z",
        "--untracked-files=all",
        "--no-renames",
    )
    commit, branch, dirty, untracked = _parse_status(status)
    remote = _pick_remote(git, branch)

    diff, truncated, skipped = _build_diff(
        git,
        root,
        commit,
        untracked,
        diff_max_bytes=diff_max_bytes,
        untracked_file_max_bytes=untracked_file_max_bytes,
    )
    return {
        "root": str(root),
        "commit": commit,
        "branch": branch,
        "remote": remote,
        "dirty": dirty,
        "diff": diff,
        "diff_truncated": truncated,
        "diff_sha256": hashlib.sha256(diff.encode("utf-8", "surrogatepass")).hexdigest(),
        "untracked_skipped": skipped,
    }


def strip_credentials(url: str) -> str:
    """Remove secrets from a remote URL.

    ``https://user:token@host/x`` -> ``https://host/x`` (for http(s) any user name goes,
    since it is often a token); ``ssh://git:pw@host/x`` -> ``ssh://git@host/x`` (the user
    name is kept, the password dropped). scp-style ``git@host:x`` and local paths are kept.
    """
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    if parts.scheme.lower() in ("http", "https", "ftp", "ftps"):
        netloc = hostport
    else:
        user = userinfo.partition(":")[0]
        netloc = f"{user}@{hostport}" if user else hostport
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


# --------------------------------------------------------------------------------------
class _Git:
    """Runs ``git`` in one directory; every failure is None, never an exception."""

    def __init__(self, cwd: Path, timeout: float) -> None:
        self.cwd = cwd
        self.timeout = timeout
        self.env = {
            **os.environ,
            "GIT_OPTIONAL_LOCKS": "0",
            "GIT_TERMINAL_PROMPT": "0",
            "LC_ALL": "C",
        }

    def run(self, *args: str, input: bytes | None = None) -> bytes | None:
        try:
            proc = subprocess.run(
                ["git", *args],
                cwd=self.cwd,
                env=self.env,
                input=input,
                capture_output=True,
                timeout=self.timeout,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return proc.stdout if proc.returncode == 0 else None

    def run_capped(self, *args: str, limit: int) -> tuple[bytes, bool] | None:
        """Stdout of a command read up to ``limit`` bytes: (data, was_cut)."""
        try:
            proc = subprocess.Popen(
                ["git", *args],
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except OSError:
            return None
        watchdog = threading.Timer(self.timeout, proc.kill)
        watchdog.daemon = True
        watchdog.start()
        try:
            assert proc.stdout is not None
            data = proc.stdout.read(limit + 1)
            cut = len(data) > limit
            if cut:
                proc.kill()
            proc.stdout.close()
            code = proc.wait()
        finally:
            watchdog.cancel()
        if not cut and code != 0:
            return None
        return data[:limit], cut


def _parse_status(
    raw: bytes | None,
) -> tuple[str | None, str | None, bool | None, list[str]]:
    """(commit, branch, dirty, untracked paths) from ``status --porcelain=v2 -z --branch``."""
    if raw is None:
        return None, None, None, []
    commit: str | None = None
    branch: str | None = None
    changed = False
    untracked: list[str] = []
    for entry in raw.split(b"\0"):
        if not entry:
            continue
        if entry.startswith(b"# branch.oid "):
            oid = entry[len(b"# branch.oid ") :].decode("ascii", "replace")
            commit = None if oid == "(initial)" else oid
        elif entry.startswith(b"# branch.head "):
            head = os.fsdecode(entry[len(b"# branch.head ") :])
            branch = None if head == "(detached)" else head
        elif entry.startswith(b"? "):
            untracked.append(os.fsdecode(entry[2:]))
        elif entry[:2] in (b"1 ", b"2 ", b"u "):
            changed = True
    untracked.sort()
    return commit, branch, changed or bool(untracked), untracked


def _pick_remote(git: _Git, branch: str | None) -> str | None:
    raw = git.run("config", "-z", "--get-regexp", r"^(remote\..*\.url|branch\..*\.remote)$")
    if not raw:
        return None
    urls: dict[str, str] = {}
    upstream: str | None = None
    for item in raw.split(b"\0"):
        key, _, value = os.fsdecode(item).partition("\n")
        if key.startswith("remote.") and key.endswith(".url"):
            urls.setdefault(key[len("remote.") : -len(".url")], value)
        elif branch is not None and key == f"branch.{branch}.remote":
            upstream = value
    for name in (upstream, "origin"):
        if name is not None and name in urls:
            return strip_credentials(urls[name])
    if len(urls) == 1:
        return strip_credentials(next(iter(urls.values())))
    return None


def _build_diff(
    git: _Git,
    root: Path,
    commit: str | None,
    untracked: list[str],
    *,
    diff_max_bytes: int,
    untracked_file_max_bytes: int,
) -> tuple[str, bool, list[dict[str, Any]]]:
    budget = max(0, diff_max_bytes)
    truncated = False
    base = commit
    if base is None:  # no commit yet: everything in the index is new
        tree = git.run("hash-object", "-t", "tree", "--stdin", input=b"")
        base = tree.decode("ascii").strip() if tree else None
    tracked = b""
    if base is not None:
        got = git.run_capped("diff", *_DIFF_OPTIONS, base, "--", limit=budget)
        if got is not None:
            tracked, truncated = got
            if truncated:
                tracked = _cut_at_line(tracked)
    pieces = [tracked.decode("utf-8", "replace")]
    used = len(tracked)

    skipped: list[dict[str, Any]] = []

    def skip(path: str, size: int | None, reason: str) -> None:
        if len(skipped) < MAX_SKIPPED_LISTED:
            skipped.append({"path": path, "size": size, "reason": reason})

    for rel in untracked:
        if truncated:
            skip(rel, None, "diff_max_bytes")
            continue
        text, size, reason = _read_untracked(root / rel, untracked_file_max_bytes)
        if reason is not None:
            skip(rel, size, reason)
            continue
        assert text is not None
        patch = _new_file_patch(rel, text, _mode_of(root / rel))
        encoded = len(patch.encode("utf-8", "surrogatepass"))
        if used + encoded > budget:
            truncated = True
            skip(rel, size, "diff_max_bytes")
            continue
        pieces.append(patch)
        used += encoded
    return "".join(pieces), truncated, skipped


def _cut_at_line(data: bytes) -> bytes:
    end = data.rfind(b"\n")
    return data[: end + 1] if end >= 0 else b""


def _read_untracked(path: Path, max_bytes: int) -> tuple[str | None, int | None, str | None]:
    """(text, size, skip reason). A symlink's "content" is its target, as git records it."""
    try:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            return os.readlink(path), info.st_size, None
        if not stat.S_ISREG(info.st_mode):
            return None, None, "not_a_file"
        if info.st_size > max_bytes:
            return None, info.st_size, "too_large"
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError:
        return None, None, "unreadable"
    if len(data) > max_bytes:  # grew while we looked
        return None, len(data), "too_large"
    if b"\0" in data[:_BINARY_SNIFF]:
        return None, len(data), "binary"
    try:
        return data.decode("utf-8"), len(data), None
    except UnicodeDecodeError:
        return None, len(data), "binary"


def _mode_of(path: Path) -> str:
    try:
        info = path.lstat()
    except OSError:
        return "100644"
    if stat.S_ISLNK(info.st_mode):
        return "120000"
    return "100755" if info.st_mode & stat.S_IXUSR else "100644"


def _new_file_patch(rel: str, text: str, mode: str) -> str:
    """The diff git would print for ``rel`` added with content ``text``."""
    head = f"diff --git a/{rel} b/{rel}\nnew file mode {mode}\n"
    if not text:
        return head
    lines = text.split("\n")
    missing_newline = lines[-1] != ""
    if not missing_newline:
        lines.pop()
    count = len(lines)
    hunk = "@@ -0,0 +1 @@" if count == 1 else f"@@ -0,0 +1,{count} @@"
    body = "".join(f"+{line}\n" for line in lines)
    tail = "\\ No newline at end of file\n" if missing_newline else ""
    return f"{head}--- /dev/null\n+++ b/{rel}\n{hunk}\n{body}{tail}"
