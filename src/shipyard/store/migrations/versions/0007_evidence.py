"""Rollout evidence pooled by a deployment's workers and replicas: counts per route and
period, request tickets with their feedback, and each deployment's current period.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 21:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evidence_counts",
        sa.Column("deployment_id", sa.String(length=64), nullable=False),
        sa.Column("route", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=255), nullable=False),
        sa.Column("field", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "deployment_id", "route", "period", "field", name=op.f("pk_evidence_counts")
        ),
    )
    op.create_table(
        "evidence_requests",
        sa.Column("deployment_id", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("route", sa.String(length=64), nullable=True),
        sa.Column("period", sa.String(length=255), nullable=True),
        sa.Column("prediction", sa.Text(), nullable=True),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column("reward", sa.Float(), nullable=True),
        sa.Column("label_counted", sa.Boolean(), nullable=False),
        sa.Column("reward_counted", sa.Boolean(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("deployment_id", "request_id", name=op.f("pk_evidence_requests")),
    )
    with op.batch_alter_table("evidence_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evidence_requests_deployment_id_at"), ["deployment_id", "at"]
        )
    op.create_table(
        "evidence_periods",
        sa.Column("deployment_id", sa.String(length=64), nullable=False),
        sa.Column("epoch", sa.Text(), nullable=False),
        sa.Column("start", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("deployment_id", name=op.f("pk_evidence_periods")),
    )


def downgrade() -> None:
    op.drop_table("evidence_periods")
    with op.batch_alter_table("evidence_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_requests_deployment_id_at"))
    op.drop_table("evidence_requests")
    op.drop_table("evidence_counts")
