"""The append-only event store: every CloudEvent once (dedup on source+id), queryable."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from selfheal.core import CloudEvent, InvalidInput, epoch_from_iso
from selfheal.storage.database import Database
from selfheal.storage.inline import Prepared, SqliteWriter

metadata = sa.MetaData()
events_table = sa.Table(
    "events",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(255), nullable=False),
    sa.Column("source", sa.String(512), nullable=False),
    sa.Column("type", sa.String(255), nullable=False),
    sa.Column("shkeptncontext", sa.String(255)),
    sa.Column("triggeredid", sa.String(255)),
    sa.Column("project", sa.String(255)),
    sa.Column("stage", sa.String(255)),
    sa.Column("service", sa.String(255)),
    sa.Column("time", sa.Float, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
)


@dataclass(frozen=True, slots=True)
class EventQuery:
    keptn_context: str | None = None
    type: str | None = None
    project: str | None = None
    stage: str | None = None
    service: str | None = None
    triggeredid: str | None = None
    since: float | None = None
    until: float | None = None
    page_size: int = 20
    next_page_key: str | None = None
    oldest_first: bool = False


@dataclass(frozen=True, slots=True)
class EventPage:
    events: list[CloudEvent]
    next_page_key: str | None
    total_count: int


class EventStore(Protocol):
    async def append(self, event: CloudEvent) -> bool: ...

    async def append_many(self, events: list[CloudEvent]) -> list[bool]:
        """`append` for each event, in one transaction: which of them were new."""
        ...

    async def query(self, query: EventQuery) -> EventPage: ...


def _offset(query: EventQuery) -> int:
    if not query.next_page_key:
        return 0
    try:
        value = int(query.next_page_key)
    except ValueError as exc:
        raise InvalidInput(
            "nextPageKey must be a number returned by a previous page", field="nextPageKey"
        ) from exc
    if value < 0:
        raise InvalidInput("nextPageKey must not be negative", field="nextPageKey")
    return value


def _check_size(query: EventQuery) -> None:
    if not 1 <= query.page_size <= 1000:
        raise InvalidInput("pageSize must be between 1 and 1000", field="pageSize")


def event_row(event: CloudEvent) -> dict[str, Any]:
    """The `events` table row of one event (shared by every writer of the table)."""
    try:
        when = epoch_from_iso(event.time)
    except ValueError:
        when = 0.0
    return {
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "shkeptncontext": event.shkeptncontext,
        "triggeredid": event.triggeredid,
        "project": event.project,
        "stage": event.stage,
        "service": event.service,
        "time": when,
        "body": json.dumps(event.to_dict(), separators=(",", ":")),
    }


APPEND_CHUNK = 400
"""Rows per INSERT in `append_many` off the inline writer (10 values each, well under
SQLite's 32,766 and PostgreSQL's 65,535 bound parameters)."""


class SqlEventStore:
    """Events in the `events` table of SQLite or PostgreSQL."""

    def __init__(self, database: Database) -> None:
        self._db = database
        insert = postgresql.insert if database.dialect == "postgresql" else sqlite.insert
        upsert: Any = insert(events_table).on_conflict_do_nothing(index_elements=["source", "id"])
        self._insert = upsert.returning(events_table.c.seq)
        self._insert_many = upsert.returning(events_table.c.source, events_table.c.id)
        self._prepared = Prepared(
            upsert.values(
                {c.name: sa.bindparam(c.name) for c in events_table.c if c.name != "seq"}
            ).returning(events_table.c.seq)
        )

    @property
    def writer(self) -> SqliteWriter | None:
        return self._db.writer

    async def append(self, event: CloudEvent) -> bool:
        writer = self._db.writer
        if writer is not None:
            return (await self._append_inline(writer, [event]))[0]
        # RETURNING rather than rowcount: psycopg's async cursor reports -1 for a skipped
        # ON CONFLICT DO NOTHING, which read as "inserted" and republished duplicates
        async with self._db.engine.begin() as conn:
            result = await conn.execute(self._insert, event_row(event))
            return result.first() is not None

    async def append_many(self, events: list[CloudEvent]) -> list[bool]:
        """One commit for a burst of events. An event whose key is already stored, or
        appears earlier in the burst, was not new.

        On a SQLite file the events go through the process's one writer (see
        `selfheal.storage.inline`), so a burst never waits in SQLite's busy handler for
        the control plane's steps. Elsewhere one multi-row INSERT per `APPEND_CHUNK` events
        (a statement per event had cost a round trip to aiosqlite's thread each, 0.7 ms a
        piece); its RETURNING names the rows that went in."""
        writer = self._db.writer
        if writer is not None:
            return await self._append_inline(writer, events)
        out: list[bool] = []
        seen: set[tuple[str, str]] = set()
        async with self._db.engine.begin() as conn:
            for start in range(0, len(events), APPEND_CHUNK):
                chunk = events[start : start + APPEND_CHUNK]
                stmt = self._insert_many.values([event_row(e) for e in chunk])
                stored = {(r.source, r.id) for r in (await conn.execute(stmt)).all()}
                for event in chunk:
                    key = (event.source, event.id)
                    out.append(key in stored and key not in seen)
                    seen.add(key)
        return out

    async def _append_inline(self, writer: SqliteWriter, events: list[CloudEvent]) -> list[bool]:
        out: list[bool] = []
        async with writer.transaction() as conn:
            for event in events:
                out.append((await conn.run(self._prepared, event_row(event))).first() is not None)
        return out

    async def query(self, query: EventQuery) -> EventPage:
        _check_size(query)
        offset = _offset(query)
        t = events_table
        conds: list[Any] = []
        if query.keptn_context:
            conds.append(t.c.shkeptncontext == query.keptn_context)
        if query.type:
            conds.append(t.c.type == query.type)
        for name in ("project", "stage", "service", "triggeredid"):
            value = getattr(query, name)
            if value:
                conds.append(t.c[name] == value)
        if query.since is not None:
            conds.append(t.c.time >= query.since)
        if query.until is not None:
            conds.append(t.c.time <= query.until)
        where = sa.and_(sa.true(), *conds)
        order = t.c.seq.asc() if query.oldest_first else t.c.seq.desc()
        stmt = (
            sa.select(t.c.body).where(where).order_by(order).offset(offset).limit(query.page_size)
        )
        count = sa.select(sa.func.count()).select_from(t).where(where)
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
            total = int((await conn.execute(count)).scalar_one())
        events = [CloudEvent.from_dict(json.loads(r.body)) for r in rows]
        nxt = offset + len(events)
        return EventPage(events, str(nxt) if nxt < total else None, total)


class MemoryEventStore:
    """The same contract in a list, for tests and for a database-less run."""

    def __init__(self) -> None:
        self._events: list[CloudEvent] = []
        self._keys: set[tuple[str, str]] = set()

    async def append(self, event: CloudEvent) -> bool:
        key = (event.source, event.id)
        if key in self._keys:
            return False
        self._keys.add(key)
        self._events.append(event)
        return True

    async def append_many(self, events: list[CloudEvent]) -> list[bool]:
        return [await self.append(event) for event in events]

    async def query(self, query: EventQuery) -> EventPage:
        _check_size(query)
        offset = _offset(query)

        def keep(e: CloudEvent) -> bool:
            when = epoch_from_iso(e.time)
            return (
                (not query.keptn_context or e.shkeptncontext == query.keptn_context)
                and (not query.type or e.type == query.type)
                and (not query.project or e.project == query.project)
                and (not query.stage or e.stage == query.stage)
                and (not query.service or e.service == query.service)
                and (not query.triggeredid or e.triggeredid == query.triggeredid)
                and (query.since is None or when >= query.since)
                and (query.until is None or when <= query.until)
            )

        matched = [e for e in self._events if keep(e)]
        if not query.oldest_first:
            matched.reverse()
        page = matched[offset : offset + query.page_size]
        nxt = offset + len(page)
        return EventPage(page, str(nxt) if nxt < len(matched) else None, len(matched))
