"""control: restores (bring traffic back from a kill switch), rows with owner, lease, due."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "control_0004"
down_revision = "control_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "control_restores",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("project", sa.String(255), nullable=False),
        sa.Column("stage", sa.String(255), nullable=False),
        sa.Column("service", sa.String(255), nullable=False),
        sa.Column("problem_id", sa.String(512), nullable=False),
        sa.Column("flag", sa.String(255), nullable=False),
        sa.Column("environment", sa.String(255), nullable=False),
        sa.Column("flag_project", sa.String(255), nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("probes_ok", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Text(), nullable=False),
        sa.Column("step_since", sa.Float()),
        sa.Column("hold_until", sa.Float()),
        sa.Column("held_by", sa.String(255)),
        sa.Column("flip_event", sa.String(255)),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(32)),
        sa.Column("due", sa.Float()),
        sa.Column("owner", sa.String(64)),
        sa.Column("lease_until", sa.Float()),
        sa.Column("created", sa.Float(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.create_index("ix_control_restores_due", "control_restores", ["state", "due"])
    op.create_index(
        "ix_control_restores_flag", "control_restores", ["flag", "environment", "state"]
    )


def downgrade() -> None:
    op.drop_index("ix_control_restores_flag", table_name="control_restores")
    op.drop_index("ix_control_restores_due", table_name="control_restores")
    op.drop_table("control_restores")
