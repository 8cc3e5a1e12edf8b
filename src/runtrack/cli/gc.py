"""``runtrack gc``: delete artifact blobs that no recorded version references.

Safe while runs record versions: gc works in rounds that writers wait for and check
after (``runtrack.store.gc``). Where it runs:

* embedded (default): the store and artifacts under ``RUNTRACK_DIR`` (or ``RUNTRACK_DB``);
  blobs of this machine's unsent journals are kept too;
* ``RUNTRACK_URL`` set: on the team server (``POST /api/v1/maintenance/gc``, for server
  administrators), which reports back;
* ``--db URL --artifacts URL``: a server deployment's database and bucket (or directory)
  directly, e.g. from an operator's machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ._common import emit_json, handle_errors, json_option

if TYPE_CHECKING:
    from ..artifacts.base import ArtifactStore
    from ..client._journal import JournalReader
    from ..store.base import TrackingStore


@click.command()
@click.option("--dry-run", is_flag=True, help="Only report what would be deleted, and its size.")
@click.option(
    "--grace",
    default=3600.0,
    show_default=True,
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Keep blobs put more recently than this (gc is safe without it; it spares blobs of "
    "uploads whose version will be recorded later, e.g. by offline runs).",
)
@click.option(
    "--db",
    "db_url",
    metavar="URL",
    help="Collect in this database (with --artifacts): a server deployment's, directly.",
)
@click.option(
    "--artifacts",
    "artifacts_url",
    metavar="URL",
    help="The artifact store of --db: a directory or s3://bucket/prefix.",
)
@json_option
@handle_errors
def gc(
    dry_run: bool, grace: float, db_url: str | None, artifacts_url: str | None, as_json: bool
) -> None:
    """Delete blobs referenced by no artifact version and by no unsent journal.

    Safe while runs log artifacts: it works in rounds of up to 1,000 blobs that writers
    of versions wait for and check after. With RUNTRACK_URL set it runs on the team server
    (administrators only); --db and --artifacts name a deployment's database and artifact
    store to collect in directly.
    """
    from .. import settings as settings_mod
    from ..errors import ValidationError

    s = settings_mod.load()
    if (db_url is None) != (artifacts_url is None):
        raise ValidationError(
            "give --db and --artifacts together: blobs are deleted from the artifact store "
            "unless the versions in that very database reference them"
        )
    if db_url is None and s.url:
        doc = _on_server(s, dry_run=dry_run, grace=grace, quiet=as_json)
    else:
        doc = _here(s, db_url, artifacts_url, dry_run=dry_run, grace=grace, quiet=as_json)
    if as_json:
        emit_json(doc)
        return
    verb = "would delete" if dry_run else "deleted"
    kept = doc["kept_referenced"]
    recent = doc["kept_recent"]
    click.echo(
        f"{verb} {len(doc['deleted'])} blobs ({doc['bytes']:,} bytes); kept {kept} referenced"
        + (f" and {recent} put within the last {grace:g} s" if recent else "")
    )


def _on_server(s: Any, *, dry_run: bool, grace: float, quiet: bool) -> dict[str, Any]:
    from ..client._state import STATE
    from ..store.rest import RestStore

    store = STATE.store(s)
    assert isinstance(store, RestStore)
    with _status("collecting on the server", quiet):
        return store.collect_garbage(dry_run=dry_run, grace=grace)


def _here(
    s: Any,
    db_url: str | None,
    artifacts_url: str | None,
    *,
    dry_run: bool,
    grace: float,
    quiet: bool,
) -> dict[str, Any]:
    from ..client._state import STATE
    from ..store.gc import collect_garbage

    store: TrackingStore
    arts: ArtifactStore
    if db_url is not None and artifacts_url is not None:
        from ..artifacts.registry import open_artifact_store
        from ..store.sql.store import SqlStore

        store, arts = SqlStore(db_url), open_artifact_store(artifacts_url)
    else:
        store, arts = STATE.store(s), STATE.artifact_store(s)
    journals = _JournalBlobs(s.journal_dir)
    try:
        with _ProgressBar(quiet) as progress:
            report = collect_garbage(
                store, arts, grace=grace, dry_run=dry_run, keep=journals, progress=progress
            )
    finally:
        if db_url is not None:
            store.close()
    return report.to_json()


class _JournalBlobs:
    """The blobs of artifact versions in this machine's unsent journals, read again at
    every gc round (only what each journal gained since the last round)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._seen: dict[Path, tuple[JournalReader, set[str]]] = {}

    def __call__(self) -> set[str]:
        from ..client._journal import JournalReader
        from ..client._sync import find_journals
        from ..entities import ArtifactOp, OpRecord

        out: set[str] = set()
        present = find_journals(self.directory)
        for path in present:
            reader, digests = self._seen.setdefault(path, (JournalReader(path), set()))
            try:
                while batch := reader.read(10_000):
                    for rec in batch:
                        if isinstance(rec, OpRecord) and isinstance(rec.op, ArtifactOp):
                            digests.update(f.digest for f in rec.op.spec.files)
            except (OSError, ValueError, KeyError):
                pass  # shipped and deleted meanwhile, or damaged after what was read
            out |= digests
        for gone in set(self._seen) - set(present):
            del self._seen[gone]
        return out


class _ProgressBar:
    """A Rich progress bar on a terminal (blobs looked at), nothing otherwise."""

    def __init__(self, quiet: bool) -> None:
        self._progress: Any = None
        self._task: Any = None
        if not quiet:
            from rich.console import Console

            if Console(stderr=True).is_terminal:
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

                self._progress = Progress(
                    TextColumn("gc"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    console=Console(stderr=True),
                    transient=True,
                )

    def __enter__(self) -> Any:
        if self._progress is None:
            return None
        self._progress.start()
        self._task = self._progress.add_task("blobs", total=None)

        def update(done: int, total: int) -> None:
            self._progress.update(self._task, completed=done, total=total)

        return update

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


def _status(text: str, quiet: bool) -> Any:
    import contextlib

    if quiet:
        return contextlib.nullcontext()
    from rich.console import Console

    console = Console(stderr=True)
    return console.status(text) if console.is_terminal else contextlib.nullcontext()
