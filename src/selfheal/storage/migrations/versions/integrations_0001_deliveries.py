"""integrations: delivery records (with the dead-letter list) and per-integration links."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "integrations_0001"
down_revision = "core_0001"
branch_labels = ("integrations",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "integration_deliveries",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("integration", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("args", sa.Text(), nullable=False),
        sa.Column("dedup_key", sa.String(512), nullable=True),
        sa.Column("problem", sa.String(255), nullable=True),
        sa.Column("keptn_context", sa.String(255), nullable=True),
        sa.Column("event_type", sa.String(255), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created", sa.Float(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
        sa.UniqueConstraint("dedup_key", name="uq_integration_deliveries_dedup"),
    )
    op.create_index("ix_integration_deliveries_problem", "integration_deliveries", ["problem"])
    op.create_index(
        "ix_integration_deliveries_context", "integration_deliveries", ["keptn_context"]
    )
    op.create_index(
        "ix_integration_deliveries_status", "integration_deliveries", ["status", "created"]
    )
    op.create_table(
        "integration_links",
        sa.Column("integration", sa.String(128), primary_key=True),
        sa.Column("key", sa.String(512), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("integration_links")
    op.drop_table("integration_deliveries")
