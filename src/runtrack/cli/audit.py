"""``runtrack audit RUN``: how reproducible a run is, check by check, with the fixes."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from ._common import emit_json, handle_errors, json_option, open_api, resolve_run

if TYPE_CHECKING:
    from ..audit import AuditResult


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.option(
    "--no-record",
    "no_record",
    is_flag=True,
    help="Only show the result; do not store it on the run.",
)
@click.option(
    "--fail-under",
    type=click.IntRange(0, 100),
    metavar="SCORE",
    help="Exit with status 3 when the score is below SCORE (for CI).",
)
@json_option
@handle_errors
def audit(run_ref: str, no_record: bool, fail_under: int | None, as_json: bool) -> None:
    """Audit RUN (an id, a unique id prefix, or 'latest'): is what it recorded enough to
    run it again? Checks code, environment, inputs, seeds, determinism settings, config
    and hardware, each pass/fail with how to fix it, and scores 0-100. The result is
    stored on the run as summary values audit.score and audit.<check> (1/0), so
    `runtrack ls --filter "audit.score >= 80"` finds audited runs and a registry gate
    {"audit_score": 80} can require it; --no-record only shows it."""
    api = open_api()
    run_id = resolve_run(api, run_ref).id
    result = api.audit(run_id, record=not no_record)
    if as_json:
        emit_json(result.to_json())
    else:
        _print(result)
    if fail_under is not None and result.score < fail_under:
        sys.exit(3)


def _print(result: AuditResult) -> None:
    from ._registry import add_row, console, styled, table

    con = console()
    t = table("", "check", "points", "detail", "fix", title=f"audit of run {result.run_id}")
    for c in result.checks:
        add_row(
            t,
            styled("[green]✓[/]" if c.passed else "[red]✗[/]"),
            c.title,
            f"{c.points}/{c.weight}",
            c.detail,
            c.fix or "-",
        )
    con.print(t)
    score = result.score
    style = "green" if score >= 80 else "yellow" if score >= 50 else "red"
    con.print(styled(f"score [bold {style}]{score}[/]/100"))
    if result.recorded:
        con.print(
            f"recorded on run {result.run_id}: summary audit.score (filter: audit.score >= 80)"
        )
    else:
        con.print("not recorded (--no-record)")
