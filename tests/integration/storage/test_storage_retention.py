"""Retention: old rows go in small batches; rows still in use stay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from selfheal.bootstrap import build
from selfheal.bus import MemoryBus
from selfheal.core import CloudEvent, ManualClock, iso_from_epoch
from selfheal.settings import Settings
from selfheal.storage import Database, EventQuery, Pruner, Rule, SqlEventStore
from selfheal.storage.events import events_table, not_in_outbox

DAY = 86400.0
T0 = 1_700_000_000.0


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/retention.db"
    else:
        url = request.getfixturevalue("pg_url")
    db = Database(url)
    await db.migrate()
    try:
        yield db
    finally:
        await db.dispose()


def event(n: int, when: float) -> CloudEvent:
    return CloudEvent(
        type="sh.keptn.event.test.triggered",
        source="tests",
        id=f"e-{n}",
        data={},
        time=iso_from_epoch(when),
    )


async def test_old_published_events_are_pruned_in_batches(database: Database) -> None:
    store = SqlEventStore(database, now=lambda: T0)
    old = [event(n, T0 - 40 * DAY) for n in range(7)]
    new = [event(100 + n, T0 - 1 * DAY) for n in range(3)]
    await store.append_many([*old, *new])
    # all but the last old one reached the bus
    await store.mark_published([(e.source, e.id) for e in [*old[:-1], *new]])
    pruner = Pruner(database, lambda: T0, batch=2)
    pruner.add(Rule("events", events_table, "time", 30 * DAY, key=("seq",), where=not_in_outbox))
    assert await pruner.run_once() == {"events": 6}
    page = await store.query(EventQuery(page_size=100))
    assert sorted(e.id for e in page.events) == sorted(["e-6", "e-100", "e-101", "e-102"])
    assert await pruner.run_once() == {"events": 0}


async def test_a_window_of_zero_keeps_everything(database: Database) -> None:
    pruner = Pruner(database, lambda: T0)
    pruner.add(Rule("events", events_table, "time", 0, key=("seq",)))
    assert pruner.rules == []


async def test_the_container_registers_the_event_store_with_the_settings_window(
    tmp_path: Path,
) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/c.db",
        storage={"retention": {"events_days": 7}},  # type: ignore[arg-type]
    )
    container = await build(settings, bus=MemoryBus(), clock=ManualClock())
    rules = {r.name: r for r in container.runtime.retention.rules}
    assert rules["events"].window == 7 * DAY
    await container.runtime.database.dispose()


def test_unknown_retention_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="event_days"):
        Settings(storage={"retention": {"event_days": 7}})  # type: ignore[arg-type]
