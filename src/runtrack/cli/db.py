"""``runtrack db``: the schema of a store's database."""

from __future__ import annotations

import click

from ._common import emit_json, handle_errors, json_option

db_option = click.option(
    "--db",
    "db_url",
    metavar="URL",
    help="Database URL (default: RUNTRACK_DB or the embedded store).",
)


@click.group()
def db() -> None:
    """Show the database schema revision or upgrade it."""


@db.command()
@db_option
@json_option
@handle_errors
def current(db_url: str | None, as_json: bool) -> None:
    """Print the schema revision of the database and the one this runtrack needs."""
    from .. import settings as settings_mod
    from ..store.sql._engine import make_engine
    from ..store.sql._migrate import current_revision
    from ..store.sql.schema import SCHEMA_REVISION

    url = db_url or settings_mod.load().db_url
    engine = make_engine(url)
    try:
        rev = current_revision(engine)
    finally:
        engine.dispose()
    doc = {
        "database": engine.url.render_as_string(hide_password=True),
        "revision": rev,
        "required": SCHEMA_REVISION,
        "up_to_date": rev == SCHEMA_REVISION,
    }
    if as_json:
        emit_json(doc)
    else:
        state = "up to date" if rev == SCHEMA_REVISION else "needs `runtrack db upgrade`"
        click.echo(
            f"{doc['database']}: revision {rev or '(empty)'}; runtrack needs "
            f"{SCHEMA_REVISION} ({state})"
        )


@db.command()
@db_option
@json_option
@handle_errors
def upgrade(db_url: str | None, as_json: bool) -> None:
    """Migrate the database to this runtrack's schema (back it up first)."""
    from .. import settings as settings_mod
    from ..store.sql._engine import make_engine, translate_errors
    from ..store.sql._migrate import upgrade as do_upgrade

    url = db_url or settings_mod.load().db_url
    engine = make_engine(url)
    try:
        with translate_errors("upgrading the schema"):
            before, after = do_upgrade(engine)
    finally:
        engine.dispose()
    if as_json:
        emit_json({"from": before, "to": after})
    elif before == after:
        click.echo(f"already at revision {after}")
    else:
        click.echo(f"upgraded from {before or '(empty)'} to {after}")
