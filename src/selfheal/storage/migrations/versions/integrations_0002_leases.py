"""integrations: delivery leases, so deliveries cut off by a restart are resumed (once)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "integrations_0002"
down_revision = "integrations_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("integration_deliveries") as batch:
        batch.add_column(
            sa.Column("round_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("lease_owner", sa.String(64), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.Float(), nullable=True))
    op.create_index(
        "ix_integration_deliveries_lease", "integration_deliveries", ["status", "lease_until"]
    )


def downgrade() -> None:
    op.drop_index("ix_integration_deliveries_lease", table_name="integration_deliveries")
    with op.batch_alter_table("integration_deliveries") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("lease_owner")
        batch.drop_column("round_attempts")
