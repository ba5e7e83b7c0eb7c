"""Metric batches: the id of each batch of metric points written for a run (remote mode's
client sends one per batch), so that a batch sent again after a lost answer is not written
twice.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 12:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metric_batches",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("batch_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_metric_batches_run_id_runs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "batch_id", name="pk_metric_batches"),
    )


def downgrade() -> None:
    op.drop_table("metric_batches")
