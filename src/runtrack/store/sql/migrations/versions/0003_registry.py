"""Artifact lineage and the model registry: inputs of runs, alias audit logs, registered
models and their versions, reference files, gc rounds.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_AUDIT = ("artifact_alias_events", "model_alias_events")


def _alias_events(table: str, owner: str, owner_table: str) -> None:
    op.create_table(
        table,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(owner, sa.Integer, sa.ForeignKey(f"{owner_table}.id"), nullable=False),
        sa.Column("alias", sa.String(100), nullable=False),
        sa.Column("from_version", sa.Integer),
        sa.Column("to_version", sa.Integer),
        sa.Column("actor", sa.String(250), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index(f"ix_{table}", table, [owner, "alias", "at"])


def _append_only(table: str) -> None:
    """Refuse UPDATE and DELETE in the database itself, whatever the client."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION runtrack_append_only() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'runtrack: % is an append-only audit log', TG_TABLE_NAME; "
            "END; $$ LANGUAGE plpgsql"
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION runtrack_append_only()"
        )
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, 'runtrack: {table} is an append-only audit log'); END"
        )


def upgrade() -> None:
    with op.batch_alter_table("artifact_files") as batch:
        batch.add_column(sa.Column("ref", sa.Text))
        batch.add_column(sa.Column("etag", sa.String(200)))
    with op.batch_alter_table("artifacts") as batch:
        batch.add_column(sa.Column("next_idx", sa.Integer))
    op.execute(
        "UPDATE artifacts SET next_idx = (SELECT COALESCE(MAX(idx) + 1, 0) FROM "
        "artifact_versions WHERE artifact_versions.artifact_id = artifacts.id)"
    )
    op.create_index("ix_run_outputs_version", "run_outputs", ["version_id"])
    op.create_table(
        "run_uses",
        sa.Column(
            "run_id",
            sa.String(32),
            sa.ForeignKey("runs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "version_id", sa.Integer, sa.ForeignKey("artifact_versions.id"), primary_key=True
        ),
        sa.Column("used_at", sa.Float, nullable=False),
    )
    op.create_index("ix_run_uses_version", "run_uses", ["version_id"])
    _alias_events("artifact_alias_events", "artifact_id", "artifacts")
    op.create_table(
        "registered_models",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("gates", sa.Text, nullable=False),
        sa.Column("next_version", sa.Integer, nullable=False),
        sa.Column("created_by", sa.String(250), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("registered_models.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column(
            "artifact_version_id",
            sa.Integer,
            sa.ForeignKey("artifact_versions.id"),
            nullable=False,
        ),
        sa.Column("run_id", sa.String(32)),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("created_by", sa.String(250), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("model_id", "version", name="uq_model_versions_version"),
        sa.UniqueConstraint("model_id", "artifact_version_id", name="uq_model_versions_artifact"),
    )
    op.create_index("ix_model_versions_artifact", "model_versions", ["artifact_version_id"])
    op.create_index("ix_model_versions_run", "model_versions", ["run_id"])
    op.create_table(
        "model_aliases",
        sa.Column("model_id", sa.Integer, sa.ForeignKey("registered_models.id"), primary_key=True),
        sa.Column("alias", sa.String(100), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
    )
    _alias_events("model_alias_events", "model_id", "registered_models")
    op.create_table(
        "gc_rounds",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float),
    )
    for table in _AUDIT:
        _append_only(table)


def downgrade() -> None:
    for table in (
        "gc_rounds",
        "model_alias_events",
        "model_aliases",
        "model_versions",
        "registered_models",
        "artifact_alias_events",
        "run_uses",
    ):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS runtrack_append_only()")
    op.drop_index("ix_run_outputs_version", "run_outputs")
    with op.batch_alter_table("artifacts") as batch:
        batch.drop_column("next_idx")
    with op.batch_alter_table("artifact_files") as batch:
        batch.drop_column("etag")
        batch.drop_column("ref")
