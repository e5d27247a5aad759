"""monitor: state shared by every replica (webhook deliveries move to the shared outbox) — problem versions (compare-and-set), the service
revision (API changes and tombstones) and SLI samples."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "monitor_0002"
down_revision = "monitor_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # webhook deliveries are rows of the shared outbox now (integration "monitor")
    op.drop_table("monitor_deliveries")
    with op.batch_alter_table("monitor_problems") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
    with op.batch_alter_table("monitor_services") as batch:
        batch.alter_column("spec", existing_type=sa.Text(), nullable=True)
        batch.add_column(sa.Column("revision", sa.BigInteger(), nullable=False, server_default="0"))
    op.create_table(
        "monitor_revision",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
    )
    op.execute("INSERT INTO monitor_revision (id, value) VALUES (1, 0)")
    op.create_table(
        "monitor_sli_samples",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("service", sa.String(128), nullable=False),
        sa.Column("time", sa.Float(), nullable=False),
        sa.Column("requests", sa.Float(), nullable=False),
        sa.Column("errors", sa.Float(), nullable=False),
        sa.Column("buckets", sa.Text(), nullable=False),
    )
    op.create_index("ix_monitor_sli_samples_service", "monitor_sli_samples", ["service", "time"])
    op.create_index("ix_monitor_sli_samples_time", "monitor_sli_samples", ["time"])


def downgrade() -> None:
    op.create_table(
        "monitor_deliveries",
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("problem_id", sa.String(64), nullable=False, index=True),
        sa.Column("transition", sa.String(32), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("response_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created", sa.Float(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
    )
    op.drop_table("monitor_sli_samples")
    op.drop_table("monitor_revision")
    with op.batch_alter_table("monitor_services") as batch:
        batch.drop_column("revision")
    with op.batch_alter_table("monitor_problems") as batch:
        batch.drop_column("version")
