"""flags: flags, segments, audit log, API tokens, UI users, settings and SDK metrics."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "flags_0001"
down_revision = "core_0001"
branch_labels = ("flags",)
depends_on = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "flags",
        sa.Column("project", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("doc", sa.Text(), nullable=False),
    )
    op.create_index("ix_flags_name", "flags", ["name"], unique=True)
    op.create_table(
        "flag_segments",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("doc", sa.Text(), nullable=False),
    )
    op.create_table(
        "flag_audit",
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("project", sa.String(100), nullable=True),
        sa.Column("feature", sa.String(100), nullable=True),
        sa.Column("environment", sa.String(100), nullable=True),
        sa.Column("pre_data", sa.Text(), nullable=True),
        sa.Column("data", sa.Text(), nullable=True),
    )
    op.create_index("ix_flag_audit_feature", "flag_audit", ["feature", "seq"])
    op.create_table(
        "flag_tokens",
        sa.Column("secret_hash", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("project", sa.String(100), nullable=False),
        sa.Column("environment", sa.String(100), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("prefix", sa.String(255), nullable=False),
    )
    op.create_table(
        "flag_users",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "flag_meta",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_table(
        "flag_metrics",
        sa.Column("feature", sa.String(100), primary_key=True),
        sa.Column("app_name", sa.String(255), primary_key=True),
        sa.Column("environment", sa.String(100), primary_key=True),
        sa.Column("bucket_start", sa.Integer(), primary_key=True),
        sa.Column("yes", sa.Integer(), nullable=False),
        sa.Column("no", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    for name in (
        "flag_metrics",
        "flag_meta",
        "flag_users",
        "flag_tokens",
        "flag_audit",
        "flag_segments",
        "flags",
    ):
        op.drop_table(name)
