"""Docs that cannot rot: generated references are current, every setting and public name
is documented, the README gives the two commands CI and users run."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import runtrack
from runtrack.settings import SETTINGS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _load(name: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(name, DOCS / f"{name}.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_settings_doc_is_current_and_complete() -> None:
    text = (DOCS / "settings.md").read_text()
    hint = "run: python docs/gen_settings.py > docs/settings.md"
    assert text == _load("gen_settings").render(), hint
    for s in SETTINGS:
        assert f"`{s.env}`" in text


def test_cli_doc_is_current() -> None:
    text = (DOCS / "cli.md").read_text()
    assert text == _load("gen_cli").render(), "run: python docs/gen_cli.py > docs/cli.md"


def test_public_names_are_documented() -> None:
    text = (DOCS / "api.md").read_text()
    for name in runtrack.__all__:
        if name.startswith("__"):
            continue
        assert name in text, f"{name} is public but not in docs/api.md"


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "bash scripts/demo.sh" in readme and "bash scripts/test.sh" in readme
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
    for doc in ("user-guide.md", "api.md", "query.md", "cli.md", "settings.md", "architecture.md"):
        assert (DOCS / doc).exists() and doc in readme


def test_server_limits_table_is_current() -> None:
    mod = _load("gen_limits")
    text = (DOCS / "server.md").read_text()
    assert mod.updated(text) == text, "run: python docs/gen_limits.py"
