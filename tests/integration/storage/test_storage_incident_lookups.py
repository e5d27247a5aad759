"""The incident page's lookups are indexed: a problem finds its sequences by the ids its
trigger named (control_0003), a set of sequences finds the flag changes it made by actor
(flags_0002) — however many newer sequences or audit rows there are. Also: an existing
database gets the new columns filled from the sequences' payloads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from selfheal.control.sequences import Sequence, SequenceStore
from selfheal.flags.store import Audit, SqlFlagStore
from selfheal.storage import Database
from selfheal.storage.database import alembic_config


@pytest.fixture
async def db(tmp_path: Path) -> Any:
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/lookups.db")
    await database.migrate()
    try:
        yield database
    finally:
        await database.dispose()


def seq(context: str, created: float, problem: dict[str, str] | None = None) -> Sequence:
    data: dict[str, Any] = {"problem": problem} if problem else {}
    return Sequence(
        context, "website", "production", "front-end", "remediation", data=data, created=created
    )


async def plan(db: Database, statement: str) -> str:
    async with db.engine.connect() as conn:
        rows = (await conn.execute(sa.text("EXPLAIN QUERY PLAN " + statement))).all()
    return " | ".join(str(r[-1]) for r in rows)


async def test_a_problem_finds_its_sequences_by_index_past_many_newer_ones(db: Database) -> None:
    store = SequenceStore(db)
    assert await store.insert(seq("ctx-p1", 1.0, {"PID": "pid-1", "ProblemID": "P-1"}))
    assert await store.insert(seq("ctx-p2", 2.0, {"pid": "pid-2"}))
    for i in range(600):  # newer sequences for other problems and for none
        assert await store.insert(seq(f"ctx-{i}", 10.0 + i, {"PID": f"x-{i}"} if i % 2 else None))

    for ids in (("pid-1",), ("P-1",), ("nope", "P-1", "pid-1")):
        found, total = await store.list(problems=ids, limit=50)
        assert [s.context for s in found] == ["ctx-p1"] and total == 1, ids
    found, _ = await store.list(problems=("pid-2", "P-1"))
    assert [s.context for s in found] == ["ctx-p2", "ctx-p1"]  # newest first
    assert (await store.list(problems=()))[0] == []
    assert found[1].data == {"problem": {"PID": "pid-1", "ProblemID": "P-1"}}

    query = (
        "SELECT context FROM control_sequences "
        "WHERE problem_pid IN ('pid-1') OR problem_display IN ('pid-1')"
    )
    words = await plan(db, query)
    assert "ix_control_sequences_problem_pid" in words, words
    assert "ix_control_sequences_problem_display" in words, words


async def test_flag_changes_are_found_by_actor_by_index(db: Database) -> None:
    store = SqlFlagStore(db)
    for i in range(600):
        actor = "remediation:ctx-1" if i == 3 else f"user:u{i}"
        await store.record(Audit("feature-updated", actor, float(i), "default", "f", None))
    found = await store.audit(actors=("remediation:ctx-1", "remediation:none"), limit=10)
    assert [(e.created_by, e.created_at) for e in found] == [("remediation:ctx-1", 3.0)]
    words = await plan(
        db, "SELECT seq FROM flag_audit WHERE created_by IN ('a', 'b') ORDER BY seq DESC"
    )
    assert "ix_flag_audit_created_by" in words, words


async def test_the_migration_fills_the_problem_columns_of_existing_sequences(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/old.db"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "control_0002")
        row = {
            "context": "ctx-old",
            "project": "website",
            "stage": "production",
            "service": "front-end",
            "name": "remediation",
            "state": "finished",
            "message": "",
            "revision": 1,
            "task_index": 0,
            "phase": "idle",
            "iteration": 0,
            "paused": False,
            "created": 1.0,
            "updated": 2.0,
            "version": 3,
            "data": json.dumps({"problem": {"PID": "pid-9", "ProblemID": "P-9"}}),
        }
        cols = ", ".join(row)
        conn.execute(
            sa.text(f"INSERT INTO control_sequences ({cols}) VALUES (:{', :'.join(row)})"), row
        )
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "heads")
        got = conn.execute(
            sa.text("SELECT problem_pid, problem_display FROM control_sequences")
        ).one()
    engine.dispose()
    assert tuple(got) == ("pid-9", "P-9")
