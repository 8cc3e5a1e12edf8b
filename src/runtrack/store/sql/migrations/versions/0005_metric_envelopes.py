"""Metric envelopes: the points a chart needs of each full metric chunk, kept.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # existing chunks get their envelopes the first time a chart reads them
    op.create_table(
        "metric_envelopes",
        sa.Column(
            "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("positions", sa.LargeBinary, nullable=False),
        sa.Column("steps", sa.LargeBinary, nullable=False),
        sa.Column("times", sa.LargeBinary),
        sa.Column("vals", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("metric_envelopes")
