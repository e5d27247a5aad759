"""The outbox relay: puts committed events on the bus that nobody has confirmed there yet.

Every event is written with an outbox row in the transaction of the state change that made
it (`SqlEventStore.append_in`). The process that committed publishes it at once and clears
the row (`EventLog`); when it cannot — the bus is away, the publish timed out, the process
died right after the commit — the row's `due` time passes and the relay of any replica
takes it: it leases a batch of due rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so two
replicas never take the same rows; one SQLite file has one process), publishes it in order,
and deletes the rows, or gives them back with a growing delay. Consumers are idempotent by
the event's source and id (and JetStream drops a re-publish within its duplicate window),
so an event published twice — by its publisher and by the relay — does no harm.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Gauge

from selfheal.core import CloudEvent
from selfheal.storage.database import Database
from selfheal.storage.events import events_table, outbox_table

log = logging.getLogger(__name__)

Publish = Callable[[list[CloudEvent]], Awaitable[None]]


def backoff(attempts: int) -> float:
    """Seconds before a batch that failed `attempts` times is tried again (0.5 s … 30 s)."""
    return float(min(30.0, 0.5 * 2 ** max(0, attempts - 1)))


class OutboxRelay:
    """One per process; see the module docstring."""

    def __init__(
        self,
        database: Database,
        publish: Publish,
        *,
        owner: str,
        registry: CollectorRegistry | None = None,
        interval: float = 0.5,
        batch: int = 200,
        lease: float = 30.0,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._db = database
        self._publish = publish
        self._owner = owner[:40]
        self._interval = interval
        self._batch = batch
        self._lease = lease
        self._now = now
        self._claims = itertools.count(1)
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self.pending = 0
        """Outbox rows due or waiting, as of the last pass."""
        registry = registry or CollectorRegistry()
        self._published = Counter(
            "selfheal_outbox_relayed_events",
            "Events the outbox relay put on the bus (the publisher could not)",
            registry=registry,
        )
        self._failures = Counter(
            "selfheal_outbox_relay_failures",
            "Relay batches the bus refused or did not acknowledge",
            registry=registry,
        )
        self._backlog = Gauge(
            "selfheal_outbox_pending_events",
            "Committed events not yet confirmed on the bus",
            registry=registry,
        )
        o, e = outbox_table, events_table
        self._peek = sa.select(sa.func.count(), sa.func.min(o.c.due)).select_from(o)
        self._bodies = (
            sa.select(e.c.body, o.c.attempts)
            .select_from(o.join(e, sa.and_(e.c.source == o.c.source, e.c.id == o.c.id)))
            .where(o.c.lease_owner == sa.bindparam("token"))
            .order_by(e.c.seq)
        )

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="outbox-relay")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _loop(self) -> None:
        while True:
            try:
                relayed = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: try again next round
                log.warning("outbox relay: %s: %s", exc.__class__.__name__, exc)
                relayed = 0
            if relayed < self._batch:
                await asyncio.sleep(self._interval)

    async def run_once(self) -> int:
        """One pass: lease the due rows (up to a batch), publish them, settle them. Returns
        how many events went on the bus."""
        now = self._now()
        async with self._db.reading() as conn:
            pending, first_due = (await conn.execute(self._peek)).one()
        self.pending = int(pending)
        self._backlog.set(self.pending)
        if first_due is None or first_due > now:
            return 0
        token = f"{self._owner}:{next(self._claims)}"
        o = outbox_table
        due = (
            sa.select(o.c.source, o.c.id)
            .where(o.c.due <= now, sa.or_(o.c.lease_until.is_(None), o.c.lease_until < now))
            .order_by(o.c.due)
            .limit(self._batch)
            .with_for_update(skip_locked=True)
        )
        claim = (
            sa.update(o)
            .where(sa.tuple_(o.c.source, o.c.id).in_(due))
            .values(lease_owner=token, lease_until=now + self._lease)
        )
        async with self._db.transaction() as conn:
            claimed = (await conn.execute(claim)).rowcount
        if not claimed:
            return 0
        async with self._db.reading() as conn:
            rows = (await conn.execute(self._bodies, {"token": token})).all()
        events = [CloudEvent.from_json(row.body) for row in rows]
        attempts = max((row.attempts for row in rows), default=0)
        try:
            if events:
                await self._publish(events)
        except Exception as exc:  # the bus failed: the rows come back later
            self._failures.inc()
            delay = backoff(attempts + 1)
            if not self._failing or (attempts + 1) % 10 == 0:
                log.warning(
                    "outbox relay: %d events not published (%s: %s); retry in %.1fs",
                    len(events),
                    exc.__class__.__name__,
                    exc,
                    delay,
                )
            self._failing = True
            async with self._db.transaction() as conn:
                await conn.execute(
                    sa.update(o)
                    .where(o.c.lease_owner == token)
                    .values(
                        attempts=o.c.attempts + 1,
                        due=self._now() + delay,
                        lease_owner=None,
                        lease_until=None,
                    )
                )
            return 0
        if self._failing:
            log.info("outbox relay: the bus takes events again")
            self._failing = False
        async with self._db.transaction() as conn:
            await conn.execute(sa.delete(o).where(o.c.lease_owner == token))
        self._published.inc(len(events))
        return len(events)
