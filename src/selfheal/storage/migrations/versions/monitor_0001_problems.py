"""monitor: problems, comments, notification deliveries and API-declared services."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "monitor_0001"
down_revision = "core_0001"
branch_labels = ("monitor",)
depends_on = None


def _seq() -> sa.Column[int]:
    return sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    )


def upgrade() -> None:
    op.create_table(
        "monitor_problems",
        _seq(),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("pid", sa.String(64), nullable=False),
        sa.Column("display_id", sa.String(64), nullable=False),
        sa.Column("title", sa.String(512), nullable=False),
        sa.Column("service", sa.String(255), nullable=False),
        sa.Column("impacted_entity", sa.String(512), nullable=False),
        sa.Column("severity", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("start", sa.Float(), nullable=False),
        sa.Column("end", sa.Float(), nullable=True),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("external_key", sa.String(512), nullable=True, unique=True),
        sa.Column("occurrence", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
    )
    op.create_index("ix_monitor_problems_pid", "monitor_problems", ["pid"])
    op.create_index("ix_monitor_problems_display", "monitor_problems", ["display_id"])
    op.create_index("ix_monitor_problems_service", "monitor_problems", ["service", "status"])
    op.create_table(
        "monitor_comments",
        _seq(),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("problem_id", sa.String(64), nullable=False, index=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("context", sa.String(255), nullable=False),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
    )
    op.create_table(
        "monitor_deliveries",
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("problem_id", sa.String(64), nullable=False, index=True),
        sa.Column("transition", sa.String(32), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("response_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created", sa.Float(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
    )
    op.create_table(
        "monitor_services",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("monitor_services")
    op.drop_table("monitor_deliveries")
    op.drop_table("monitor_comments")
    op.drop_table("monitor_problems")
