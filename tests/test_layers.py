"""The import rules of docs/architecture.md, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "runtrack"

# package -> packages it must never import
FORBIDDEN = {
    "store": ("runtrack.client", "runtrack.cli"),
    "artifacts": ("runtrack.client", "runtrack.cli", "runtrack.store"),
    "query": ("runtrack.client", "runtrack.cli", "runtrack.store", "runtrack.artifacts"),
    "client": ("runtrack.cli", "runtrack.server"),
    "server": ("runtrack.client", "runtrack.cli"),
    "stats": ("runtrack.client", "runtrack.cli", "runtrack.server", "runtrack.store"),
    "audit": ("runtrack.client", "runtrack.cli", "runtrack.server", "runtrack.store"),
    "compare": ("runtrack.cli", "runtrack.server"),
    "reproduce": ("runtrack.cli", "runtrack.server"),
    "sweeps": ("runtrack.cli", "runtrack.server"),
    "models": (
        "runtrack.client",
        "runtrack.cli",
        "runtrack.server",
        "runtrack.store",
        "runtrack.artifacts",
    ),
}
STDLIB_ONLY = (
    "entities.py",
    "errors.py",
    "settings.py",
    "protocol.py",
    "configdoc.py",
    "validation.py",
    "ids.py",
)


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    pkg = "runtrack." + ".".join(path.relative_to(SRC).with_suffix("").parts[:-1])
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.rstrip(".").split(".")
                base = base[: len(base) - node.level + 1]
                out.append(".".join([*base, node.module] if node.module else base))
            elif node.module:
                out.append(node.module)
    return out


def test_layers() -> None:
    problems = []
    for pkg, banned in FORBIDDEN.items():
        for path in (SRC / pkg).rglob("*.py"):
            for name in _imports(path):
                if any(name == b or name.startswith(b + ".") for b in banned):
                    problems.append(f"{path.relative_to(SRC)} imports {name}")
    assert problems == []


def test_base_modules_use_only_the_standard_library() -> None:
    import sys

    for fname in STDLIB_ONLY:
        for name in _imports(SRC / fname):
            top = name.split(".")[0]
            assert top in ("runtrack", "__future__") or top in sys.stdlib_module_names, (
                f"{fname} imports {name}"
            )
