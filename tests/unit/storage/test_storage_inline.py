"""The inline SQLite writer: transactions ready in one turn of the loop commit together, each
rolls back alone, each returns only once committed, and the event log writes through it."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from selfheal.bus import MemoryBus
from selfheal.core import CloudEvent
from selfheal.runtime import EventLog
from selfheal.storage import Database, EventQuery, SqlEventStore, StorageError, inline
from selfheal.storage.inline import Prepared, SqliteWriter

_table = sa.table("notes", sa.column("k"), sa.column("v"))
_insert = Prepared(sa.insert(_table).values(k=sa.bindparam("k"), v=sa.bindparam("v")))


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/inline.db")
    await database.migrate()
    async with database.engine.begin() as conn:
        await conn.execute(sa.text("CREATE TABLE notes (k TEXT PRIMARY KEY, v TEXT)"))
    yield database
    await database.dispose()


def _writer(db: Database) -> SqliteWriter:
    writer = db.writer
    assert writer is not None
    return writer


def _committed(db: Database) -> dict[str, str]:
    """What another connection (another process) sees."""
    path = db.url.split(":///", 1)[1]
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT k, v FROM notes").fetchall())


async def _write(writer: SqliteWriter, key: str, *, fail: bool = False) -> None:
    async with writer.transaction() as conn:
        await conn.run(_insert, {"k": key, "v": "x"})
        if fail:
            raise RuntimeError("step failed")


def test_memory_and_postgres_databases_have_no_inline_writer() -> None:
    assert Database("sqlite+aiosqlite:///:memory:").writer is None
    assert SqliteWriter.for_url("postgresql+psycopg://u@h/db") is None


async def test_transactions_of_one_turn_share_a_commit_and_fail_alone(db: Database) -> None:
    writer = _writer(db)
    before = writer._commits
    results = await asyncio.gather(
        _write(writer, "a"),
        _write(writer, "b", fail=True),
        _write(writer, "c"),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], RuntimeError)
    # each returned only once its writes were committed: another connection sees them
    assert _committed(db) == {"a": "x", "c": "x"}
    assert writer._commits == before + 1


async def test_a_failed_commit_fails_every_transaction_of_the_group(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = _writer(db)
    real = inline._sql

    def refuse_commit(conn: sa.Connection, sql: str) -> None:
        if sql == "COMMIT":
            raise sa.exc.OperationalError(sql, {}, sqlite3.OperationalError("disk I/O error"))
        real(conn, sql)

    monkeypatch.setattr(inline, "_sql", refuse_commit)
    results = await asyncio.gather(_write(writer, "a"), _write(writer, "b"), return_exceptions=True)
    assert all(isinstance(r, sa.exc.OperationalError) for r in results)
    monkeypatch.setattr(inline, "_sql", real)
    assert _committed(db) == {}
    await _write(writer, "c")  # the writer goes on after a failed group
    assert _committed(db) == {"c": "x"}


async def test_a_cancelled_transaction_still_sees_its_commit_through(db: Database) -> None:
    writer = _writer(db)
    inside = asyncio.Event()

    async def write_then_wait() -> None:
        async with writer.transaction() as conn:
            await conn.run(_insert, {"k": "kept", "v": "x"})
            inside.set()

    task = asyncio.create_task(write_then_wait())
    await inside.wait()
    task.cancel()  # lands while it waits for the group's COMMIT
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _committed(db) == {"kept": "x"}


async def test_a_group_commits_after_its_step_limit(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = _writer(db)
    monkeypatch.setattr(inline, "GROUP_MAX_STEPS", 4)
    before = writer._commits
    await asyncio.gather(*(_write(writer, f"k{i}") for i in range(10)))
    assert len(_committed(db)) == 10
    assert writer._commits - before == 3  # 4 + 4 + 2


async def test_an_event_burst_is_written_in_few_transactions_through_the_writer(
    db: Database,
) -> None:
    store = SqlEventStore(db)
    calls: list[int] = []
    append_many = store.append_many

    async def counted(events: list[CloudEvent]) -> list[bool]:
        calls.append(len(events))
        return await append_many(events)

    store.append_many = counted  # type: ignore[method-assign]
    log = EventLog(store, MemoryBus())
    events = [
        CloudEvent(type="sh.keptn.event.test", source="tests", data={}, id=f"e{i % 250}")
        for i in range(300)
    ]
    turns = 0
    done = False

    async def ticker() -> None:  # counts turns of the event loop
        nonlocal turns
        while not done:
            turns += 1
            await asyncio.sleep(0)

    ticking = asyncio.create_task(ticker())
    results = await asyncio.gather(*(log.publish(e) for e in events))
    done = True
    await ticking
    assert sum(results) == 250 and results[:250] == [True] * 250
    assert len(calls) <= 2 and sum(calls) == 300
    # publishers wait for their own event only: they used to take turns on a lock, one
    # publisher per turn of the loop, after their events were written
    assert turns < 30
    assert (await store.query(EventQuery(page_size=1))).total_count == 250


async def test_publishing_from_inside_a_transaction_fails_instead_of_waiting_for_itself(
    db: Database,
) -> None:
    writer = _writer(db)
    log = EventLog(SqlEventStore(db), MemoryBus())
    event = CloudEvent(type="sh.keptn.event.test", source="tests", data={}, id="inside")
    with pytest.raises(StorageError, match="inside a database transaction"):
        async with writer.transaction() as conn:
            await conn.run(_insert, {"k": "a", "v": "x"})
            await log.publish(event)  # in this task (a hang here is the bug)
    with pytest.raises(StorageError, match="cannot open another"):
        async with writer.transaction(), writer.transaction():
            pass  # pragma: no cover
    assert _committed(db) == {}
    # another task may publish while a transaction runs: it waits its turn
    async with writer.transaction() as conn:
        await conn.run(_insert, {"k": "b", "v": "x"})
        elsewhere = asyncio.create_task(log.publish(event))
    assert await asyncio.wait_for(elsewhere, 5)
    assert _committed(db) == {"b": "x"}
