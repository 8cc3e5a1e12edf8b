"""The models package is cheap to import and sits low in the layers: it may import the
standard library and ``runtrack.errors``; model libraries only inside the code that needs
them (``_torch_export`` is imported only to load a torch.export copy)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "runtrack"
HEAVY = ("numpy", "torch", "sklearn", "joblib", "xgboost", "lightgbm", "pandas", "scipy")


def _top_level_imports(path: Path) -> list[str]:
    names = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            prefix = "runtrack." if node.level == 2 else "runtrack.models." if node.level else ""
            names.append(prefix + (node.module or ""))
    return names


def test_models_imports_only_stdlib_and_errors_at_module_level() -> None:
    problems = []
    for path in sorted((SRC / "models").glob("*.py")):
        for name in _top_level_imports(path):
            top = name.split(".")[0]
            allowed = (
                top == "__future__"
                or top in sys.stdlib_module_names
                or name == "runtrack.errors"
                or name.startswith("runtrack.models.")
                or (path.name == "_torch_export.py" and top == "torch")
            )
            if not allowed:
                problems.append(f"{path.name} imports {name}")
    assert problems == []


def test_no_layer_above_is_imported_anywhere() -> None:
    banned = ("runtrack.client", "runtrack.store", "runtrack.server", "runtrack.cli")
    for path in (SRC / "models").glob("*.py"):
        text = path.read_text()
        for name in banned:
            assert f"import {name}" not in text and f"from {name}" not in text, path.name
        allowed = text.replace("from ..errors", "").replace("from .._packages", "")
        assert "from .." not in allowed, path.name


def test_import_and_plain_save_load_no_heavy_library(tmp_path: Path) -> None:
    code = (
        "import sys, json\n"
        "import runtrack, runtrack.models as m\n"
        f"after_import = [x for x in {HEAVY!r} if x in sys.modules]\n"
        f"m.save_model({{'w': [1, 2]}}, {str(tmp_path / 'm')!r}, input_example=[[1.0, 2.0]])\n"
        f"m.load_model_dir({str(tmp_path / 'm')!r})\n"
        "print(json.dumps([after_import, 'torch' in sys.modules, 'sklearn' in sys.modules]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == [[], False, False]
