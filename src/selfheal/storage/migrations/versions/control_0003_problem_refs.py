"""control: the problem a sequence was started for as indexed columns (PID, display id),
so a problem's page and the bridge's `?problem=` find its sequences without a scan."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "control_0003"
down_revision = "control_0002"
branch_labels = None
depends_on = None


def _ids(data: Any) -> tuple[str | None, str | None]:
    """As `selfheal.control.sequences.problem_ids` at the time of this migration."""
    raw = data.get("problem") if isinstance(data, dict) else None
    block = raw if isinstance(raw, dict) else {}
    pid = block.get("PID") or block.get("pid")
    display = block.get("ProblemID") or block.get("problemId")
    return (str(pid)[:512] if pid else None), (str(display)[:512] if display else None)


def upgrade() -> None:
    with op.batch_alter_table("control_sequences") as batch:
        batch.add_column(sa.Column("problem_pid", sa.String(512), nullable=True))
        batch.add_column(sa.Column("problem_display", sa.String(512), nullable=True))
    op.create_index("ix_control_sequences_problem_pid", "control_sequences", ["problem_pid"])
    op.create_index(
        "ix_control_sequences_problem_display", "control_sequences", ["problem_display"]
    )
    t = sa.table(
        "control_sequences",
        sa.column("context", sa.String),
        sa.column("data", sa.Text),
        sa.column("problem_pid", sa.String),
        sa.column("problem_display", sa.String),
    )
    conn = op.get_bind()
    for context, data in conn.execute(sa.select(t.c.context, t.c.data)).all():
        try:
            pid, display = _ids(json.loads(data))
        except ValueError:
            continue
        if pid or display:
            conn.execute(
                t.update()
                .where(t.c.context == context)
                .values(problem_pid=pid, problem_display=display)
            )


def downgrade() -> None:
    op.drop_index("ix_control_sequences_problem_display", table_name="control_sequences")
    op.drop_index("ix_control_sequences_problem_pid", table_name="control_sequences")
    with op.batch_alter_table("control_sequences") as batch:
        batch.drop_column("problem_display")
        batch.drop_column("problem_pid")
