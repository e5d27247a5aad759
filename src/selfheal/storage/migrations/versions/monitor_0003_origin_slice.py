"""monitor: the origin's slice of each SLI sample (requests and errors served by the origin,
`origin_slice` in monitor.yaml), null where no slice is configured."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "monitor_0003"
down_revision = "monitor_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("monitor_sli_samples") as batch:
        batch.add_column(sa.Column("origin_requests", sa.Float(), nullable=True))
        batch.add_column(sa.Column("origin_errors", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("monitor_sli_samples") as batch:
        batch.drop_column("origin_errors")
        batch.drop_column("origin_requests")
