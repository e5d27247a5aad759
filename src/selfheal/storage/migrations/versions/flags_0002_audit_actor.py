"""flags: the audit log indexed by actor, so the changes a remediation (`remediation:<context>`)
made are found without scanning the newest rows."""

from __future__ import annotations

from alembic import op

revision = "flags_0002"
down_revision = "flags_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_flag_audit_created_by", "flag_audit", ["created_by", "seq"])


def downgrade() -> None:
    op.drop_index("ix_flag_audit_created_by", table_name="flag_audit")
