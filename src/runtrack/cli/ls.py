"""``runtrack ls``: runs as a table or JSON."""

from __future__ import annotations

from collections import Counter
from typing import Any

import click

from ._common import (
    STATUS_STYLE,
    duration,
    emit_json,
    fmt_value,
    handle_errors,
    json_option,
    local_time,
    open_api,
)


@click.command()
@click.argument("project", required=False)
@click.option(
    "--filter",
    "-f",
    "filter_",
    metavar="EXPR",
    help='Run query, e.g. "metrics.auc > 0.9 and config.lr < 1e-3".',
)
@click.option(
    "--sort",
    "-s",
    "sort",
    metavar="EXPR",
    multiple=True,
    help='Order, e.g. "metrics.auc desc" (repeatable). Default: newest first.',
)
@click.option(
    "--limit",
    "-n",
    default=50,
    show_default=True,
    type=click.IntRange(min=0),
    help="At most this many runs (0: all).",
)
@click.option("--offset", default=0, type=click.IntRange(min=0), help="Skip this many runs.")
@click.option(
    "--columns",
    "-c",
    metavar="FIELDS",
    help="Comma-separated extra columns, e.g. config.lr,metrics.auc,tags.stage.",
)
@json_option
@handle_errors
def ls(
    project: str | None,
    filter_: str | None,
    sort: tuple[str, ...],
    limit: int,
    offset: int,
    columns: str | None,
    as_json: bool,
) -> None:
    """List runs of PROJECT (all projects if omitted)."""
    api = open_api()
    runs = api.runs(
        project, filter=filter_, order_by=list(sort), limit=limit or None, offset=offset
    )
    if as_json:
        emit_json([run_json(r.record) for r in runs])
        return
    _table(runs, project, columns)


def run_json(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "project": r.project,
        "status": r.status,
        "user": r.user,
        "host": r.host,
        "start_time": r.start_time,
        "end_time": r.end_time,
        "duration": r.duration,
        "group": r.group,
        "parent_id": r.parent_id,
        "tags": dict(r.tags),
        "notes": r.notes,
        "config": r.config.to_dict(),
        "summary": r.summary.to_dict(),
        "metrics": {
            k: {
                "last": m.last,
                "min": m.min,
                "max": m.max,
                "count": m.count,
                "last_step": m.last_step,
            }
            for k, m in r.metrics.items()
        },
    }


def _pick_columns(runs: list[Any]) -> list[str]:
    """Up to 4 metrics most runs have and up to 4 config keys whose values differ."""
    from ..configdoc import flatten

    metric_counts: Counter[str] = Counter()
    config_values: dict[str, set[str]] = {}
    for r in runs:
        # system metrics and the audit's scores are not what a run table is for
        metric_counts.update(k for k in r.summary if not k.startswith(("system/", "audit.")))
        for k, v in flatten(r.config.to_dict()).items():
            config_values.setdefault(k, set()).add(repr(v))
    metrics = [f"metrics.{k}" for k, _ in metric_counts.most_common(4)]
    varying = [f"config.{k}" for k, vals in config_values.items() if len(vals) > 1][:4]
    return varying + metrics


def _cell(r: Any, field: str) -> str:
    kind, _, key = field.partition(".")
    if kind == "metrics":
        return fmt_value(r.summary.get(key))
    if kind in ("config", "params"):
        return fmt_value(r.config.get_path(key))
    if kind == "tags":
        return fmt_value(r.tags.get(key))
    return fmt_value(getattr(r.record, key, None))


def _table(runs: list[Any], project: str | None, columns: str | None) -> None:
    import sys

    from rich.console import Console
    from rich.table import Table

    # piped output (grep, files) gets full lines instead of an 80-column squeeze
    console = Console(width=None if sys.stdout.isatty() else 240)
    if not runs:
        console.print(
            "no runs"
            + (f" in project {project}" if project else "")
            + " (start one with runtrack.init())"
        )
        return
    extra = [c.strip() for c in columns.split(",") if c.strip()] if columns else _pick_columns(runs)
    table = Table(box=None, header_style="bold")
    for head in (
        "id",
        "name",
        *(["project"] if project is None else []),
        "status",
        "started",
        "duration",
        *extra,
    ):
        table.add_column(
            head,
            no_wrap=head in ("id", "status"),
            overflow="ellipsis",
            justify="right" if "." in head else "left",
        )
    for r in runs:
        style = STATUS_STYLE.get(r.status, "")
        table.add_row(
            r.id,
            r.name,
            *([r.project] if project is None else []),
            f"[{style}]{r.status}[/]",
            local_time(r.start_time),
            duration(r.duration),
            *(_cell(r, c) for c in extra),
        )
    console.print(table)
