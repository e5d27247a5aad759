"""Engine steps: every state change an event causes, and the events it emits, in one
transaction.

A step is opened by the engine's entry points (a problem, a provider's answer, a timer) and
joined by everything they call: the stores find the step's connection in a context variable,
`emit` collects events instead of publishing them, and spawned work waits for the commit.
Before commit the events are appended to the event store in the same transaction, each with
its outbox row (when the store is the SQL one on this database); after commit they are handed
to the bus (`EventLog.released`, which never fails the step: what the bus does not take, the
outbox relay publishes) without waiting for its acknowledgement (the engine applies its own
events directly; others see them in order behind the earlier ones), then the deferred work
runs. A
compare-and-set that loses (`StaleState`) rolls the whole step back: nothing half-done is
stored and nothing is published.

On a SQLite file a step is a transaction of the database's inline writer
(`selfheal.storage.inline`): statements run on the event loop thread, and the steps that are
ready in one turn of the loop commit together. On PostgreSQL (and in-memory SQLite) a step is
a transaction on the async engine.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from selfheal.control.errors import ControlError
from selfheal.core import CloudEvent
from selfheal.runtime import EventLog
from selfheal.storage import Database, SqlEventStore
from selfheal.storage.inline import Prepared, run

__all__ = ["Prepared", "StaleState", "Step", "Steps", "current", "detach", "run"]

log = logging.getLogger(__name__)


class StaleState(ControlError):
    """A compare-and-set lost: someone else changed the sequence first."""


@dataclass
class Step:
    conn: Any  # an AsyncConnection, or an `InlineConnection` on a SQLite file
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


class Steps:
    """Opens steps on `database`; publishes their events through `events` (store + bus)."""

    def __init__(self, database: Database, events: EventLog) -> None:
        self._db = database
        self._events = events
        self._sqlite = database.dialect == "sqlite"
        self._writer = database.writer
        self._serial_lock = asyncio.Lock()  # in-memory SQLite: one writer at a time
        self._store = events.store if isinstance(events.store, SqlEventStore) else None

    @asynccontextmanager
    async def connection(self, *, write: bool) -> AsyncIterator[Any]:
        """The active step's connection, or a short transaction of its own."""
        step = _current.get()
        if step is not None:
            yield step.conn
            return
        if not write:
            if self._writer is not None:
                with self._writer.reader() as inline:
                    yield inline
                return
            async with self._db.engine.connect() as conn:
                yield conn
            return
        async with self._transaction() as conn:
            yield conn

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Any]:
        if self._writer is not None:
            async with self._writer.transaction() as inline:
                yield inline
            return
        async with self._serial(), self._db.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def _serial(self) -> AsyncIterator[None]:
        if self._sqlite:
            async with self._serial_lock:
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
                if self._store is not None:
                    fresh = await self._store.append_in(conn, step.events)
        except StaleState as exc:
            log.debug("step rolled back: %s", exc)
            return
        if self._store is not None:
            await self._events.released(fresh, wait=False)
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

    def close(self) -> None:
        """Commit the steps still waiting in the writer's group (on shutdown)."""
        if self._writer is not None:
            self._writer.flush()

    def later(self, callback: Callable[[], None]) -> None:
        """Run after the active step commits (at once without a step)."""
        step = _current.get()
        if step is not None:
            step.after.append(callback)
        else:
            callback()
