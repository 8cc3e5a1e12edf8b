"""``runtrack rm RUN...``: delete runs and all they recorded."""

from __future__ import annotations

import sys
from typing import Any

import click

from ._common import emit_json, handle_errors, json_option, open_api, resolve_run
from ._registry import confirm


@click.command()
@click.argument("run_refs", metavar="RUN...", nargs=-1, required=True)
@click.option(
    "--force",
    is_flag=True,
    help="Delete even a run that is still running or made a registered model version "
    "(the version stays, without its run).",
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@json_option
@handle_errors
def rm(run_refs: tuple[str, ...], force: bool, yes: bool, as_json: bool) -> None:
    """Delete RUN (an id, a unique id prefix, or 'latest') with its config, metrics, logs
    and lineage edges. Artifact versions it produced stay (their blobs are shared). Asks
    for confirmation on a terminal unless --yes (or --json)."""
    from ..errors import ConflictError, RuntrackError

    api = open_api()
    runs: list[Any] = []
    for ref in run_refs:  # every reference resolved before anything is deleted
        view = resolve_run(api, ref)
        if view.id not in {r.id for r in runs}:
            runs.append(view)
    listing = ", ".join(f"{r.name} ({r.id}, {r.status})" for r in runs)
    confirm(f"delete {len(runs)} run(s): {listing}?", yes=yes, as_json=as_json)
    deleted: list[dict[str, str]] = []
    refused: list[dict[str, str]] = []
    for r in runs:
        try:
            if r.status == "running" and not force:
                raise ConflictError(
                    f"run {r.id} is still running: stop it first, or pass --force to delete "
                    "it anyway"
                )
            api.delete_run(r.id, force=force)
        except RuntrackError as exc:
            if len(runs) == 1:
                raise
            refused.append({"id": r.id, "code": exc.code, "message": exc.message})
            continue
        deleted.append({"id": r.id, "name": r.name, "project": r.project})
    if as_json:
        emit_json({"deleted": deleted, "refused": refused})
    else:
        for d in deleted:
            click.echo(f"deleted run {d['name']} ({d['id']}) of project {d['project']}")
        for f in refused:
            click.echo(f"error: {f['message']}", err=True)
    if refused:
        sys.exit(1)
