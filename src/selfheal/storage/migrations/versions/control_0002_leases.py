"""control: sequence and action leases (owner, expiry), timers as due rows, and the identity
of the notification that opened each problem occurrence."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "control_0002"
down_revision = "control_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("control_sequences") as batch:
        batch.add_column(sa.Column("owner", sa.String(64), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.Float(), nullable=True))
    op.create_index("ix_control_sequences_lease", "control_sequences", ["state", "lease_until"])
    op.create_index(
        "ix_control_sequences_owner", "control_sequences", ["owner", "state", "deadline"]
    )
    with op.batch_alter_table("control_actions") as batch:
        batch.add_column(sa.Column("owner", sa.String(64), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.Float(), nullable=True))
    with op.batch_alter_table("control_problems") as batch:
        batch.add_column(sa.Column("event_id", sa.String(512), nullable=True))
        batch.add_column(sa.Column("number", sa.Integer(), nullable=True))
    op.create_index("ix_control_problems_event", "control_problems", ["problem_id", "event_id"])


def downgrade() -> None:
    op.drop_index("ix_control_problems_event", table_name="control_problems")
    with op.batch_alter_table("control_problems") as batch:
        batch.drop_column("number")
        batch.drop_column("event_id")
    with op.batch_alter_table("control_actions") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("owner")
    op.drop_index("ix_control_sequences_owner", table_name="control_sequences")
    op.drop_index("ix_control_sequences_lease", table_name="control_sequences")
    with op.batch_alter_table("control_sequences") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("owner")
