"""User code saved beside a model (``code_paths``) and put on ``sys.path`` to load it.

Each path (a file or a directory) is copied to ``code/<its name>``; at load, ``code/`` is
put first on ``sys.path``, so ``code/train.py`` imports as ``train`` and
``code/mypkg/`` as ``mypkg``.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ..errors import ValidationError

__all__ = ["CODE_DIR", "CodeCopy", "activate_code", "copy_code", "module_for_file"]

CODE_DIR: Final = "code"
_IGNORE: Final = shutil.ignore_patterns("__pycache__", "*.pyc", ".git")


@dataclass(frozen=True, slots=True)
class CodeCopy:
    """One copied path: where it came from (resolved) and its POSIX path in the model dir."""

    source: Path
    relpath: str


def copy_code(paths: Sequence[str | os.PathLike[str]], directory: Path) -> list[CodeCopy]:
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    copies: list[CodeCopy] = []
    for raw in paths:
        source = Path(raw).resolve()
        if not source.exists():
            raise ValidationError(f"code path {os.fspath(raw)!r} does not exist")
        rel = f"{CODE_DIR}/{source.name}"
        if any(c.relpath == rel for c in copies):
            raise ValidationError(
                f"two code paths are named {source.name!r}: they would import as the same "
                "module; pass their common parent directory instead"
            )
        target = directory / CODE_DIR / source.name
        target.parent.mkdir(exist_ok=True)
        try:
            if source.is_dir():
                shutil.copytree(source, target, ignore=_IGNORE)
            else:
                shutil.copy2(source, target)
        except OSError as exc:
            raise ValidationError(f"cannot copy code path {os.fspath(raw)!r}: {exc}") from None
        copies.append(CodeCopy(source, rel))
    return copies


def module_for_file(file: Path, copies: Sequence[CodeCopy]) -> str | None:
    """The import name ``file`` (a ``.py`` file) has once the copied code is on sys.path."""
    file = file.resolve()
    if file.suffix != ".py":
        return None
    for copy in copies:
        if copy.source == file:
            return file.stem
        if copy.source.is_dir() and file.is_relative_to(copy.source):
            parts = file.relative_to(copy.source.parent).with_suffix("").parts
            if all(p.isidentifier() for p in parts):
                return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    return None


def activate_code(directory: Path, relpaths: Sequence[str]) -> None:
    """Put the model's ``code/`` first on ``sys.path`` (once) when it has code paths."""
    if not relpaths:
        return
    entry = os.fspath(Path(directory).resolve() / CODE_DIR)
    if entry not in sys.path:
        sys.path.insert(0, entry)
