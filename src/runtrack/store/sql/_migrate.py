"""Schema versions: create a fresh database, check an existing one, upgrade on request.

The schema is owned by the Alembic migrations shipped in ``migrations/``. Opening a store
checks the database's revision against ``schema.SCHEMA_REVISION`` without importing
Alembic (a fast path for every ``runtrack.init``); Alembic is loaded only to migrate.
Migrations hold a lock (a file lock beside a SQLite database, an advisory lock on
PostgreSQL) so that processes opening a new database at once do not race.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url

from ...errors import SchemaVersionError
from .schema import SCHEMA_REVISION

_PG_LOCK_KEY = 0x72756E74  # "runt"
MIGRATIONS = Path(__file__).parent / "migrations"


def current_revision(engine: Engine) -> str | None:
    """The database's schema revision; None for an empty database."""
    with engine.connect() as conn:
        insp = inspect(conn)
        if not insp.has_table("alembic_version"):
            if insp.has_table("runs"):
                raise SchemaVersionError(
                    f"{_where(engine)} has runtrack-like tables but no schema version; "
                    "it was not created by runtrack"
                )
            return None
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        return None if row is None else str(row[0])


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Migrate to ``revision``; returns (from, to)."""
    import logging

    from alembic import command
    from alembic.config import Config

    # alembic reports each step at INFO; an app that logs INFO to the console (Hydra's
    # jobs do) would print a dozen lines on a fresh store
    logging.getLogger("alembic").setLevel(logging.WARNING)
    with _migration_lock(engine):
        before = current_revision(engine)
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
        if engine.dialect.name == "postgresql":
            # fresh statistics: the key/value tables misplan badly without any
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("ANALYZE"))
        after = current_revision(engine)
    return before, after or ""


def ensure_schema(engine: Engine, *, auto_upgrade: bool) -> None:
    """Create the schema in an empty database; refuse (or upgrade) an outdated one."""
    rev = current_revision(engine)
    if rev == SCHEMA_REVISION:
        return
    if rev is None or auto_upgrade:
        if rev is not None and not _known(rev):
            raise _newer(engine, rev)
        upgrade(engine)
        return
    if not _known(rev):
        raise _newer(engine, rev)
    raise SchemaVersionError(
        f"{_where(engine)} has schema revision {rev}; this runtrack needs {SCHEMA_REVISION}. "
        "Back it up, then run `runtrack db upgrade` (with --db URL for this database)."
    )


def _known(rev: str) -> bool:
    return any(p.name.startswith(f"{rev}_") for p in (MIGRATIONS / "versions").glob("*.py"))


def _newer(engine: Engine, rev: str) -> SchemaVersionError:
    return SchemaVersionError(
        f"{_where(engine)} has schema revision {rev}, unknown to this runtrack "
        f"(which knows up to {SCHEMA_REVISION}): it was written by a newer version; "
        "upgrade runtrack"
    )


def _where(engine: Engine) -> str:
    return f"database {engine.url.render_as_string(hide_password=True)}"


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                conn.commit()
        return
    db = make_url(str(engine.url)).database
    if not db or db == ":memory:":
        yield
        return
    lock_path = Path(db).expanduser().with_name(Path(db).name + ".migrate.lock")
    fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
