"""The transactional outbox: a committed event reaches the bus even when the publish after
the commit fails, exactly one relay takes a row, and migrations take turns."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from selfheal.bus import MemoryBus
from selfheal.core import CloudEvent
from selfheal.runtime import EventLog, publish_all
from selfheal.storage import Database, OutboxRelay, SqlEventStore
from selfheal.storage.events import outbox_table
from tests.support.buses import SwitchableBus


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/outbox.db"
    else:
        url = request.getfixturevalue("pg_url")
    db = Database(url)
    await db.migrate()
    try:
        yield db
    finally:
        await db.dispose()


def event(n: int) -> CloudEvent:
    return CloudEvent(type="sh.keptn.event.test.triggered", source="tests", id=f"e-{n}", data={})


async def outbox_rows(db: Database) -> int:
    async with db.engine.connect() as conn:
        return int(
            (await conn.execute(sa.select(sa.func.count()).select_from(outbox_table))).scalar_one()
        )


async def collect(bus: MemoryBus) -> list[str]:
    got: list[str] = []

    async def handler(e: CloudEvent) -> None:
        got.append(e.id)

    await bus.subscribe("sh.keptn.>", handler)
    return got


async def test_published_event_leaves_no_outbox_row(database: Database) -> None:
    inner = MemoryBus()
    got = await collect(inner)
    log = EventLog(SqlEventStore(database), inner)
    assert await log.publish(event(1))
    await log.drain()
    await asyncio.sleep(0.05)
    assert got == ["e-1"]
    assert await outbox_rows(database) == 0


async def test_publish_failing_after_commit_is_relayed_once_the_bus_is_back(
    database: Database,
) -> None:
    inner = MemoryBus()
    got = await collect(inner)
    bus = SwitchableBus(inner)
    clock = [1000.0]
    store = SqlEventStore(database, now=lambda: clock[0])
    log = EventLog(store, bus, wait=0.2)
    relay = OutboxRelay(database, partial_publish(bus), owner="r1", now=lambda: clock[0])

    bus.down = True
    assert await log.publish(event(1))  # committed; the bus refused: no error for the caller
    assert await log.publish(event(2))
    await log.drain()
    assert got == [] and bus.refused >= 1
    assert await outbox_rows(database) == 2
    # a retry of the same event is a duplicate (not stored twice), and still not lost
    assert not await log.publish(event(1))

    assert await relay.run_once() == 0  # not due yet: the publisher's grace period
    clock[0] += 5
    assert await relay.run_once() == 0  # due, but the bus is still away: backs off
    assert await outbox_rows(database) == 2
    bus.down = False
    assert await relay.run_once() == 0  # backing off
    clock[0] += 60
    assert await relay.run_once() == 2
    await asyncio.sleep(0.05)
    assert got == ["e-1", "e-2"]
    assert await outbox_rows(database) == 0
    assert await relay.run_once() == 0


def partial_publish(bus: SwitchableBus):  # type: ignore[no-untyped-def]
    async def publish(events: list[CloudEvent]) -> None:
        await publish_all(bus, events)

    return publish


@pytest.mark.postgres
async def test_two_relays_never_take_the_same_rows(pg_url: str) -> None:
    db = Database(pg_url)
    await db.migrate()
    try:
        clock = [1000.0]
        store = SqlEventStore(db, now=lambda: clock[0])
        await store.append_many([event(n) for n in range(300)])  # nobody published them
        clock[0] += 10
        seen: list[str] = []

        async def publish(events: list[CloudEvent]) -> None:
            await asyncio.sleep(0.01)
            seen.extend(e.id for e in events)

        relays = [
            OutboxRelay(db, publish, owner=f"r{n}", batch=50, now=lambda: clock[0])
            for n in range(3)
        ]
        for _ in range(10):
            await asyncio.gather(*(r.run_once() for r in relays))
        assert sorted(seen) == sorted(f"e-{n}" for n in range(300))
        assert len(seen) == len(set(seen))
        assert await outbox_rows(db) == 0
    finally:
        await db.dispose()


@pytest.mark.postgres
async def test_replicas_migrating_together_on_an_empty_database(pg_url: str) -> None:
    dbs = [Database(pg_url) for _ in range(3)]
    try:
        await asyncio.gather(*(db.migrate() for db in dbs))
        async with dbs[0].engine.connect() as conn:
            heads = (
                await conn.execute(sa.text("SELECT count(*) FROM alembic_version"))
            ).scalar_one()
        assert heads >= 5
    finally:
        for db in dbs:
            await db.dispose()
