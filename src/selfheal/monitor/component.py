"""The monitor context as a component of the composition root."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from selfheal.bus import Subscription
from selfheal.core import CloudEvent, SelfhealError
from selfheal.delivery import Outbox, RetryPolicy, SqlDeliveryStore
from selfheal.monitor.config import MonitorSettings
from selfheal.monitor.declarations import load_services, parse_service
from selfheal.monitor.leaders import LeaderElection, open_leader_election
from selfheal.monitor.notifications import HttpxSender, Notifier, Sender
from selfheal.monitor.probes import HttpxProber, Prober
from selfheal.monitor.samples import SampleRecorder
from selfheal.monitor.service import MonitorService
from selfheal.monitor.services import ServiceSpec
from selfheal.monitor.sources import Fetcher, HttpxFetcher
from selfheal.monitor.store import (
    SqlProblemStore,
    comments_table,
    problems_table,
    samples_table,
)
from selfheal.monitor.telemetry import MonitorCollector
from selfheal.storage import Rule

if TYPE_CHECKING:
    from fastapi import APIRouter

    from selfheal.runtime import EventLog, Runtime

log = logging.getLogger(__name__)
SERVICES_CHANGED = "selfheal.monitor.services.changed"
"""Broadcast after a service change through the API (`data.revision`): every replica's
evaluator reloads the declarations. The database revision poll covers a missed one."""
HOUR = 3600.0
DAY = 86_400.0


class RuntimeOutbox:
    """The runtime's event log as the problem store's outbox: events go into the problem
    change's transaction (SQL event store) and onto the bus once it committed."""

    def __init__(self, events: EventLog) -> None:
        self._events = events

    async def append_in(self, conn: Any, events: list[CloudEvent]) -> list[CloudEvent]:
        store: Any = self._events.store
        if hasattr(store, "append_in"):
            fresh: list[CloudEvent] = await store.append_in(conn, events)
            return fresh
        new = await store.append_many(events)  # an in-memory event store: no transaction
        return [e for e, n in zip(events, new, strict=True) if n]

    async def released(self, events: list[CloudEvent]) -> None:
        await self._events.released(events)


class MonitorComponent:
    name = "monitor"

    def __init__(
        self,
        runtime: Runtime,
        settings: MonitorSettings,
        *,
        fetcher: Fetcher | None = None,
        sender: Sender | None = None,
        leader: LeaderElection | None = None,
        store: SqlProblemStore | None = None,
        outbox: Outbox | None = None,
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.store = store or SqlProblemStore(
            runtime.database, events=RuntimeOutbox(runtime.events)
        )
        self.recorder = SampleRecorder(
            self.store, runtime.clock, interval=settings.samples_flush_seconds
        )
        # Clients made here are closed at stop (they connect lazily, so an unused one is
        # free); injected ones belong to whoever made them.
        own_fetcher, own_sender, own_prober = HttpxFetcher(), HttpxSender(), HttpxProber()
        self._owned = (own_fetcher, own_sender, own_prober)
        self.fetcher: Fetcher = fetcher or own_fetcher
        self.sender: Sender = sender or own_sender
        self.leader = leader or open_leader_election(runtime.database)
        # the outbound outbox is shared infrastructure: the composition root gives the one
        # it starts and stops (with the integrations'); built alone, the monitor owns one
        self._owns_outbox = outbox is None
        self.outbox = outbox or Outbox(
            SqlDeliveryStore(runtime.database),
            runtime.clock,
            policy=RetryPolicy(settings.webhook_retries + 1, settings.webhook_backoff),
            registry=runtime.registry,
        )
        self.notifier = Notifier(
            publish=runtime.events.publish,
            outbox=self.outbox,
            sender=self.sender,
            clock=runtime.clock,
            public_url=runtime.public_url,
            webhooks=list(settings.webhooks),
            retries=settings.webhook_retries,
            backoff=settings.webhook_backoff,
        )
        self.service = MonitorService(
            store=self.store,
            comments=self.store,
            notifier=self.notifier,
            fetcher=self.fetcher,
            leader=self.leader,
            clock=runtime.clock,
            sensitivity=settings.sensitivity,
            timeout=settings.scrape_timeout,
            max_points=settings.max_points,
            hold_seconds=settings.hold_seconds,
            reopen_seconds=settings.reopen_seconds,
            samples=self.store,
            recorder=self.recorder,
            prober=own_prober,
        )
        runtime.registry.register(MonitorCollector(self.service))
        windows = runtime.retention_windows
        runtime.retention.add(
            Rule("sli_samples", samples_table, "time", windows.samples_hours * HOUR, ("seq",))
        )
        runtime.retention.add(
            Rule(
                "problems",
                problems_table,
                "updated",
                windows.problems_days * DAY,
                ("seq",),
                where=lambda t: t.c.status != "OPEN",
            )
        )
        runtime.retention.add(
            Rule(
                "problem_comments",
                comments_table,
                "created",
                windows.problems_days * DAY,
                ("seq",),
                where=lambda t: t.c.problem_id.not_in(sa.select(problems_table.c.id)),
            )
        )
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._running = False
        self._file: dict[str, tuple[ServiceSpec, dict[str, Any]]] = {}
        self.revision = -1
        """The service revision this replica's evaluator follows (-1: not loaded yet)."""
        self._sync_lock = asyncio.Lock()
        self._poller: asyncio.Task[None] | None = None
        self._subscription: Subscription | None = None

    def use(
        self,
        *,
        fetcher: Fetcher | None = None,
        sender: Sender | None = None,
        prober: Prober | None = None,
    ) -> None:
        """Swap the scrape client, the webhook sender or the origin prober after
        `bootstrap.build` (tests use a `MemoryFetcher`, a `RecordingSender`, an `HttpxProber`
        over `ASGITransport`; an embedder may bring its own clients). Services already
        declared read through the new fetcher from their next tick."""
        if prober is not None:
            self.service.prober = prober
        if fetcher is not None:
            self.fetcher = fetcher
            self.service.use_fetcher(fetcher)
        if sender is not None:
            self.sender = sender
            self.notifier.sender = sender

    def routers(self) -> list[APIRouter]:
        from selfheal.monitor.http import api_router
        from selfheal.monitor.pages import pages_router

        return [api_router(self), pages_router(self)]

    async def start(self) -> None:
        await self.service.tracker.load()
        if self.settings.file:
            for spec, raw in load_services(Path(self.settings.file).read_text()):
                self._file[spec.name] = (spec, raw)
        await self.refresh()
        self._running = True
        self.sync_loops()
        if self.settings.run_loops:
            self.recorder.start()
        self._poller = asyncio.create_task(self._poll(), name="monitor:services")
        self._subscription = await self.runtime.events.subscribe(SERVICES_CHANGED, self._on_changed)

    async def refresh(self, revision: int | None = None) -> bool:
        """Follow the declared services: monitor.yaml's, overlaid with the API's changes
        from the database (a put replaces, a delete removes — also a file's service).
        Unchanged services keep their watcher (and series). True if anything was read."""
        async with self._sync_lock:
            if revision is not None and revision <= self.revision:
                return False
            current, changes = await self.store.service_changes()
            wanted: dict[str, tuple[ServiceSpec, dict[str, Any]]] = dict(self._file)
            for name, raw in changes.items():
                if raw is None:
                    wanted.pop(name, None)
                    continue
                try:
                    wanted[name] = (parse_service(raw), raw)
                except SelfhealError:
                    log.exception("stored monitored service %s no longer validates", name)
            for name in list(self.service.watchers):
                if name not in wanted:
                    self.service.remove(name)
                    await self.leader.release(name)  # no lock held for a deleted service
            for name, (spec, raw) in wanted.items():
                if name not in self.service.watchers or self.service.raw.get(name) != raw:
                    self.service.register(spec, raw)
            self.revision = current
        self.sync_loops()
        return True

    async def _poll(self) -> None:
        """The cheap fallback of the broadcast: one indexed read per interval."""
        clock = self.runtime.clock
        while True:
            await clock.sleep(self.settings.services_poll_seconds)
            try:
                if await self.store.service_revision() != self.revision:
                    await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("checking the monitored services failed: %s", exc)

    async def _on_changed(self, event: CloudEvent) -> None:
        revision = event.payload().get("revision")
        await self.refresh(revision if isinstance(revision, int) else None)

    async def changed(self, revision: int) -> None:
        """A service change committed here: follow it now and tell the other replicas."""
        await self.refresh()
        await self.runtime.events.publish(
            CloudEvent(
                type=SERVICES_CHANGED,
                source="selfheal/monitor",
                id=f"monitor-services-{revision}",
                data={"revision": revision},
            )
        )

    def sync_loops(self) -> None:
        """One loop per declared service (none when `run_loops` is off)."""
        if not self._running or not self.settings.run_loops:
            return
        for name in list(self._tasks):
            if name not in self.service.watchers:
                self._tasks.pop(name).cancel()
        for name in self.service.watchers:
            if name not in self._tasks or self._tasks[name].done():
                self._tasks[name] = asyncio.create_task(self._loop(name), name=f"monitor:{name}")

    async def _loop(self, name: str) -> None:
        clock = self.runtime.clock
        while self._running and name in self.service.watchers:
            interval = self.service.watchers[name].spec.source.interval
            try:
                await self.service.tick(name)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("monitor loop for %s failed; retrying", name)
            await clock.sleep(interval)

    async def stop(self) -> None:
        self._running = False
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
            self._subscription = None
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
            self._poller = None
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.recorder.stop()
        if self._owns_outbox:
            await self.outbox.close()
        await self.leader.close()
        for client in self._owned:
            await client.aclose()
