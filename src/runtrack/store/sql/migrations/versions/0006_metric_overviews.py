"""Metric overviews (each full chunk's envelope at a coarser level, compact) and a
covering index of the chunks' step ranges.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # existing chunks get their overview the first time a zoomed-out chart reads them:
    # from their stored envelope (no chunk decoded), else from their points
    op.create_table(
        "metric_overviews",
        sa.Column(
            "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("points", sa.LargeBinary, nullable=False),
        sa.Column("times", sa.LargeBinary),
    )
    op.create_index(
        "ix_metric_chunks_span",
        "metric_chunks",
        ["run_id", "key", "seq", "n", "step_min", "step_max"],
    )


def downgrade() -> None:
    op.drop_index("ix_metric_chunks_span", table_name="metric_chunks")
    op.drop_table("metric_overviews")
