"""One writer per SQLite file in this process, on the event loop thread.

SQLite has one writer at a time. Writers on separate connections find the lock taken and
wait in SQLite's busy handler, which sleeps (1, 2, 5 … 100 ms) and retries; under a steady
load the one that sleeps starves (measured: a burst of 400 problem notifications waited
0.6 s for the control plane's steps to let go). So every hot write path — the event log and
the control plane's engine steps — goes through this writer instead: transactions queue on
an asyncio lock, never in SQLite.

The statements run inline on the loop thread through a synchronous connection to the same
file: with WAL and synchronous=NORMAL a statement takes tens of microseconds and a commit
does not fsync, while a round trip to aiosqlite's worker thread costs 250-400 µs. The write
lock is taken with `BEGIN IMMEDIATE` and a zero busy timeout, retried with an async sleep,
so the loop never blocks waiting for another process (or an aiosqlite writer of a context
that writes rarely).

Transactions are committed in groups (see `_Group`), and WAL checkpoints, which fsync the
database file, run on a worker thread (see `SqliteWriter._checkpoint`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from selfheal.storage.database import SQLITE_PRAGMAS, StorageError, sqlite_pragmas

log = logging.getLogger(__name__)
CHECKPOINT_EVERY = 200
"""Commits of the writer between two WAL checkpoints."""
GROUP_MAX_STEPS = 64
GROUP_MAX_SECONDS = 0.02
"""A group of transactions commits at the latest after this many of them, or this long
after its first write, even while more are ready to join."""


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
    """Execute a prepared statement on an inline connection or on an async one."""
    if isinstance(conn, InlineConnection):
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


class Rows:
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


class _Group:
    """A transaction of the writer's connection that several transactions commit together.

    Each one's writes run in a SAVEPOINT of the open transaction (one that fails, or whose
    compare-and-set loses, rolls back to it, alone), and the COMMIT is not issued when it
    ends but scheduled for the event loop's next turn: every transaction that runs before
    then (a busy control plane has dozens of engine steps ready at once) joins, and one
    COMMIT writes the WAL pages they all dirtied — a COMMIT per engine step had been the
    largest single cost of a busy engine. Each waits for the group's COMMIT before it
    returns (the control plane publishes a step's events only then); a group commits at the
    latest after `GROUP_MAX_STEPS` transactions or `GROUP_MAX_SECONDS` after its first
    write."""

    __slots__ = ("broken", "committed", "conn", "started", "writing")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.writing = False
        self.committed: list[asyncio.Future[None]] = []
        """One future per transaction whose writes wait for this group's COMMIT."""
        self.started = 0.0
        self.broken: Exception | None = None


class InlineConnection:
    """A synchronous SQLAlchemy connection behind the awaitable `execute` the stores use.

    In a transaction the write lock is taken at the first INSERT/UPDATE/DELETE, so one that
    only reads (an engine step for a repeated notification, a stale answer) never blocks a
    writer; its writes start with a SAVEPOINT of the group (see `_Group`)."""

    def __init__(self, conn: Connection, *, group: _Group | None = None) -> None:
        self._conn = conn
        self._group = group
        self.writing = False
        self._raw: Any = None

    async def _start_writing(self) -> None:
        group = self._group
        assert group is not None
        if not group.writing:
            await _begin_immediate(self._conn)
            group.writing = True
            group.started = asyncio.get_running_loop().time()
        _sql(self._conn, "SAVEPOINT step")
        self.writing = True

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        if self._group is not None and not self.writing and getattr(statement, "is_dml", False):
            await self._start_writing()
        return self._conn.execute(statement, parameters)

    async def run(self, statement: Prepared, parameters: dict[str, Any]) -> Any:
        if self._group is not None and not self.writing and statement.is_dml:
            await self._start_writing()
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
            return Rows(cursor)
        finally:
            cursor.close()


class SqliteWriter:
    """The inline writer (and readers) of one SQLite file; see the module's docstring."""

    def __init__(self, sync: Engine) -> None:
        self._sync = sync
        self._lock = asyncio.Lock()
        self._group: _Group | None = None
        self._conn: Connection | None = None  # the writer's own connection, kept open
        self._soon: asyncio.Handle | None = None  # the open group's scheduled COMMIT
        self._commits = 0
        self._checkpointing: asyncio.Future[None] | None = None
        self._holder: asyncio.Task[Any] | None = None  # the task inside a transaction
        self._reading: Connection | None = None  # the readers' shared connection

    def held_here(self) -> bool:
        """True inside one of this writer's transactions (in the task that runs it): any
        wait for another of its transactions there would wait for itself."""
        return self._holder is not None and self._holder is asyncio.current_task()

    @classmethod
    def for_url(cls, url: str) -> SqliteWriter | None:
        """A writer on the SQLite file of `url`; None for an in-memory database."""
        parsed = make_url(url)
        path = parsed.database
        if parsed.get_backend_name() != "sqlite" or not path or path == ":memory:":
            return None
        if path.startswith("file:"):
            return None
        return cls(_inline_engine(parsed.set(drivername="sqlite+pysqlite")))

    @contextmanager
    def reader(self) -> Iterator[InlineConnection]:
        """A connection for reads outside any transaction (sees what is committed).

        All readers share one connection, kept open: a read is one statement in autocommit
        mode whose rows are fetched at once, on the loop thread, so readers never see each
        other's state even when their bodies interleave (a pool checkout per read had cost
        more than the lookup)."""
        if self._reading is None:
            self._reading = self._sync.connect()
        yield InlineConnection(self._reading)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[InlineConnection]:
        """A transaction of the writer: the body's writes run in a SAVEPOINT of the open
        group and are rolled back alone if the body raises; on a clean exit this waits
        for the group's COMMIT (and raises its error)."""
        if self.held_here():
            raise StorageError("a transaction of the SQLite writer cannot open another one")
        await self._lock.acquire()
        self._holder = asyncio.current_task()
        committed: asyncio.Future[None] | None = None
        try:
            if self._group is None:
                if self._conn is None:
                    self._conn = self._sync.connect()
                self._group = _Group(self._conn)
            group = self._group
            inline = InlineConnection(group.conn, group=group)
            try:
                yield inline
            except BaseException:
                if inline.writing:
                    try:
                        _sql(group.conn, "ROLLBACK TO step")
                        _sql(group.conn, "RELEASE step")
                    except Exception as exc:  # SQLite ended the transaction: all of it fails
                        group.broken = exc
                raise
            if inline.writing:
                _sql(group.conn, "RELEASE step")
                committed = asyncio.get_running_loop().create_future()
                group.committed.append(committed)
        finally:
            if self._group_is_full():
                self._commit()
            elif self._group is not None and self._group.writing and self._soon is None:
                self._soon = asyncio.get_running_loop().call_soon(self._commit_soon)
            self._holder = None
            self._lock.release()
        if committed is not None:
            await _wait(committed)

    def _commit_soon(self) -> None:
        self._soon = None
        if not self._lock.locked():  # else the transaction in progress schedules it again
            self._commit()

    def _group_is_full(self) -> bool:
        group = self._group
        if group is None or not group.writing:
            return False
        return (
            len(group.committed) >= GROUP_MAX_STEPS
            or asyncio.get_running_loop().time() - group.started >= GROUP_MAX_SECONDS
        )

    def _commit(self) -> None:
        """End the open group: COMMIT what its transactions wrote, and wake them (or hand
        them the error)."""
        group, self._group = self._group, None
        if group is None:
            return
        error: BaseException | None = None
        try:
            if group.writing:
                try:
                    if group.broken is not None:
                        raise group.broken
                    _sql(group.conn, "COMMIT")
                except BaseException as exc:
                    error = exc
                    with contextlib.suppress(Exception):
                        _sql(group.conn, "ROLLBACK")
                else:
                    self._commits += 1
                    if self._commits % CHECKPOINT_EVERY == 0:
                        self._checkpoint()
        finally:
            for future in group.committed:
                if future.done():
                    continue
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(error)

    def flush(self) -> None:
        """Commit the open group now (on shutdown)."""
        if self._soon is not None:
            self._soon.cancel()
            self._soon = None
        if not self._lock.locked():
            self._commit()

    def _checkpoint(self) -> None:
        """Copy the WAL back into the database file on a worker thread.

        SQLite's automatic checkpoint runs inside the COMMIT that crosses 1000 WAL pages, and
        it fsyncs the database file: on the loop thread that stalled every transaction
        queued behind it. The writer's connections turn it off and checkpoint here instead
        (PASSIVE: it never blocks writers or readers); committed data is in the WAL either
        way."""
        if self._checkpointing is not None:
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
        self.flush()
        group, self._group = self._group, None  # still open: a transaction was cut off
        if group is not None:
            for future in group.committed:
                if not future.done():
                    future.set_exception(StorageError("the database closed before the commit"))
        for conn in (self._conn, self._reading):
            if conn is not None:
                conn.close()
        self._conn = self._reading = None
        self._sync.dispose()


def _inline_engine(url: Any) -> Engine:
    """A synchronous engine on the SQLite file of `url`."""
    engine = create_engine(
        url,
        connect_args={"isolation_level": None, "check_same_thread": False},
    )

    def pragmas(dbapi_conn: Any, _record: Any) -> None:
        # no busy wait on the loop (`_begin_immediate` retries); checkpoints (which fsync
        # the database file) run off the loop: see `_checkpoint`
        sqlite_pragmas(dbapi_conn, *SQLITE_PRAGMAS, "busy_timeout=0", "wal_autocheckpoint=0")

    event.listen(engine, "connect", pragmas)
    return engine


def _sql(conn: Connection, sql: str) -> None:
    """Transaction control on the raw `sqlite3` connection (SQLAlchemy's statement setup
    cost more than SQLite spends on a SAVEPOINT)."""
    try:
        conn.connection.driver_connection.execute(sql)  # type: ignore[union-attr]
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, {}, exc, sqlite3.Error) from exc


async def _wait(committed: asyncio.Future[None]) -> None:
    """Wait for a transaction's group to commit. One whose writes are in the group sees that
    through even when cancelled (so an engine step's events are published and its deferred
    work runs); the cancellation is raised after. The group commits within a loop turn or
    two: it waits only for the transactions already ready to run."""
    cancelled = False
    while not committed.done():
        try:
            await asyncio.shield(committed)
        except asyncio.CancelledError:
            cancelled = True
    committed.result()
    if cancelled:
        raise asyncio.CancelledError


async def _begin_immediate(conn: Connection) -> None:
    """Take SQLite's write lock without blocking the loop: retry with an async sleep while
    another connection (another process, or an aiosqlite writer) holds it."""
    delay = 0.0002
    deadline = asyncio.get_running_loop().time() + 30.0
    while True:
        try:
            _sql(conn, "BEGIN IMMEDIATE")
            return
        except OperationalError as exc:
            if "locked" not in str(exc) or asyncio.get_running_loop().time() > deadline:
                raise StorageError(f"cannot write to the SQLite database: {exc}") from exc
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.01)
