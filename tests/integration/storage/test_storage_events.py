"""The event store contract on SQLite, PostgreSQL and in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from selfheal.core import CloudEvent, InvalidInput, iso_from_epoch
from selfheal.storage import (
    Database,
    EventQuery,
    EventStore,
    MemoryEventStore,
    SqlEventStore,
)

T0 = 1_700_000_000.0


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres), "memory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[EventStore]:
    if request.param == "memory":
        yield MemoryEventStore()
        return
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/events.db"
    else:
        url = request.getfixturevalue("pg_url")
    db = Database(url)
    await db.migrate()
    try:
        yield SqlEventStore(db)
    finally:
        await db.dispose()


def event(
    i: int,
    *,
    type_: str = "sh.keptn.event.action.triggered",
    context: str = "ctx-a",
    project: str = "website",
    stage: str = "production",
    service: str = "front-end",
    source: str = "tests/store",
    triggeredid: str | None = None,
) -> CloudEvent:
    ext = {"shkeptncontext": context}
    if triggeredid:
        ext["triggeredid"] = triggeredid
    return CloudEvent(
        type=type_,
        source=source,
        id=f"ev-{i}",
        time=iso_from_epoch(T0 + i),
        data={"project": project, "stage": stage, "service": service, "i": i},
        extensions=ext,
    )


async def ids(store: EventStore, query: EventQuery) -> list[str]:
    return [e.id for e in (await store.query(query)).events]


async def test_append_dedups_on_source_and_id(store: EventStore) -> None:
    assert await store.append(event(1))
    assert not await store.append(event(1))
    assert await store.append(event(1, source="elsewhere"))
    page = await store.query(EventQuery())
    assert page.total_count == 2


async def test_append_many_across_insert_chunks_says_which_were_new(store: EventStore) -> None:
    from selfheal.storage.events import APPEND_CHUNK

    assert await store.append(event(5))
    n = APPEND_CHUNK + 50
    burst = [event(i) for i in range(n)]
    # repeats: one within the first chunk, one in the next chunk of an event of the first,
    # one of an event stored before; and the same id from another source is new
    burst[10] = event(3)
    burst[APPEND_CHUNK + 7] = event(20)
    burst.append(event(20, source="elsewhere"))
    results = await store.append_many(burst)
    assert len(results) == len(burst)
    new = {i for i, ok in enumerate(results) if ok}
    assert 10 not in new and APPEND_CHUNK + 7 not in new and 5 not in new
    assert 3 in new and 20 in new and len(burst) - 1 in new
    assert len(new) == len(burst) - 3
    page = await store.query(EventQuery(page_size=1))
    assert page.total_count == len(burst) - 3 + 1
    [back] = (await store.query(EventQuery(page_size=1))).events
    assert back.to_dict() == burst[-1].to_dict()


async def test_stored_events_come_back_whole(store: EventStore) -> None:
    sent = event(1, triggeredid="t-1")
    await store.append(sent)
    [back] = (await store.query(EventQuery())).events
    assert back.to_dict() == sent.to_dict()
    assert back.triggeredid == "t-1"


async def test_query_by_each_field(store: EventStore) -> None:
    await store.append(event(1))
    await store.append(event(2, type_="sh.keptn.event.action.finished"))
    await store.append(event(3, context="ctx-b"))
    await store.append(event(4, project="shop"))
    await store.append(event(5, stage="staging"))
    await store.append(event(6, service="cart"))
    await store.append(event(7, triggeredid="t-7"))
    assert await ids(store, EventQuery(keptn_context="ctx-b")) == ["ev-3"]
    assert await ids(store, EventQuery(type="sh.keptn.event.action.finished")) == ["ev-2"]
    assert await ids(store, EventQuery(project="shop")) == ["ev-4"]
    assert await ids(store, EventQuery(stage="staging")) == ["ev-5"]
    assert await ids(store, EventQuery(service="cart")) == ["ev-6"]
    assert await ids(store, EventQuery(triggeredid="t-7")) == ["ev-7"]
    assert await ids(
        store, EventQuery(project="website", stage="production", service="front-end")
    ) == ["ev-7", "ev-3", "ev-2", "ev-1"]
    assert await ids(store, EventQuery(keptn_context="ctx-a", project="shop")) == ["ev-4"]
    assert await ids(store, EventQuery(keptn_context="nope")) == []


async def test_query_by_time_window_inclusive(store: EventStore) -> None:
    for i in range(1, 6):
        await store.append(event(i))
    assert await ids(store, EventQuery(since=T0 + 2, until=T0 + 4)) == ["ev-4", "ev-3", "ev-2"]
    assert await ids(store, EventQuery(since=T0 + 5)) == ["ev-5"]
    assert await ids(store, EventQuery(until=T0 + 1)) == ["ev-1"]


async def test_pages_newest_first_with_next_page_key_and_total(store: EventStore) -> None:
    for i in range(1, 8):
        await store.append(event(i))
    first = await store.query(EventQuery(page_size=3))
    assert [e.id for e in first.events] == ["ev-7", "ev-6", "ev-5"]
    assert first.total_count == 7
    assert first.next_page_key is not None
    second = await store.query(EventQuery(page_size=3, next_page_key=first.next_page_key))
    assert [e.id for e in second.events] == ["ev-4", "ev-3", "ev-2"]
    assert second.total_count == 7
    third = await store.query(EventQuery(page_size=3, next_page_key=second.next_page_key))
    assert [e.id for e in third.events] == ["ev-1"]
    assert third.next_page_key is None
    oldest = await store.query(EventQuery(page_size=2, oldest_first=True))
    assert [e.id for e in oldest.events] == ["ev-1", "ev-2"]


async def test_paging_a_filtered_query_counts_only_matches(store: EventStore) -> None:
    for i in range(1, 6):
        await store.append(event(i, context="ctx-a" if i % 2 else "ctx-b"))
    page = await store.query(EventQuery(keptn_context="ctx-a", page_size=2))
    assert [e.id for e in page.events] == ["ev-5", "ev-3"]
    assert page.total_count == 3
    rest = await store.query(
        EventQuery(keptn_context="ctx-a", page_size=2, next_page_key=page.next_page_key)
    )
    assert [e.id for e in rest.events] == ["ev-1"]
    assert rest.next_page_key is None


async def test_an_empty_store_has_an_empty_page(store: EventStore) -> None:
    page = await store.query(EventQuery())
    assert (page.events, page.next_page_key, page.total_count) == ([], None, 0)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (EventQuery(page_size=0), "pageSize"),
        (EventQuery(page_size=1001), "pageSize"),
        (EventQuery(next_page_key="abc"), "nextPageKey"),
        (EventQuery(next_page_key="-1"), "nextPageKey"),
    ],
)
async def test_bad_paging_is_invalid_input(
    store: EventStore, query: EventQuery, field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await store.query(query)
    assert caught.value.field == field


async def test_events_without_scope_are_stored(store: EventStore) -> None:
    bare = CloudEvent(type="selfheal.flags.changed", source="selfheal/flags", data=[1, 2])
    assert await store.append(bare)
    [back] = (await store.query(EventQuery(type="selfheal.flags.changed"))).events
    assert back.data == [1, 2]
    assert back.project is None


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def test_migrations_run_twice_and_create_the_events_table(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = (
        f"sqlite+aiosqlite:///{tmp_path}/m.db"
        if backend == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    db = Database(url)
    try:
        await db.migrate()
        await db.migrate()
        assert await db.ping()
        async with db.engine.connect() as conn:
            names = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
            columns = await conn.run_sync(
                lambda c: {col["name"] for col in sa.inspect(c).get_columns("events")}
            )
            heads = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).all()
        assert "events" in names
        assert {"seq", "id", "source", "type", "shkeptncontext", "time", "body"} <= columns
        assert any(r[0] for r in heads)
        assert db.dialect == backend
    finally:
        await db.dispose()
