"""core: the transactional outbox — events committed but not yet confirmed on the bus."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0002"
down_revision = "core_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_outbox",
        sa.Column("source", sa.String(512), primary_key=True),
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("due", sa.Float(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", sa.Float(), nullable=True),
    )
    op.create_index("ix_event_outbox_due", "event_outbox", ["due"])


def downgrade() -> None:
    op.drop_table("event_outbox")
