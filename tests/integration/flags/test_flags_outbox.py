"""A flag change commits with its CloudEvent and outbox row (`append_in`, one transaction):
a flip answers while the bus is down, and the relay puts its event on the bus once it is
back. The fault seam of the scale-out suite (`FailFirstPublish`) is checked here too."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from selfheal.bus import BusError, FailFirstPublish, MemoryBus
from selfheal.core import CloudEvent, ManualClock
from selfheal.flags import FlagsService
from selfheal.flags.store import SqlFlagStore
from selfheal.runtime import EventLog, publish_all
from selfheal.storage import Database, OutboxRelay, SqlEventStore
from selfheal.storage.events import events_table, outbox_table
from tests.support.buses import SwitchableBus


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/flags.db"
    else:
        url = request.getfixturevalue("pg_url")
    db = Database(url)
    await db.migrate()
    try:
        yield db
    finally:
        await db.dispose()


class OnlyInTransaction(SqlEventStore):
    """An event store that refuses appends of their own: a flag change's event must go in
    through the change's transaction (`append_in`)."""

    async def append_many(self, events: list[CloudEvent]) -> list[bool]:
        raise AssertionError(f"appended outside the change's transaction: {events}")


async def until(check: Callable[[], bool]) -> None:
    """Bounded wait for the memory bus's delivery task."""
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not delivered within 5 s")


async def rows(db: Database, table: sa.Table) -> list[str]:
    async with db.engine.connect() as conn:
        return [r.id for r in (await conn.execute(sa.select(table.c.id))).all()]


async def test_a_flip_commits_with_its_event_and_answers_while_the_bus_is_down(
    database: Database,
) -> None:
    inner = MemoryBus()
    seen: list[str] = []

    async def handler(event: CloudEvent) -> None:
        seen.append(event.id)

    await inner.subscribe("selfheal.flags.>", handler)
    bus = SwitchableBus(inner)
    store = OnlyInTransaction(database)
    events = EventLog(store, bus, wait=0.2)
    flags = FlagsService(SqlFlagStore(database, store), events, ManualClock())
    await flags.create_flag("Kill-website", type="kill-switch")
    await flags.drain(5)
    await events.drain()

    bus.down = True
    assert await flags.set_enabled("Kill-website", "production", True)
    revision = flags.snapshot.revision
    assert flags.snapshot.flags["Kill-website"].env("production").enabled  # served at once
    await flags.drain(5)
    await events.drain()
    assert f"flags-{revision}" not in seen  # the bus took nothing
    # the change's event is in the event store and waits in the outbox, written by the
    # change's own transaction (no other append made it)
    assert f"flags-{revision}" in await rows(database, events_table)
    assert f"flags-{revision}" in await rows(database, outbox_table)

    bus.down = False

    async def publish(evs: list[CloudEvent]) -> None:
        await publish_all(bus, evs)

    # the relay of any replica, once the row is due (a minute later)
    relay = OutboxRelay(database, publish, owner="t", now=lambda: time.time() + 60)
    assert await relay.run_once() >= 1
    await until(lambda: f"flags-{revision}" in seen)
    assert f"flags-{revision}" not in await rows(database, outbox_table)


async def test_the_first_publish_of_a_matching_event_fails_and_a_retry_goes_through() -> None:
    inner = MemoryBus()
    seen: list[str] = []

    async def handler(event: CloudEvent) -> None:
        seen.append(event.id)

    await inner.subscribe(">", handler)
    bus = FailFirstPublish(inner, ["sh.keptn.>"])
    keptn = CloudEvent(type="sh.keptn.event.action.triggered", source="t", id="a")
    other = CloudEvent(type="selfheal.flags.feature-updated", source="t", id="b")
    with pytest.raises(BusError):
        await bus.publish(keptn)
    await bus.publish(other)  # not matched: never failed
    await bus.publish_many([keptn])  # the relay's retry
    await until(lambda: len(seen) == 2)
    assert seen == ["b", "a"]
    assert bus.failed == 1
