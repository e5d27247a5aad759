"""The monitor's state in the database: a problem change commits with its event or not at
all, saves are compare-and-set, services follow the database's revision, SLI samples are
written in batches."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from selfheal.core import CloudEvent, ManualClock
from selfheal.monitor.notifications import OPEN_T, problem_event
from selfheal.monitor.problems import CLOSED, ProblemQuery, new_problem
from selfheal.monitor.samples import MemorySampleStore, SampleRecorder, series_between
from selfheal.monitor.sources import Sample
from selfheal.monitor.store import SqlProblemStore
from selfheal.storage import Database, EventQuery, SqlEventStore
from tests.unit.monitor.conftest import ADMIN, URL, System


class BrokenOutbox:
    """An event store that fails inside the transaction (the disk is full, say)."""

    async def append_in(self, conn: Any, events: list[CloudEvent]) -> list[CloudEvent]:
        raise RuntimeError("events table unavailable")

    async def released(self, events: list[CloudEvent]) -> None:
        raise AssertionError("nothing may be released")


class StoreOutbox:
    """The real SQL event store, and a record of what was released after commit."""

    def __init__(self, store: SqlEventStore) -> None:
        self.store = store
        self.released_events: list[CloudEvent] = []

    async def append_in(self, conn: Any, events: list[CloudEvent]) -> list[CloudEvent]:
        return await self.store.append_in(conn, events)

    async def released(self, events: list[CloudEvent]) -> None:
        self.released_events.extend(events)


def opened(start: float = 10.0) -> Any:
    return new_problem(
        title="Failure rate increase",
        service="web",
        severity="ERROR",
        start=start,
        tags={},
        evidence=[],
    )


def open_event(p: Any) -> list[CloudEvent]:
    return [problem_event(p, OPEN_T, "http://selfheal.test", p.start)]


@pytest.fixture
async def database(tmp_path: Path) -> Any:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/state.db")
    await db.migrate()
    try:
        yield db
    finally:
        await db.dispose()


async def test_a_problem_is_never_open_without_its_open_event(database: Database) -> None:
    broken = SqlProblemStore(database, events=BrokenOutbox())
    with pytest.raises(RuntimeError):
        await broken.create(opened(), open_event)
    assert (await broken.find(ProblemQuery()))[1] == 0  # rolled back with the event

    events = SqlEventStore(database)
    outbox = StoreOutbox(events)
    store = SqlProblemStore(database, events=outbox)
    p = await store.create(opened(), open_event)
    [event] = outbox.released_events
    assert event.data["ProblemID"] == p.display_id != ""  # made from the stored row
    stored = await events.query(EventQuery(type="sh.keptn.events.problem"))
    assert [e.id for e in stored.events] == [event.id]


async def test_a_save_from_an_old_version_loses(database: Database) -> None:
    store = SqlProblemStore(database)
    p = await store.create(opened())
    closed = await store.save(p.with_(status=CLOSED, end=20.0))
    assert closed is not None and closed.version == p.version + 1
    assert await store.save(p.with_(status="RESOLVED", end=30.0)) is None  # stale
    current = await store.get(p.id)
    assert current is not None and (current.status, current.version) == (CLOSED, 2)


async def test_the_tracker_lets_go_of_a_problem_closed_elsewhere(system: System) -> None:
    r = await system.http.post(
        "/api/v1/monitor/services",
        json={"name": "front-end", "source": {"scrape": {"url": URL}}},
        headers=ADMIN,
    )
    assert r.status_code == 200, r.text
    svc = system.container.monitor.service
    await system.run(40, 100, 0)
    await system.run(20, 100, 60)
    [p], _ = await svc.list_problems()
    assert p.status == "OPEN" and svc.tracker.is_open("front-end")
    # another replica's user closes it: this process's tracker still holds the old version
    assert await svc.store.save(p.with_(status=CLOSED, end=system.clock.now())) is not None
    await system.run(90, 100, 0)  # healthy past the hold time: the RESOLVED loses the CAS
    assert (await svc.get_problem(p.id)).status == CLOSED
    assert not svc.tracker.is_open("front-end")


async def test_services_follow_the_database_revision(system: System) -> None:
    component = system.container.monitor
    # another replica's change, seen only through the database (no broadcast here)
    revision = await component.store.save_services(
        [("web", {"name": "web", "source": {"scrape": {"url": URL}}})], system.clock.now()
    )
    for _ in range(100):
        if "web" in component.service.watchers:
            break
        await system.clock.advance(0.5)
        await asyncio.sleep(0.01)
    assert "web" in component.service.watchers and component.revision == revision
    await component.store.delete_service("web", system.clock.now())
    for _ in range(100):
        if "web" not in component.service.watchers:
            break
        await system.clock.advance(0.5)
        await asyncio.sleep(0.01)
    assert "web" not in component.service.watchers


class CountingStore(MemorySampleStore):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.fail = False

    async def add_samples(self, rows: list[tuple[str, Sample]]) -> None:
        if self.fail:
            raise RuntimeError("database away")
        self.writes += 1
        await super().add_samples(rows)


async def test_samples_are_written_in_batches_and_kept_when_a_write_fails() -> None:
    store, clock = CountingStore(), ManualClock()
    recorder = SampleRecorder(store, clock, interval=1.0)
    for t in range(5):
        recorder.add("web", Sample(float(t), 100.0 * t, 10.0 * t))
    assert store.writes == 0 and recorder.pending == 5  # the tick never waits for a write
    store.fail = True
    with pytest.raises(RuntimeError):
        await recorder.flush()
    assert recorder.pending == 5
    store.fail = False
    assert await recorder.flush() == 5 and store.writes == 1
    series = await series_between(store, "web", 1.0, 4.0, 100)
    window = series.between(1.0, 4.0)
    assert window is not None and (window.requests, window.errors) == (300.0, 30.0)


async def test_stored_samples_are_reset_corrected_on_read() -> None:
    store = MemorySampleStore()
    # a leader restart (counters back to 0) between t=2 and t=3
    await store.add_samples(
        [("web", Sample(float(t), r, e)) for t, r, e in [(1, 100, 1), (2, 200, 2), (3, 50, 5)]]
    )
    window = (await series_between(store, "web", 1.0, 3.0, 100)).between(1.0, 3.0)
    assert window is not None and (window.requests, window.errors) == (150.0, 6.0)


async def test_old_samples_and_closed_problems_are_pruned(system: System) -> None:
    component = system.container.monitor
    retention = system.container.runtime.retention
    assert {"sli_samples", "problems", "problem_comments", "deliveries"} <= {
        r.name for r in retention.rules
    }
    now = system.clock.now()
    await component.store.add_samples([("web", Sample(now, 1.0, 0.0))])
    p = await component.store.create(opened(now))
    closed = await component.store.save(p.with_(status=CLOSED, end=now, updated=now))
    assert closed is not None
    await component.service.add_comment(p.id, "noted")
    kept = await component.store.create(opened(now + 1))  # still OPEN: never pruned
    await system.clock.advance(25 * 3600)
    assert await component.store.samples("web", now - 1, now + 1) != []
    pruned = await retention.run_once()
    assert pruned["sli_samples"] == 1  # 24 h window
    assert pruned["problems"] == 0  # 90 days
    await system.clock.advance(91 * 86_400)
    pruned = await retention.run_once()
    assert (pruned["problems"], pruned["problem_comments"]) == (1, 1)
    assert await component.store.get(p.id) is None
    assert await component.store.get(kept.id) is not None
