"""control: projects, services, versioned resources, sequences, scope locks, problem
occurrences and the action ledger."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "control_0001"
down_revision = "core_0001"
branch_labels = ("control",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "control_projects",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
    )
    op.create_table(
        "control_services",
        sa.Column("project", sa.String(255), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("created", sa.Float(), nullable=False),
    )
    op.create_table(
        "control_resources",
        sa.Column("project", sa.String(255), primary_key=True),
        sa.Column("stage", sa.String(255), primary_key=True),
        sa.Column("service", sa.String(255), primary_key=True),
        sa.Column("uri", sa.String(512), primary_key=True),
        sa.Column("revision", sa.Integer(), primary_key=True),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("created", sa.Float(), nullable=False),
    )
    op.create_table(
        "control_sequences",
        sa.Column("context", sa.String(255), primary_key=True),
        sa.Column("project", sa.String(255), nullable=False),
        sa.Column("stage", sa.String(255), nullable=False),
        sa.Column("service", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("task_index", sa.Integer(), nullable=False),
        sa.Column("phase", sa.String(32), nullable=False),
        sa.Column("iteration", sa.Integer(), nullable=False),
        sa.Column("triggered_id", sa.String(255), nullable=True),
        sa.Column("deadline", sa.Float(), nullable=True),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.create_index(
        "ix_control_sequences_scope",
        "control_sequences",
        ["project", "stage", "service", "state", "created"],
    )
    op.create_index("ix_control_sequences_state", "control_sequences", ["state", "created"])
    op.create_table(
        "control_scope_locks",
        sa.Column("scope", sa.String(800), primary_key=True),
        sa.Column("context", sa.String(255), nullable=False),
    )
    op.create_table(
        "control_problems",
        sa.Column("problem_id", sa.String(512), primary_key=True),
        sa.Column("occurrence", sa.Integer(), primary_key=True),
        sa.Column("context", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("source", sa.String(512), nullable=False),
        sa.Column("opened", sa.Float(), nullable=False),
        sa.Column("resolved", sa.Float(), nullable=True),
    )
    op.create_index("ix_control_problems_context", "control_problems", ["context"])
    op.create_table(
        "control_actions",
        sa.Column("context", sa.String(255), primary_key=True),
        sa.Column("action_index", sa.Integer(), primary_key=True),
        sa.Column("scope", sa.String(800), nullable=False),
        sa.Column("action", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("result", sa.String(16), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("data", sa.Text(), nullable=True),
        sa.Column("started", sa.Float(), nullable=False),
        sa.Column("finished", sa.Float(), nullable=True),
    )
    op.create_index("ix_control_actions_scope", "control_actions", ["scope", "started"])


def downgrade() -> None:
    for name in (
        "control_actions",
        "control_problems",
        "control_scope_locks",
        "control_sequences",
        "control_resources",
        "control_services",
        "control_projects",
    ):
        op.drop_table(name)
