"""Engine steps: every state change an event causes, and the events it emits, in one
transaction.

A step is opened by the engine's entry points (a problem, a provider's answer, a timer) and
joined by everything they call: the stores find the step's connection in a context variable,
`emit` collects events instead of publishing them, and spawned work waits for the commit.
On commit the events are appended to the event store in the same transaction (when the store
is the SQL one on this database), then put on the bus, then the deferred work runs. A
compare-and-set that loses (`StaleState`) rolls the whole step back: nothing half-done is
stored and nothing is published.

SQLite has one writer at a time; its busy handler waits by sleeping (1, 2, 5, 10 … ms), so
concurrent writers in one process queue behind an asyncio lock instead. And on SQLite the
statements run inline on the event loop thread through a synchronous connection to the same
file: with WAL and synchronous=NORMAL a statement takes tens of microseconds and a commit
does not fsync, while a round trip to aiosqlite's worker thread costs 250-400 µs, which made
up most of the time from a problem to its `action.triggered`. The write lock is taken with
`BEGIN IMMEDIATE` and a zero busy timeout, retried with an async sleep, so the loop never
blocks waiting for another process (or another context's aiosqlite writer).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from selfheal.control.errors import ControlError
from selfheal.core import CloudEvent
from selfheal.runtime import EventLog
from selfheal.storage import Database, SqlEventStore, StorageError
from selfheal.storage.events import event_row, events_table

log = logging.getLogger(__name__)
CHECKPOINT_EVERY = 200
"""Commits of the inline SQLite connection between two WAL checkpoints."""


class StaleState(ControlError):
    """A compare-and-set lost: someone else changed the sequence first."""


@dataclass
class Step:
    conn: Any  # an AsyncConnection, or an `_Inline` one on SQLite
    events: list[CloudEvent] = field(default_factory=list)
    after: list[Callable[[], None]] = field(default_factory=list)
    seqs: dict[str, Any] = field(default_factory=dict)
    """Sequences read or written in this step: the step's own writes are the truth."""
    pending: dict[str, tuple[int, Any]] = field(default_factory=dict)
    """Sequence rows changed in this step and not yet written: context → (the version the
    database holds, the latest state). Written once, as a compare-and-set, before commit."""
    before_commit: list[Callable[[Step], Awaitable[None]]] = field(default_factory=list)
    """Run (once each) before the step's events are appended and it commits."""


_current: ContextVar[Step | None] = ContextVar("selfheal_control_step", default=None)


def current() -> Step | None:
    return _current.get()


def detach() -> None:
    """Forget the step in this task (spawned tasks inherit the context they were made in)."""
    _current.set(None)


class Prepared:
    """A Core statement built once, with `bindparam`s for every value.

    Building a statement per call (`coercions.expect`, cache keys) cost more CPU than SQLite
    spent running it. On the inline SQLite connection the statement runs as its SQL string,
    compiled once (no per-call compilation or cache-key walk); on any other connection it is
    the Core statement, served from SQLAlchemy's compiled cache. Only plain values may be
    bound (no `expanding` IN lists), and result rows carry the selected columns' names."""

    __slots__ = ("_sql", "core", "is_dml")

    def __init__(self, core: Any) -> None:
        self.core = core
        self.is_dml: bool = bool(getattr(core, "is_dml", False))
        self._sql: tuple[str, dict[str, Any]] | None = None

    def compiled(self) -> tuple[str, dict[str, Any]]:
        """The SQL for SQLite's named paramstyle, and the values bound at build time (a
        LIMIT's number)."""
        if self._sql is None:
            compiled = self.core.compile(dialect=_NAMED_SQLITE)
            fixed = {k: b.effective_value for k, b in compiled.binds.items() if not b.required}
            self._sql = (str(compiled), fixed)
        return self._sql


_NAMED_SQLITE = sqlite.dialect(paramstyle="named")


async def run(conn: Any, statement: Prepared, parameters: dict[str, Any]) -> Any:
    """Execute a prepared statement on a step's (or a store's own) connection."""
    if isinstance(conn, _Inline):
        return await conn.run(statement, parameters)
    return await conn.execute(statement.core, parameters)


class _Row:
    """A result row: `row.name` and `row._mapping` as SQLAlchemy's rows have them."""

    __slots__ = ("_mapping",)

    def __init__(self, mapping: dict[str, Any]) -> None:
        self._mapping = mapping

    def __getattr__(self, name: str) -> Any:
        try:
            return self._mapping[name]
        except KeyError:
            raise AttributeError(name) from None


class _Rows:
    """The result of a prepared statement run on the raw `sqlite3` cursor: the part of
    SQLAlchemy's result API the stores use, without its per-statement result setup (which
    cost a quarter as much as running the statement). The rows are read at once, so the
    statement is finished before the next one runs."""

    __slots__ = ("_names", "_rows", "rowcount")

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._rows = cursor.fetchall() if cursor.description else []
        self._names = [d[0] for d in cursor.description] if cursor.description else []
        self.rowcount: int = cursor.rowcount

    def first(self) -> _Row | None:
        if not self._rows:
            return None
        return _Row(dict(zip(self._names, self._rows[0], strict=True)))

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        if len(self._rows) != 1:
            raise StorageError(f"expected one row, got {len(self._rows)}")
        return self._rows[0][0]


class _Inline:
    """A synchronous SQLAlchemy connection behind the awaitable `execute` the stores use.

    In a transaction the write lock is taken at the first INSERT/UPDATE/DELETE, so a step
    that only reads (a repeated notification, a stale answer) never blocks a writer."""

    def __init__(self, conn: Connection, *, transaction: bool = False) -> None:
        self._conn = conn
        self._transaction = transaction
        self.writing = False
        self._raw: Any = None

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        if self._transaction and not self.writing and getattr(statement, "is_dml", False):
            await _begin_immediate(self._conn)
            self.writing = True
        return self._conn.execute(statement, parameters)

    async def run(self, statement: Prepared, parameters: dict[str, Any]) -> Any:
        if self._transaction and not self.writing and statement.is_dml:
            await _begin_immediate(self._conn)
            self.writing = True
        sql, fixed = statement.compiled()
        params = {**fixed, **parameters} if fixed else parameters
        raw = self._raw
        if raw is None:
            raw = self._raw = self._conn.connection.driver_connection
        try:
            cursor = raw.execute(sql, params)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(sql, params, exc, sqlite3.Error) from exc
        try:
            return _Rows(cursor)
        finally:
            cursor.close()


def _inline_engine(database: Database) -> Engine | None:
    """A synchronous engine on the same SQLite file; None for a memory database."""
    url = make_url(database.url)
    path = url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    engine = create_engine(
        url.set(drivername="sqlite+pysqlite"),
        connect_args={"isolation_level": None, "check_same_thread": False},
    )

    def pragmas(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=0")
        # checkpoints (which fsync the database file) run off the loop: see `_checkpoint`
        cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    event.listen(engine, "connect", pragmas)
    return engine


class Steps:
    """Opens steps on `database`; publishes their events through `events` (store + bus)."""

    def __init__(self, database: Database, events: EventLog) -> None:
        self._db = database
        self._events = events
        self._sqlite = database.dialect == "sqlite"
        self._sync = _inline_engine(database) if self._sqlite else None
        self._commits = 0
        self._checkpointing: asyncio.Future[None] | None = None
        self._writer = asyncio.Lock()
        self._inline = isinstance(events.store, SqlEventStore)
        insert = postgresql.insert if database.dialect == "postgresql" else sqlite.insert
        self._append = Prepared(
            insert(events_table)
            .values({c.name: bindparam(c.name) for c in events_table.c if c.name != "seq"})
            .on_conflict_do_nothing(index_elements=["source", "id"])
            .returning(events_table.c.seq)
        )

    @asynccontextmanager
    async def connection(self, *, write: bool) -> AsyncIterator[Any]:
        """The active step's connection, or a short transaction of its own."""
        step = _current.get()
        if step is not None:
            yield step.conn
            return
        if not write:
            if self._sync is not None:
                with self._sync.connect() as sync:
                    yield _Inline(sync)
                return
            async with self._db.engine.connect() as conn:
                yield conn
            return
        async with self._transaction() as conn:
            yield conn

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Any]:
        if self._sync is None:
            async with self._serial(), self._db.engine.begin() as conn:
                yield conn
            return
        async with self._writer:
            with self._sync.connect() as sync:
                inline = _Inline(sync, transaction=True)
                try:
                    yield inline
                except BaseException:
                    if inline.writing:
                        sync.exec_driver_sql("ROLLBACK")
                    raise
                if inline.writing:
                    sync.exec_driver_sql("COMMIT")
                    self._commits += 1
                    if self._commits % CHECKPOINT_EVERY == 0:
                        self._checkpoint()

    @asynccontextmanager
    async def _serial(self) -> AsyncIterator[None]:
        if self._sqlite:
            async with self._writer:
                yield
        else:
            yield

    @asynccontextmanager
    async def open(self) -> AsyncIterator[Step]:
        """Run the body as one step, or join the active one. A `StaleState` raised inside
        rolls the step back and is swallowed (the caller's code after the block runs)."""
        outer = _current.get()
        if outer is not None:
            yield outer
            return
        fresh: list[CloudEvent] = []
        step: Step | None = None
        try:
            async with self._transaction() as conn:
                step = Step(conn)
                token = _current.set(step)
                try:
                    yield step
                finally:
                    _current.reset(token)
                for flush in step.before_commit:
                    await flush(step)
                if self._inline:
                    for event in step.events:
                        if (await run(conn, self._append, event_row(event))).first():
                            fresh.append(event)
        except StaleState as exc:
            log.debug("step rolled back: %s", exc)
            return
        if self._inline:
            for event in fresh:
                await self._events.bus.publish(event)
        else:
            for event in step.events:
                await self._events.publish(event)
        for callback in step.after:
            callback()

    async def publish(self, event: CloudEvent) -> None:
        """Emit into the active step, or store and publish at once."""
        step = _current.get()
        if step is not None:
            step.events.append(event)
        else:
            await self._events.publish(event)

    def _checkpoint(self) -> None:
        """Copy the WAL back into the database file on a worker thread.

        SQLite's automatic checkpoint runs inside the COMMIT that crosses 1000 WAL pages, and
        it fsyncs the database file: on the loop thread that stalled every step queued
        behind it. The inline connection turns it off and checkpoints here instead (PASSIVE:
        it never blocks writers or readers); committed data is in the WAL either way."""
        if self._sync is None or self._checkpointing is not None:
            return
        path = self._sync.url.database
        assert path is not None

        def checkpoint() -> None:
            conn = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error as exc:
                log.debug("WAL checkpoint skipped: %s", exc)
            finally:
                conn.close()

        def done(future: asyncio.Future[None]) -> None:
            self._checkpointing = None
            if not future.cancelled() and future.exception() is not None:
                log.warning("WAL checkpoint failed: %s", future.exception())

        future = asyncio.get_running_loop().run_in_executor(None, checkpoint)
        future.add_done_callback(done)
        self._checkpointing = future

    def close(self) -> None:
        if self._sync is not None:
            self._sync.dispose()

    def later(self, callback: Callable[[], None]) -> None:
        """Run after the active step commits (at once without a step)."""
        step = _current.get()
        if step is not None:
            step.after.append(callback)
        else:
            callback()


async def _begin_immediate(conn: Connection) -> None:
    """Take SQLite's write lock without blocking the loop: retry with an async sleep while
    another connection (another process, or an aiosqlite writer) holds it."""
    delay = 0.0002
    deadline = asyncio.get_running_loop().time() + 30.0
    while True:
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except OperationalError as exc:
            if "locked" not in str(exc) or asyncio.get_running_loop().time() > deadline:
                raise StorageError(f"cannot write to the SQLite database: {exc}") from exc
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.01)
