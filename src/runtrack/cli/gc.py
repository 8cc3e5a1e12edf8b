"""``runtrack gc``: delete artifact blobs that no recorded version references."""

from __future__ import annotations

import time

import click

from ._common import emit_json, handle_errors, json_option


@click.command()
@click.option("--dry-run", is_flag=True, help="Only report what would be deleted.")
@click.option(
    "--grace",
    default=3600.0,
    show_default=True,
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Keep blobs put more recently than this: an upload in progress has not "
    "recorded its version yet.",
)
@json_option
@handle_errors
def gc(dry_run: bool, grace: float, as_json: bool) -> None:
    """Delete blobs referenced by no artifact version and by no unsent journal."""
    from .. import settings as settings_mod
    from ..client._state import STATE
    from ..client._sync import find_journals
    from ..errors import ArtifactNotFoundError

    s = settings_mod.load()
    store = STATE.store(s)
    arts = STATE.artifact_store(s)
    keep = store.referenced_digests() | _journal_digests(find_journals(s.journal_dir))
    cutoff = time.time() - grace
    deleted, kept_recent, freed, kept = [], 0, 0, 0
    for digest in list(arts.iter_digests()):
        if digest in keep:
            kept += 1
            continue
        try:
            if arts.last_put(digest) > cutoff:
                kept_recent += 1
                continue
            size = arts.size(digest)
            if not dry_run:
                arts.delete(digest)
        except ArtifactNotFoundError:
            continue
        deleted.append(digest)
        freed += size
    if as_json:
        emit_json(
            {
                "dry_run": dry_run,
                "deleted": deleted,
                "bytes": freed,
                "kept_referenced": kept,
                "kept_recent": kept_recent,
            }
        )
        return
    verb = "would delete" if dry_run else "deleted"
    click.echo(
        f"{verb} {len(deleted)} blobs ({freed:,} bytes); kept {kept} referenced"
        + (f" and {kept_recent} put within the last {grace:g} s" if kept_recent else "")
    )


def _journal_digests(paths: list) -> set[str]:  # type: ignore[type-arg]
    """Blobs of artifacts logged by runs not yet shipped (offline or interrupted)."""
    from ..client._journal import JournalReader
    from ..entities import ArtifactOp, OpRecord

    out: set[str] = set()
    for p in paths:
        try:
            for batch in JournalReader(p).read_all():
                for rec in batch:
                    if isinstance(rec, OpRecord) and isinstance(rec.op, ArtifactOp):
                        out.update(f.digest for f in rec.op.spec.files)
        except OSError:
            continue
    return out
