"""``runtrack sync``: ship offline runs and journals of dead processes, exactly once."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ._common import emit_json, handle_errors, json_option

if TYPE_CHECKING:
    from ..artifacts.base import ArtifactStore
    from ..client._sync import ArtifactTarget, SyncResult
    from ..store.base import TrackingStore


@click.command()
@click.argument("journals", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--all", "all_", is_flag=True, help="Also ship journals recorded for another store to this one."
)
@json_option
@handle_errors
def sync(journals: tuple[Path, ...], all_: bool, as_json: bool) -> None:
    """Ship unsent journals (offline runs, runs whose process died) to the current store.

    With no JOURNALS, every journal under RUNTRACK_DIR/journals meant for this store
    (or recorded offline) is shipped. Journals of running processes are skipped. Records
    the store already has are skipped, so syncing twice never duplicates anything.
    """
    from .. import settings as settings_mod
    from ..client._state import STATE
    from ..client._sync import find_journals, journal_header, sync_all

    s = settings_mod.load()
    store = STATE.store(s)
    arts = STATE.artifact_store(s)  # where offline runs kept their blobs
    dest = STATE.artifact_target(s) if s.url else arts  # a server: each run's project
    paths = list(journals) or find_journals(s.journal_dir)
    if not journals and not all_:
        mine = []
        for p in paths:
            h = journal_header(p)
            if h is None or h.get("target") in (None, s.store_url):
                mine.append(p)
        paths = mine
    if as_json or not paths:
        results = sync_all(paths, store, local_artifacts=arts, artifacts=dest)
    else:
        results = _with_progress(paths, store, arts, dest)
    if as_json:
        emit_json({"synced": [r.to_json() for r in results]})
        return
    if not results:
        click.echo("nothing to sync")
        return
    for r in results:
        what = f"{r.records} records" + (f", {r.skipped} already stored" if r.skipped else "")
        extra = " (marked crashed)" if r.crashed else ""
        note = f": {r.message}" if r.message else ""
        click.echo(f"{r.status:7} {r.run_id or '-':16} {what}{extra}{note}")
    if any(r.status == "failed" for r in results):
        raise SystemExit(1)


def _with_progress(
    paths: list[Path], store: TrackingStore, arts: ArtifactStore, dest: ArtifactTarget
) -> list[SyncResult]:
    from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn

    from ..client._sync import sync_all

    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn()) as bar:
        tasks: dict[Path, TaskID] = {}

        def progress(path: Path, done: int, total: int) -> None:
            if path not in tasks:
                tasks[path] = bar.add_task(path.name[:40], total=total)
            bar.update(tasks[path], completed=done, total=total)

        return sync_all(paths, store, local_artifacts=arts, artifacts=dest, on_progress=progress)
