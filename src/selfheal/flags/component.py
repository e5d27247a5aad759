"""The flags context as a component of the composition root."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import sqlalchemy as sa
from fastapi import APIRouter
from starlette.types import ASGIApp

from selfheal.core import CloudEvent
from selfheal.flags.access import TokenService
from selfheal.flags.api import admin
from selfheal.flags.api.client import ClientApi
from selfheal.flags.api.fastpath import FastPath
from selfheal.flags.api.frontend import FrontendApi
from selfheal.flags.api.guard import Guard
from selfheal.flags.api.ui import router as ui_router
from selfheal.flags.config import FlagsSettings
from selfheal.flags.metrics import UsageMetrics
from selfheal.flags.revisions import RevisionWatcher
from selfheal.flags.segments import SegmentService
from selfheal.flags.service import FlagsService
from selfheal.flags.store import EVENT_PREFIX, Outbox, SqlFlagStore, audit_table
from selfheal.flags.streaming import StreamHub
from selfheal.flags.tokens import TokenAuthenticator
from selfheal.storage import Rule

if TYPE_CHECKING:
    from selfheal.bus import Subscription
    from selfheal.runtime import Runtime
    from selfheal.settings import Settings

log = logging.getLogger(__name__)
DAY = 86_400.0
PREFIXES = ("", "/unleash")
BROWSER_PATHS = tuple(f"{p}{path}" for p in PREFIXES for path in ("/api/frontend", "/ofrep/"))
"""What browser apps call from their own origin (CORS applies to these only)."""


class FlagsComponent:
    browser_paths = BROWSER_PATHS
    name = "flags"

    def __init__(self, runtime: Runtime, settings: FlagsSettings, *, root: Settings) -> None:
        self.runtime = runtime
        self.settings = settings
        self.root = root  # INIT_*_API_TOKENS and the admin password live at the top level
        # a change's CloudEvent commits with it when the event store has an outbox
        outbox = runtime.events.store
        self.store = SqlFlagStore(runtime.database, outbox if isinstance(outbox, Outbox) else None)
        self.service = FlagsService(
            self.store,
            runtime.events,
            runtime.clock,
            projects=settings.projects,
            environments=settings.environments,
            default_environment=settings.default_environment,
            publish_wait=settings.publish_wait_seconds,
        )
        self.auth = TokenAuthenticator(self.store)
        self.segments = SegmentService(self.service)
        self.tokens = TokenService(self.service, self.auth)
        self.usage = UsageMetrics(
            self.store,
            runtime.clock,
            bucket_seconds=settings.metrics_bucket_seconds,
            limit=settings.applications_limit,
            ttl=settings.applications_ttl_seconds,
        )
        self.revisions = RevisionWatcher(
            self.service,
            self.auth,
            runtime.clock,
            interval=settings.revision_poll_seconds,
            registry=runtime.registry,
        )
        runtime.health["flags"] = self.revisions.status
        self.hub = StreamHub(keepalive=settings.keepalive_seconds, registry=runtime.registry)
        self.service.on_snapshot(self.hub.publish)
        self.guard = Guard(runtime, self.auth, settings.default_environment)
        runtime.auth = self.auth
        # the flag audit log is kept longer than other data (storage.retention.audit_days);
        # its newest row is the flags' revision, so it always stays
        runtime.retention.add(
            Rule(
                "flag_audit",
                audit_table,
                "created_at",
                runtime.retention_windows.audit_days * DAY,
                ("seq",),
                where=lambda t: t.c.seq < sa.select(sa.func.max(t.c.seq)).scalar_subquery(),
            )
        )
        self._subscription: Subscription | None = None

    def routers(self) -> list[APIRouter]:
        api = APIRouter()
        client = ClientApi(self.service, self.guard, self.usage, self.hub)
        frontend = FrontendApi(self.service, self.guard)
        for prefix in PREFIXES:
            api.routes.extend(client.routes(prefix))
            api.routes.extend(frontend.routes(prefix))
            api.include_router(
                admin.router(
                    self.service, self.segments, self.tokens, self.usage, self.guard, prefix
                )
            )
        api.include_router(
            ui_router(self.runtime, self.service, self.tokens, self.usage, self.segments)
        )
        return [api]

    def fast_path(self, app: ASGIApp) -> ASGIApp:
        """The SDK hot paths answered ahead of routing (the web layer wraps its app in it)."""
        return FastPath(
            app,
            service=self.service,
            guard=self.guard,
            usage=self.usage,
            frontend=FrontendApi(self.service, self.guard),
            prefixes=PREFIXES,
        )

    async def start(self) -> None:
        await self.tokens.seed(
            list(self.root.init_admin_api_tokens),
            list(self.root.init_backend_api_tokens),
            list(self.root.init_frontend_api_tokens),
        )
        await self.auth.warm()
        snapshot = await self.service.refresh()
        self.revisions.start(snapshot.revision)
        self._subscription = await self.runtime.events.subscribe(EVENT_PREFIX + ">", self._on_event)

    async def _on_event(self, event: CloudEvent) -> None:
        """Another replica (or this one) changed something: catch up."""
        data = event.payload()
        if event.type.startswith(EVENT_PREFIX + "api-token"):
            self.auth.invalidate()
            if event.type.endswith("deleted"):
                await self.auth.reset()
        revision = data.get("revision")
        if isinstance(revision, int):
            await self.service.refresh(revision)

    async def stop(self) -> None:
        self.hub.close()
        await self.revisions.stop()
        await self.service.drain(timeout=5.0)
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None
