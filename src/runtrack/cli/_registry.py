"""What the artifact, model, lineage and delete commands share: JSON forms of the catalogue's
records (the wire forms of ``runtrack.protocol`` with times as ISO-8601 UTC strings, as
``ls --json`` prints them), sizes for people, a console, confirmation prompts."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import click

from ..entities import (
    AliasEvent,
    ArtifactInfo,
    ArtifactVersion,
    Lineage,
    ModelVersion,
    RegisteredModel,
)

project_option = click.option(
    "--project",
    "-p",
    metavar="PROJECT",
    help="Project of the artifact (default: RUNTRACK_PROJECT, or the one project holding it).",
)


def console() -> Any:
    from rich.console import Console

    # piped output (grep, files) gets full lines instead of an 80-column squeeze
    return Console(width=None if sys.stdout.isatty() else 200, highlight=False)


def table(*columns: str, title: str | None = None) -> Any:
    from rich.table import Table

    t = Table(box=None, header_style="bold", title=title, title_justify="left")
    for c in columns:
        t.add_column(c, justify="right" if c in ("size", "files", "versions") else "left")
    return t


def add_row(t: Any, *cells: Any) -> None:
    """A table row whose text cells are shown as they are (never read as Rich markup:
    metadata, reasons and paths may hold brackets); give ``Text.from_markup(...)`` for
    styled cells."""
    from rich.text import Text

    t.add_row(*(Text(c) if isinstance(c, str) else c for c in cells))


def styled(markup: str) -> Any:
    from rich.text import Text

    return Text.from_markup(markup)


def cell(value: Any) -> str:
    """A value for a table: lists and mappings as compact JSON."""
    import json

    from ._common import clean_json, fmt_value

    if isinstance(value, list | tuple) or hasattr(value, "items"):
        return json.dumps(clean_json(thaw(value)), ensure_ascii=False)
    return fmt_value(value)


def thaw(value: Any) -> Any:
    if hasattr(value, "items"):
        return {str(k): thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(v) for v in value]
    return value


def human_size(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def iso(ts: float | datetime | None) -> str | None:
    """ISO-8601 in UTC, the form ``ls --json`` gives datetimes."""
    if ts is None:
        return None
    if isinstance(ts, datetime):
        return ts.astimezone(UTC).isoformat()
    return datetime.fromtimestamp(ts, UTC).isoformat()


def interactive() -> bool:
    return sys.stdin.isatty()


def confirm(question: str, *, yes: bool, as_json: bool) -> None:
    """Ask on a terminal (unless ``--yes`` or ``--json``); a no aborts with exit code 1."""
    if yes or as_json or not interactive():
        return
    if not click.confirm(question, default=False, err=True):
        click.echo("aborted: nothing was deleted", err=True)
        sys.exit(1)


# -- JSON forms ------------------------------------------------------------------------
def version_json(v: ArtifactVersion) -> dict[str, Any]:
    from ..protocol import version_to_wire

    d = version_to_wire(v)
    d["created_at"] = iso(v.created_at)
    d["ref"] = v.ref
    d["full_ref"] = v.full_ref
    return d


def info_json(a: ArtifactInfo) -> dict[str, Any]:
    from ..protocol import artifact_info_to_wire

    d = artifact_info_to_wire(a)
    d["created_at"] = iso(a.created_at)
    return d


def event_json(e: AliasEvent) -> dict[str, Any]:
    from ..protocol import alias_event_to_wire

    d = alias_event_to_wire(e)
    d["at"] = iso(e.at)
    return d


def model_version_json(m: ModelVersion) -> dict[str, Any]:
    from ..protocol import model_version_to_wire

    d = model_version_to_wire(m)
    d["created_at"] = iso(m.created_at)
    d["artifact"] = version_json(m.artifact)
    d["ref"] = m.ref
    return d


def registered_model_json(m: RegisteredModel) -> dict[str, Any]:
    from ..protocol import registered_model_to_wire

    d = registered_model_to_wire(m)
    d["created_at"] = iso(m.created_at)
    return d


def lineage_json(g: Lineage) -> dict[str, Any]:
    from ..protocol import lineage_to_wire

    d = lineage_to_wire(g)
    d["edges"] = [{"source": e.source, "target": e.target, "kind": e.kind} for e in g.edges]
    return d


def aliases_text(aliases: Any) -> str:
    """``{"prod": "v3"}`` -> ``prod=v3``; a sequence -> comma-separated."""
    if hasattr(aliases, "items"):
        return ", ".join(f"{k}={v}" for k, v in sorted(aliases.items())) or "-"
    return ", ".join(aliases) or "-"
