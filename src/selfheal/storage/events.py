"""The append-only event store: every CloudEvent once (dedup on source+id), queryable."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from selfheal.core import CloudEvent, InvalidInput, epoch_from_iso
from selfheal.storage.database import Database
from selfheal.storage.inline import InlineConnection, Prepared, SqliteWriter

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
outbox_table = sa.Table(
    "event_outbox",
    metadata,
    sa.Column("source", sa.String(512), primary_key=True),
    sa.Column("id", sa.String(255), primary_key=True),
    sa.Column("due", sa.Float, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("lease_owner", sa.String(64)),
    sa.Column("lease_until", sa.Float),
)
"""Events that are committed but not yet confirmed on the bus (the transactional outbox):
a row goes in with its event, in the same transaction, and out once the bus acknowledged
it. `storage.relay` publishes the rows whose `due` time passed."""


def not_in_outbox(events: sa.Table) -> Any:
    """The retention condition of the event store: events still in the outbox are kept
    until the bus has them."""
    o = outbox_table
    return ~sa.exists().where(o.c.source == events.c.source, o.c.id == events.c.id)


OUTBOX_GRACE = 2.0
"""Seconds the publisher that committed an event has to put it on the bus itself before the
relay (of any replica) takes it over."""


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
    count: bool = True
    """Count the matching events (`total_count`); without, `total_count` is the page's
    length (internal look-ups that read only the page skip a statement)."""


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

    async def mark_published(self, keys: list[tuple[str, str]]) -> None:
        """The bus acknowledged the events with these (source, id) keys."""
        ...

    async def query(self, query: EventQuery) -> EventPage: ...


COUNT_CAP = 10_000
"""`totalCount` counts matching events up to this many (an exact count of a large, growing
table on every page cost more than the page)."""


def _after(query: EventQuery) -> int | None:
    """The page key: the `seq` of the last event of the previous page (keyset paging, so a
    page costs the same however deep it is and never skips or repeats an event when new
    ones arrive)."""
    if not query.next_page_key:
        return None
    try:
        value = int(query.next_page_key)
    except ValueError as exc:
        raise InvalidInput(
            "nextPageKey must be a number returned by a previous page", field="nextPageKey"
        ) from exc
    if not 0 <= value < 2**62:
        raise InvalidInput("nextPageKey is out of range", field="nextPageKey")
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
    """Events in the `events` table of SQLite or PostgreSQL, each new one with its outbox
    row (see `outbox_table`)."""

    def __init__(self, database: Database, *, now: Callable[[], float] = time.time) -> None:
        self._db = database
        self._now = now
        insert = postgresql.insert if database.dialect == "postgresql" else sqlite.insert
        upsert: Any = insert(events_table).on_conflict_do_nothing(index_elements=["source", "id"])
        self._insert_many = upsert.returning(events_table.c.source, events_table.c.id)
        self._outbox_many: Any = insert(outbox_table).on_conflict_do_nothing()
        self._outbox_from: Any = sa.insert(outbox_table)
        self._appends: dict[int, tuple[str, list[str] | None]] = {}
        self._prepared = Prepared(
            upsert.values(
                {c.name: sa.bindparam(c.name) for c in events_table.c if c.name != "seq"}
            ).returning(events_table.c.seq)
        )
        self._prepared_outbox = Prepared(
            insert(outbox_table)
            .values(
                source=sa.bindparam("source"),
                id=sa.bindparam("id"),
                due=sa.bindparam("due"),
                attempts=0,
            )
            .on_conflict_do_nothing()
        )
        o = outbox_table
        self._prepared_done = Prepared(
            sa.delete(o).where(o.c.source == sa.bindparam("s"), o.c.id == sa.bindparam("i"))
        )

    def _postgres_append(self, rows: int) -> tuple[str, list[str] | None]:
        """PostgreSQL's append of `rows` events with their outbox rows, one statement built
        once per row count: a multi-row `VALUES` list has no cache key in SQLAlchemy, so
        building it per call compiled it per call (12 % of a replica's CPU in a burst).
        Parameters: `<column>_<i>` for each event's row and `due` for the outbox; the SQL
        string and, for a driver with positional parameters, their order."""
        sql = self._appends.get(rows)
        if sql is None:
            values = self._insert_many.values(
                [
                    {
                        c.name: sa.bindparam(f"{c.name}_{i}", type_=c.type)
                        for c in events_table.c
                        if c.name != "seq"
                    }
                    for i in range(rows)
                ]
            )
            inserted = values.cte("inserted")
            stmt: Any = self._outbox_from.from_select(
                ["source", "id", "due", "attempts"],
                sa.select(
                    inserted.c.source,
                    inserted.c.id,
                    sa.bindparam("due", type_=sa.Float),
                    sa.literal_column("0"),
                ),
            ).returning(outbox_table.c.source, outbox_table.c.id)
            # compiled once; it runs as the driver's SQL string (`exec_driver_sql`)
            compiled = stmt.compile(dialect=self._db.engine.dialect)
            sql = (str(compiled), compiled.positiontup)
            if len(self._appends) < 64:
                self._appends[rows] = sql
        return sql

    @property
    def writer(self) -> SqliteWriter | None:
        return self._db.writer

    async def append(self, event: CloudEvent) -> bool:
        return (await self.append_many([event]))[0]

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
            async with writer.transaction() as conn:
                fresh = await self.append_in(conn, events)
        else:
            async with self._db.engine.begin() as conn:
                fresh = await self.append_in(conn, events)
        new = {id(e) for e in fresh}
        return [id(e) in new for e in events]

    async def append_in(self, conn: Any, events: list[CloudEvent]) -> list[CloudEvent]:
        """Append inside the caller's open transaction (an `AsyncConnection`, or the SQLite
        writer's `InlineConnection`), each new event with its outbox row, so the events
        commit (or roll back) with the caller's state change. Returns the new ones; hand
        them to `EventLog.released` once the transaction has committed."""
        if not events:
            return []
        due = self._now() + OUTBOX_GRACE
        fresh: list[CloudEvent] = []
        if isinstance(conn, InlineConnection):
            for event in events:
                row = event_row(event)
                if (await conn.run(self._prepared, row)).first() is not None:
                    await conn.run(
                        self._prepared_outbox,
                        {"source": event.source, "id": event.id, "due": due},
                    )
                    fresh.append(event)
            return fresh
        seen: set[tuple[str, str]] = set()
        postgres = self._db.dialect == "postgresql"
        for start in range(0, len(events), APPEND_CHUNK):
            chunk = events[start : start + APPEND_CHUNK]
            if postgres:
                # one round trip: the outbox rows are inserted from the events' RETURNING
                params: dict[str, Any] = {"due": due}
                for i, event in enumerate(chunk):
                    for name, value in event_row(event).items():
                        params[f"{name}_{i}"] = value
                sql, order = self._postgres_append(len(chunk))
                bound: Any = params if order is None else tuple(params[k] for k in order)
                result = await conn.exec_driver_sql(sql, bound)
            else:
                result = await conn.execute(self._insert_many.values([event_row(e) for e in chunk]))
            stored = {(r.source, r.id) for r in result.all()}
            new = []
            for event in chunk:
                key = (event.source, event.id)
                if key in stored and key not in seen:
                    new.append(event)
                seen.add(key)
            if new and not postgres:
                rows = [{"source": e.source, "id": e.id, "due": due, "attempts": 0} for e in new]
                await conn.execute(self._outbox_many.values(rows))
            fresh.extend(new)
        return fresh

    async def mark_published(self, keys: list[tuple[str, str]]) -> None:
        """The bus acknowledged these events: their outbox rows go."""
        if not keys:
            return
        writer = self._db.writer
        if writer is not None:
            async with writer.transaction() as conn:
                for source, id_ in keys:
                    await conn.run(self._prepared_done, {"s": source, "i": id_})
            return
        async with self._db.engine.begin() as conn:
            await conn.execute(
                self._prepared_done.core, [{"s": source, "i": id_} for source, id_ in keys]
            )

    async def query(self, query: EventQuery) -> EventPage:
        _check_size(query)
        after = _after(query)
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
        if after is None:
            page_where = where
        elif query.oldest_first:
            page_where = sa.and_(where, t.c.seq > after)
        else:
            page_where = sa.and_(where, t.c.seq < after)
        order = t.c.seq.asc() if query.oldest_first else t.c.seq.desc()
        stmt = (
            sa.select(t.c.seq, t.c.body)
            .where(page_where)
            .order_by(order)
            .limit(query.page_size + 1)
        )
        capped = sa.select(sa.literal(1)).select_from(t).where(where).limit(COUNT_CAP).subquery()
        count = sa.select(sa.func.count()).select_from(capped)
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
            total = (
                int((await conn.execute(count)).scalar_one())
                if query.count
                else min(len(rows), query.page_size)
            )
        more = len(rows) > query.page_size
        rows = rows[: query.page_size]
        events = [CloudEvent.from_dict(json.loads(r.body)) for r in rows]
        nxt = str(rows[-1].seq) if more and rows else None
        return EventPage(events, nxt, total)


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

    async def mark_published(self, keys: list[tuple[str, str]]) -> None:
        """Nothing to mark: the memory store has no outbox (nothing of it outlives the
        process anyway)."""

    async def query(self, query: EventQuery) -> EventPage:
        _check_size(query)
        after = _after(query)

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

        matched = [(n, e) for n, e in enumerate(self._events, 1) if keep(e)]
        total = min(len(matched), COUNT_CAP)
        if query.oldest_first:
            rest = [(n, e) for n, e in matched if after is None or n > after]
        else:
            rest = [(n, e) for n, e in reversed(matched) if after is None or n < after]
        page = rest[: query.page_size]
        more = len(rest) > query.page_size
        return EventPage([e for _, e in page], str(page[-1][0]) if more else None, total)
