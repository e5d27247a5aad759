"""core: the append-only CloudEvent store.

Each context keeps its own branch of migrations (branch label = context name) rooted here,
so contexts add tables without touching each other's revisions; start-up runs `upgrade heads`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0001"
down_revision = None
branch_labels = ("core",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("source", sa.String(512), nullable=False),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("shkeptncontext", sa.String(255), nullable=True),
        sa.Column("triggeredid", sa.String(255), nullable=True),
        sa.Column("project", sa.String(255), nullable=True),
        sa.Column("stage", sa.String(255), nullable=True),
        sa.Column("service", sa.String(255), nullable=True),
        sa.Column("time", sa.Float(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.UniqueConstraint("source", "id", name="uq_events_source_id"),
    )
    op.create_index("ix_events_context", "events", ["shkeptncontext", "seq"])
    op.create_index("ix_events_type", "events", ["type", "seq"])
    op.create_index("ix_events_scope", "events", ["project", "stage", "service", "seq"])
    op.create_index("ix_events_time", "events", ["time"])


def downgrade() -> None:
    op.drop_table("events")
