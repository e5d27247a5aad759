"""control: restores by problem (the console's problem lists and pages look them up)."""

from __future__ import annotations

from alembic import op

revision = "control_0005"
down_revision = "control_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_control_restores_problem", "control_restores", ["problem_id"])


def downgrade() -> None:
    op.drop_index("ix_control_restores_problem", table_name="control_restores")
