"""The monitor context as a component of the composition root."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from selfheal.monitor.config import MonitorSettings
from selfheal.monitor.leaders import LeaderElection, open_leader_election
from selfheal.monitor.notifications import HttpxSender, Notifier, Sender
from selfheal.monitor.problems import MemoryProblemStore
from selfheal.monitor.service import MonitorService
from selfheal.monitor.services import parse_document, parse_service
from selfheal.monitor.sources import Fetcher, HttpxFetcher
from selfheal.monitor.store import SqlProblemStore
from selfheal.monitor.telemetry import MonitorCollector

if TYPE_CHECKING:
    from fastapi import APIRouter

    from selfheal.runtime import Runtime

log = logging.getLogger(__name__)


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
        store: SqlProblemStore | MemoryProblemStore | None = None,
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.store = store or SqlProblemStore(runtime.database)
        # Clients made here are closed at stop (they connect lazily, so an unused one is
        # free); injected ones belong to whoever made them.
        own_fetcher, own_sender = HttpxFetcher(), HttpxSender()
        self._owned = (own_fetcher, own_sender)
        self.fetcher: Fetcher = fetcher or own_fetcher
        self.sender: Sender = sender or own_sender
        self.leader = leader or open_leader_election(runtime.database)
        self.notifier = Notifier(
            publish=runtime.events.publish,
            log_store=self.store,
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
            deliveries=self.store,
            notifier=self.notifier,
            fetcher=self.fetcher,
            leader=self.leader,
            clock=runtime.clock,
            sensitivity=settings.sensitivity,
            timeout=settings.scrape_timeout,
            max_points=settings.max_points,
            hold_seconds=settings.hold_seconds,
            reopen_seconds=settings.reopen_seconds,
        )
        runtime.registry.register(MonitorCollector(self.service))
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._running = False

    def use(self, *, fetcher: Fetcher | None = None, sender: Sender | None = None) -> None:
        """Swap the scrape client or the webhook sender after `bootstrap.build` (tests use a
        `MemoryFetcher` and a `RecordingSender`; an embedder may bring its own clients).
        Services already declared read through the new fetcher from their next tick."""
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
        if isinstance(self.store, SqlProblemStore):
            for raw in await self.store.services():
                try:
                    self.service.register(parse_service(raw), raw)
                except Exception:
                    log.exception("a stored monitored service no longer validates")
        if self.settings.file:
            text = Path(self.settings.file).read_text()
            specs = parse_document(text)
            import yaml

            doc: Any = yaml.safe_load(text) or {}
            for spec, raw in zip(specs, doc.get("services", []), strict=True):
                self.service.register(spec, raw)
        self._running = True
        self.sync_loops()

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
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.notifier.close()
        await self.leader.close()
        for client in self._owned:
            await client.aclose()
