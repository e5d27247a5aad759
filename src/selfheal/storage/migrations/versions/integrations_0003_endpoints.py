"""delivery: the endpoint a delivery goes to (its per-endpoint queue), now that the outbox is
shared by the integrations and the monitor's webhooks."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "integrations_0003"
down_revision = "integrations_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("integration_deliveries") as batch:
        batch.add_column(sa.Column("endpoint", sa.String(512), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("integration_deliveries") as batch:
        batch.drop_column("endpoint")
