"""web: console users with roles, server-side sessions, and failed-login counters.

The UI users move out of the flags context (`flag_users` is copied, every existing user an
admin); sessions are rows, so logging out ends a session on every replica and a copied
cookie stops working; failed logins are counted here so replicas share the throttle.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "web_0001"
down_revision = "core_0001"
branch_labels = ("web",)
depends_on = "flags_0001"


def upgrade() -> None:
    op.create_table(
        "web_users",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
    op.execute(
        "INSERT INTO web_users (name, password_hash, role, created_at) "
        "SELECT name, password_hash, 'admin', created_at FROM flag_users"
    )
    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("user_name", sa.String(100), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("last_seen", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_web_sessions_user", "web_sessions", ["user_name"])
    op.create_table(
        "web_login_failures",
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("web_login_failures")
    op.drop_index("ix_web_sessions_user", table_name="web_sessions")
    op.drop_table("web_sessions")
    op.drop_table("web_users")
