"""Alembic environment: runtrack runs migrations programmatically on a connection it
passes in ``config.attributes["connection"]`` (see ``runtrack.store.sql._migrate``)."""

from __future__ import annotations

from alembic import context

from runtrack.store.sql.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
