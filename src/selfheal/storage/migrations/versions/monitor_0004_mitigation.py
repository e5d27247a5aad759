"""monitor: a problem masked by a kill switch (`masked_by`, by which remediation context)
and mitigated since when."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "monitor_0004"
down_revision = "monitor_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("monitor_problems") as batch:
        batch.add_column(sa.Column("masked_by", sa.String(255), nullable=True))
        batch.add_column(sa.Column("masked_context", sa.String(255), nullable=True))
        batch.add_column(sa.Column("mitigated_since", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("monitor_problems") as batch:
        batch.drop_column("mitigated_since")
        batch.drop_column("masked_context")
        batch.drop_column("masked_by")
