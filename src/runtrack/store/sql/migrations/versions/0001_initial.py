"""The first schema of runtrack.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.String(32)
KEY = sa.String(250)


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", ID, primary_key=True),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("user", sa.String(250), nullable=False),
        sa.Column("host", sa.String(250), nullable=False),
        sa.Column("start_time", sa.Float, nullable=False),
        sa.Column("end_time", sa.Float),
        sa.Column("heartbeat", sa.Float),
        sa.Column("parent_id", ID),
        sa.Column("grp", sa.String(250)),
        sa.Column("notes", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("metrics", sa.LargeBinary, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("inputs", sa.Text, nullable=False),
    )
    op.create_index("ix_runs_project_start", "runs", ["project_id", "start_time"])
    op.create_index("ix_runs_status_heartbeat", "runs", ["status", "heartbeat"])
    op.create_index("ix_runs_parent", "runs", ["parent_id"])
    run_fk = sa.ForeignKey("runs.id", ondelete="CASCADE")
    op.create_table(
        "run_params",
        sa.Column("run_id", ID, run_fk, primary_key=True),
        sa.Column("key", KEY, primary_key=True),
        sa.Column("vtype", sa.String(1), nullable=False),
        sa.Column("num", sa.Float),
        sa.Column("str", sa.Text),
    )
    op.create_index("ix_run_params_key_num", "run_params", ["key", "num"])
    op.create_index("ix_run_params_key_str", "run_params", ["key", "str"])
    op.create_table(
        "run_tags",
        sa.Column("run_id", ID, sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("key", KEY, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_index("ix_run_tags_key_value", "run_tags", ["key", "value"])
    op.create_table(
        "metric_summaries",
        sa.Column("run_id", ID, sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("key", KEY, primary_key=True),
        sa.Column("project_id", sa.Integer, nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("last", sa.Float),
        sa.Column("min", sa.Float),
        sa.Column("max", sa.Float),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("last_step", sa.BigInteger),
        sa.Column("tail", sa.Text, nullable=False),
        sa.Column("next_seq", sa.Integer, nullable=False),
    )
    op.create_index("ix_metric_summaries_sort", "metric_summaries", ["project_id", "key", "value"])
    op.create_table(
        "metric_chunks",
        sa.Column("run_id", ID, sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("key", KEY, primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("step_min", sa.BigInteger, nullable=False),
        sa.Column("step_max", sa.BigInteger, nullable=False),
        sa.Column("codec", sa.Integer, nullable=False),
        sa.Column("steps", sa.LargeBinary, nullable=False),
        sa.Column("times", sa.LargeBinary, nullable=False),
        sa.Column("vals", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "run_provenance",
        sa.Column("run_id", ID, sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("section", sa.String(64), primary_key=True),
        sa.Column("doc", sa.Text, nullable=False),
    )
    op.create_table(
        "run_streams",
        sa.Column("run_id", ID, sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("stream", sa.String(64), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "run_console",
        sa.Column("run_id", ID, sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("dropped", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "run_inputs",
        sa.Column("run_id", ID, sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("path", sa.Text, nullable=False),
    )
    op.create_index("ix_run_inputs_digest", "run_inputs", ["digest"])
    op.create_table(
        "artifacts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("project_id", "name", name="uq_artifacts_project_name"),
    )
    op.create_table(
        "artifact_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("artifact_id", sa.Integer, sa.ForeignKey("artifacts.id"), nullable=False),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("file_count", sa.Integer, nullable=False),
        sa.Column("metadata", sa.Text, nullable=False),
        sa.Column("created_by", ID),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("artifact_id", "idx", name="uq_artifact_versions_idx"),
        sa.UniqueConstraint("artifact_id", "digest", name="uq_artifact_versions_digest"),
    )
    op.create_table(
        "artifact_files",
        sa.Column(
            "version_id", sa.Integer, sa.ForeignKey("artifact_versions.id"), primary_key=True
        ),
        sa.Column("path", sa.Text, primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_artifact_files_digest", "artifact_files", ["digest"])
    op.create_table(
        "artifact_aliases",
        sa.Column("artifact_id", sa.Integer, sa.ForeignKey("artifacts.id"), primary_key=True),
        sa.Column("alias", sa.String(100), primary_key=True),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("artifact_versions.id"), nullable=False),
    )
    op.create_table(
        "run_outputs",
        sa.Column("run_id", ID, sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column(
            "version_id", sa.Integer, sa.ForeignKey("artifact_versions.id"), primary_key=True
        ),
    )


def downgrade() -> None:
    for table in (
        "run_outputs",
        "artifact_aliases",
        "artifact_files",
        "artifact_versions",
        "artifacts",
        "run_inputs",
        "run_console",
        "run_streams",
        "run_provenance",
        "metric_chunks",
        "metric_summaries",
        "run_tags",
        "run_params",
        "runs",
        "projects",
    ):
        op.drop_table(table)
