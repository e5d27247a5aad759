"""What every bounded context gets from the composition root, and what it gives back.

A context's `build(runtime, ...)` returns a `Component`: its routers, and start/stop hooks
for its background loops. Contexts never import each other; the few things they share
(API-token checks, the UI session, the event log) travel through this module's protocols.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import CollectorRegistry

from selfheal.bus import EventBus, Handler, Subscription
from selfheal.core import Clock, CloudEvent, LoginRequired, Unauthorized, Unavailable
from selfheal.storage import (
    Database,
    EventPage,
    EventQuery,
    EventStore,
    Pruner,
    RetentionSettings,
    StorageError,
)

if TYPE_CHECKING:
    from fastapi import APIRouter, Request
    from starlette.templating import Jinja2Templates

log = logging.getLogger(__name__)


MARK_DELAY = 0.05
"""Seconds over which acknowledged events are gathered before their outbox rows go."""


class EventLog:
    """Publishing goes through here: the event is stored (with its outbox row), then put on
    the bus.

    A duplicate (same source and id) is neither stored nor published again, which makes
    re-sent notifications and redelivered handlers harmless.

    Appends that queue up while one is being written go into the store together, in one
    transaction (group commit): a burst of notifications costs a few commits instead of
    one each. Every `publish` still returns only after its event is committed.

    The database is the source of truth, the bus is for latency: once committed, an event
    is handed to one publisher task, which puts batches on the bus in order and then clears
    their outbox rows. `publish` waits for that at most `wait` seconds, and not at all while
    the bus is failing (see `degraded`); whatever the bus did not acknowledge stays in the
    outbox, and the relay (`selfheal.storage.relay`) of any replica publishes it. So a
    state change never waits on a bus that is away, and no committed event is lost.
    """

    def __init__(
        self,
        store: EventStore,
        bus: EventBus,
        *,
        wait: float = 1.0,
        backlog: int = 10_000,
        cool_down: float = 5.0,
    ) -> None:
        self.store = store
        self.bus = bus
        self.wait = wait
        self.backlog = backlog
        self.cool_down = cool_down
        self._pending: list[tuple[CloudEvent, asyncio.Future[bool]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._outgoing: list[tuple[list[CloudEvent], asyncio.Future[bool]]] = []
        self._queued = 0
        self._publisher: asyncio.Task[None] | None = None
        self._degraded_until = 0.0
        self._marks: list[tuple[str, str]] = []
        self._marker: asyncio.Task[None] | None = None
        self.failures = 0
        """Batches the bus refused or did not acknowledge (the relay published them)."""

    async def publish(self, event: CloudEvent) -> bool:
        """True if the event was new (stored, and handed to the bus)."""
        if not await self._append(event):
            return False
        await self.released([event])
        return True

    async def released(self, events: list[CloudEvent], *, wait: bool = True) -> None:
        """Put events on the bus that a transaction of the caller's committed (with their
        outbox rows, `EventStore.append_in`). Never raises for the bus: what it does not
        take now, the relay publishes later. With `wait`, returns once the bus acknowledged
        them (at most `self.wait`); without, at once: they go out in order behind what was
        released before (the engine's steps: their own events are applied directly, so a
        step never waits on the bus)."""
        if not events:
            return
        if self._queued >= self.backlog:
            return  # the relay takes them from the outbox
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bool] = loop.create_future()
        self._outgoing.append((events, done))
        self._queued += len(events)
        if self._publisher is None:
            self._publisher = loop.create_task(self._put_on_bus(), name="event-log-publisher")
        if self.degraded or not wait:
            return
        try:
            await asyncio.wait_for(asyncio.shield(done), self.wait)
        except TimeoutError:
            self._degrade(f"the bus did not acknowledge within {self.wait:g}s")

    @property
    def degraded(self) -> bool:
        """True for a while after the bus failed: publishers don't wait for it then."""
        return asyncio.get_running_loop().time() < self._degraded_until

    def _degrade(self, why: str) -> None:
        if not self.degraded:
            log.warning("event bus unavailable (%s): events wait in the outbox", why)
        self._degraded_until = asyncio.get_running_loop().time() + self.cool_down

    async def _put_on_bus(self) -> None:
        """Publish what was released, batch after batch, in order; clear the outbox rows of
        what the bus acknowledged."""
        try:
            while self._outgoing:
                batch, self._outgoing = self._outgoing, []
                events = [e for evs, _ in batch for e in evs]
                try:
                    await publish_all(self.bus, events)
                except Exception as exc:  # a bus error of any kind: the relay retries
                    self.failures += 1
                    self._degrade(f"{exc.__class__.__name__}: {exc}")
                    ok = False
                else:
                    ok = True
                    if self._degraded_until:
                        self._degraded_until = 0.0
                        log.info("event bus available again")
                self._queued -= len(events)
                for _, done in batch:
                    if not done.done():
                        done.set_result(ok)
                if ok:
                    self._marks.extend((e.source, e.id) for e in events)
                    if self._marker is None:
                        self._marker = asyncio.get_running_loop().create_task(
                            self._clear_outbox(), name="event-log-outbox-marker"
                        )
        finally:
            self._publisher = None

    async def _clear_outbox(self) -> None:
        """Delete the outbox rows of what the bus acknowledged, gathered over `MARK_DELAY`
        (one short transaction for a burst instead of one per publisher batch)."""
        try:
            while self._marks:
                await asyncio.sleep(MARK_DELAY)
                keys, self._marks = self._marks, []
                try:
                    await self.store.mark_published(keys)
                except Exception as exc:  # they are published again by the relay
                    log.warning("clearing %d outbox rows failed: %s", len(keys), exc)
        finally:
            self._marker = None

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait until what was released is on the bus (or `timeout`; then the relay)."""
        for task in (self._publisher, self._marker):
            if task is not None:
                await asyncio.wait({task}, timeout=timeout)

    async def _append(self, event: CloudEvent) -> bool:
        writer = getattr(self.store, "writer", None)
        if writer is not None and writer.held_here():
            # the flusher would wait for the writer this task holds: fail loudly, not hang
            raise StorageError(
                f"event {event.type} published from inside a database transaction; "
                "emit it through the transaction's owner (an engine step collects its events)"
            )
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((event, done))
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        return await done

    async def _flush(self) -> None:
        """Write what is pending, batch after batch, until nothing is. Publishers only wait
        for their own event's future (they used to take turns on a lock, one per turn of
        the loop, even once their event was written); a cancelled publisher leaves its
        event to be written with the others."""
        batch: list[tuple[CloudEvent, asyncio.Future[bool]]] = []
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    results = await self.store.append_many([e for e, _ in batch])
                except Exception as exc:  # each publisher raises it
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                    continue
                for (_, done), new in zip(batch, results, strict=True):
                    if not done.done():
                        done.set_result(new)
        except BaseException:
            for _, done in [*batch, *self._pending]:
                done.cancel()
            self._pending = []
            raise
        finally:
            self._flusher = None

    async def subscribe(
        self, pattern: str, handler: Handler, *, group: str | None = None
    ) -> Subscription:
        return await self.bus.subscribe(pattern, handler, group=group)

    async def query(self, query: EventQuery) -> EventPage:
        return await self.store.query(query)


async def publish_all(bus: EventBus, events: list[CloudEvent]) -> None:
    """Publish in order: pipelined where the bus can (`publish_many`), else one by one."""
    many = getattr(bus, "publish_many", None)
    if many is not None:
        await many(events)
        return
    for event in events:
        await bus.publish(event)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who called: an API token (kind 'admin' | 'client' | 'frontend') or a UI user ('user')."""

    name: str
    kind: str
    projects: tuple[str, ...] = ("*",)
    environment: str = "*"


class Authenticator(Protocol):
    """Resolves a secret (raw or `Bearer …`) to a principal; None if unknown."""

    async def authenticate(self, secret: str) -> Principal | None: ...


class NoAuthenticator:
    """Until the flags context installs its token store, nothing authenticates."""

    async def authenticate(self, secret: str) -> Principal | None:
        return None


class UiAuth(Protocol):
    """Who is logged in to the web UI (from the session cookie); None means nobody.
    `role` is the least role the work needs (viewer < responder < admin): a user with a
    smaller one gets `Forbidden`."""

    async def user(self, request: Request, role: str = "viewer") -> str | None: ...


class NoUiAuth:
    async def user(self, request: Request, role: str = "viewer") -> str | None:
        return None


@dataclass(frozen=True, slots=True)
class FlipCause:
    """Why a flag's switch is in its state: a remediation of a problem still open set it."""

    problem: str
    """The problem's display id ("P-1")."""
    title: str
    entity: str
    """What the problem is about ("front-end")."""
    actor: str
    """Who flipped it: `remediation:<keptnContext>`."""
    problem_link: str


SwitchKey = tuple[str, str, str]
"""(project, flag, environment)."""


class FlipCauses(Protocol):
    """The switches that remediations of open problems set (and nobody changed since), so
    the flags console can say what flipping one back does. Installed by the web layer,
    which sees problems, sequences and flags at once."""

    async def open_incident_switches(self) -> dict[SwitchKey, FlipCause]: ...


class NoFlipCauses:
    async def open_incident_switches(self) -> dict[SwitchKey, FlipCause]:
        return {}


@dataclass(frozen=True, slots=True)
class RestoreView:
    """Where a problem's restore stands (the control plane's row, read-only), for the
    console's lists: `stepping` with the share still on the fallback, `held` until when."""

    id: str
    """The keptnContext of the remediation that switched the kill switch on."""
    state: str
    """armed | verifying | approval | stepping | backoff | held | kept | restored | closed"""
    fallback_percent: int | None = None
    hold_until: float | None = None
    due: float | None = None


@dataclass(frozen=True, slots=True)
class ProblemBadge:
    """A problem as a list row shows its state: OPEN, MITIGATED (since when) or RESOLVED/
    CLOSED, and its restore where there is one."""

    id: str
    display_id: str
    status: str
    mitigated_since: float | None = None
    restore: RestoreView | None = None

    @property
    def mitigated(self) -> bool:
        return self.status == "OPEN" and self.mitigated_since is not None


class ProblemBadges(Protocol):
    """Problem states and restores for the console's lists, across contexts: the monitor's
    problems list shows each problem's restore (the control plane's), the bridge shows each
    sequence's problem as mitigated or not (the monitor's). Installed by the web layer."""

    async def restores_of(self, problem_ids: Collection[str]) -> dict[str, RestoreView]:
        """The restore of each problem (by PID) that has one: its active one, else the newest."""
        ...

    async def problems(self, keys: Collection[str]) -> dict[str, ProblemBadge]:
        """Each problem the monitor knows (by id, PID or display id, as given), with its
        restore."""
        ...


class NoProblemBadges:
    async def restores_of(self, problem_ids: Collection[str]) -> dict[str, RestoreView]:
        return {}

    async def problems(self, keys: Collection[str]) -> dict[str, ProblemBadge]:
        return {}


class Component(Protocol):
    """What a context hands back to the composition root."""

    name: str

    def routers(self) -> list[APIRouter]: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class Runtime:
    """The shared infrastructure handed to every context (constructed only in bootstrap)."""

    clock: Clock
    database: Database
    bus: EventBus
    events: EventLog
    registry: CollectorRegistry
    public_url: str
    templates: Jinja2Templates
    retention: Pruner
    """Every context registers the tables it lets grow (`retention.add(Rule(...))`)."""
    retention_windows: RetentionSettings
    auth: Authenticator = field(default_factory=NoAuthenticator)
    ui_auth: UiAuth = field(default_factory=NoUiAuth)
    flip_causes: FlipCauses = field(default_factory=NoFlipCauses)
    problem_badges: ProblemBadges = field(default_factory=NoProblemBadges)
    ready: bool = False
    bus_unready_seconds: float = 30.0
    """/readyz answers 503 once the bus has been unreachable this long."""
    extras: dict[str, Any] = field(default_factory=dict)
    health: dict[str, Callable[[], dict[str, object]]] = field(default_factory=dict)
    """Per-context status for /readyz (e.g. how far behind the database a replica is)."""

    async def ui_user(self, request: Request, role: str = "viewer") -> str:
        """The user logged in to the web UI, or `LoginRequired` (a redirect to the login
        page that comes back to this one); `Forbidden` if their role is below `role`."""
        user = await self.ui_auth.user(request, role)
        if user is None:
            query = request.url.query
            raise LoginRequired(request.url.path + (f"?{query}" if query else ""))
        return user

    async def require_admin(self, secret: str | None) -> Principal:
        """The principal behind an admin token, or Unauthorized/Forbidden."""
        from selfheal.core import Forbidden

        if not self.ready:
            raise Unavailable("selfheal is starting, try again shortly")
        if not secret:
            raise Unauthorized("an admin API token is required")
        principal = await self.auth.authenticate(secret)
        if principal is None:
            raise Unauthorized("unknown API token")
        if principal.kind not in ("admin", "user"):
            raise Forbidden(f"a {principal.kind} token may not use the admin API")
        return principal


Starter = Callable[[], Awaitable[None]]
