"""`append_many` and the event log's group commit: one outcome per event, duplicates once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from selfheal.bus import MemoryBus
from selfheal.core import CloudEvent
from selfheal.runtime import EventLog
from selfheal.storage import Database, EventQuery, EventStore, MemoryEventStore, SqlEventStore


def _event(i: int) -> CloudEvent:
    return CloudEvent(type="sh.keptn.event.test", source="tests", data={"i": i}, id=f"e{i}")


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[EventStore]:
    if request.param == "memory":
        yield MemoryEventStore()
        return
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/events.db")
    await database.migrate()
    yield SqlEventStore(database)
    await database.dispose()


async def test_append_many_says_which_events_were_new(store: EventStore) -> None:
    assert await store.append(_event(1))
    assert await store.append_many([_event(0), _event(1), _event(2), _event(0)]) == [
        True,
        False,
        True,
        False,
    ]
    page = await store.query(EventQuery(page_size=10))
    assert sorted(e.id for e in page.events) == ["e0", "e1", "e2"]


async def test_concurrent_publishes_are_stored_and_published_once(store: EventStore) -> None:
    bus = MemoryBus()
    log = EventLog(store, bus)
    seen: list[str] = []

    async def record(event: CloudEvent) -> None:
        seen.append(event.id)

    await bus.subscribe("sh.keptn.event.test", record)
    events = [_event(i % 30) for i in range(60)]
    results = await asyncio.gather(*(log.publish(e) for e in events))
    assert sum(results) == 30
    assert results[:30] == [True] * 30
    page = await store.query(EventQuery(page_size=100))
    assert page.total_count == 30
    for _ in range(200):  # the memory bus delivers on its own task
        if len(seen) == 30:
            break
        await asyncio.sleep(0)
    assert sorted(seen) == sorted(f"e{i}" for i in range(30))
    await bus.close()
