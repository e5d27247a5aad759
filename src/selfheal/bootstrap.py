"""The one composition root: `build(settings)` wires every adapter and context.

The server, the CLI's embedded mode, the demo and the tests all go through here; anything
can be swapped by passing it in (`database=`, `bus=`, `clock=`, `store=`).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from markupsafe import Markup
from prometheus_client import CollectorRegistry

from selfheal import flashes
from selfheal.bus import EventBus, FailFirstPublish, InstrumentedBus, open_bus
from selfheal.control import ControlComponent
from selfheal.core import Clock, SystemClock, new_id, pages
from selfheal.delivery import DEAD, SUCCEEDED, Outbox, SqlDeliveryStore
from selfheal.delivery.deliveries import deliveries_table
from selfheal.flags import FlagsComponent
from selfheal.integrations import IntegrationsComponent
from selfheal.integrations.component import shared_outbox
from selfheal.monitor import MonitorComponent
from selfheal.runtime import Component, EventLog, Runtime, publish_all
from selfheal.settings import Settings
from selfheal.storage import Database, EventStore, OutboxRelay, Pruner, Rule, SqlEventStore
from selfheal.storage.events import events_table, not_in_outbox

log = logging.getLogger(__name__)


@dataclass
class Container:
    settings: Settings
    runtime: Runtime
    flags: FlagsComponent
    monitor: MonitorComponent
    control: ControlComponent
    integrations: IntegrationsComponent
    components: list[Component] = field(default_factory=list)
    relay: OutboxRelay | None = None
    outbox: Outbox | None = None
    _started: bool = False
    _running: list[Component] = field(default_factory=list)

    async def start(self) -> None:
        """Migrate, then start every context; only then does the server answer ready."""
        if self._started:
            return
        await self.runtime.database.migrate()
        for component in self.components:
            await component.start()
            self._running.append(component)  # a start cut short stops only these
        if self.outbox is not None:
            await self.outbox.start()  # resumes deliveries a stopped or dead replica left
        if self.relay is not None:
            await self.relay.start()
        await self.runtime.retention.start()
        self._started = True
        self.runtime.ready = True
        log.info("selfheal ready at %s", self.runtime.public_url)

    async def stop(self) -> None:
        """Stop contexts in reverse order (each drains its own work), then the bus and DB."""
        self.runtime.ready = False
        await self.runtime.retention.stop()
        if self.relay is not None:
            await self.relay.stop()
        if self.outbox is not None:
            await self.outbox.close()
        for component in reversed(self._running):
            try:
                await component.stop()
            except Exception:
                log.exception("stopping %s failed", component.name)
        self._running.clear()
        await self.runtime.events.drain()
        await self.runtime.bus.close()
        await self.runtime.database.dispose()
        self._started = False

    async def __aenter__(self) -> Container:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def make_templates() -> Any:
    from jinja2 import ChoiceLoader, Environment, PackageLoader
    from starlette.templating import Jinja2Templates

    loaders = [PackageLoader("selfheal.web", "templates")]
    for ctx in ("flags", "monitor", "control", "integrations"):
        try:
            loaders.append(PackageLoader(f"selfheal.{ctx}", "templates"))
        except ValueError:
            continue
    env = Environment(loader=ChoiceLoader(loaders), autoescape=True)
    env.filters["utc"] = _utc
    env.filters["when"] = _when
    env.globals["flash_of"] = flashes.read
    env.globals["pages"] = pages  # the one link builder per resource, for every template
    return Jinja2Templates(env=env)


DAY = 86400.0


def _utc(epoch: float | None) -> str:
    """Epoch seconds as UTC wall time for the UI (`{{ t|utc }}`)."""
    if epoch is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))


def _when(epoch: float | None) -> Any:
    """`{{ t|when }}`: a <time> element in UTC; /static/selfheal.js shows it in the browser's
    zone and keeps UTC on hover."""
    if epoch is None:
        return ""
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    text = _utc(epoch) + " UTC"
    return Markup('<time datetime="{0}" title="{1}">{1}</time>').format(iso, text)


async def build(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    bus: EventBus | None = None,
    clock: Clock | None = None,
    store: EventStore | None = None,
    registry: CollectorRegistry | None = None,
) -> Container:
    settings = settings or Settings()
    registry = registry or CollectorRegistry()
    clock = clock or SystemClock()
    database = database or Database(settings.database_url)
    raw_bus = bus or await open_bus(settings.bus_url)
    if settings.test_fail_first_publish:
        log.warning(
            "test seam on: the first publish of %s fails after its commit",
            ", ".join(settings.test_fail_first_publish),
        )
        raw_bus = FailFirstPublish(raw_bus, list(settings.test_fail_first_publish))
    instrumented = InstrumentedBus(raw_bus, registry)
    store = store or SqlEventStore(database, now=clock.now)
    windows = settings.storage.retention
    retention = Pruner(
        database,
        clock.now,
        interval=windows.interval_seconds,
        batch=windows.batch,
        registry=registry,
    )
    if isinstance(store, SqlEventStore):
        retention.add(
            Rule(
                "events",
                events_table,
                "time",
                windows.events_days * DAY,
                key=("seq",),
                where=not_in_outbox,
            )
        )
    runtime = Runtime(
        clock=clock,
        database=database,
        bus=instrumented,
        events=EventLog(store, instrumented, wait=settings.storage.publish_wait_seconds),
        registry=registry,
        public_url=settings.base_url,
        templates=make_templates(),
        bus_unready_seconds=settings.bus_unready_seconds,
        retention=retention,
        retention_windows=windows,
    )
    flags = FlagsComponent(runtime, settings.flags, root=settings)
    # one outbound outbox (selfheal.delivery) for the monitor's webhooks and the
    # integrations' calls; started once every sender is registered, closed first
    outbox = shared_outbox(SqlDeliveryStore(database), runtime, settings.integrations)
    retention.add(
        Rule(
            "deliveries",
            deliveries_table,
            "updated",
            windows.deliveries_days * DAY,
            key=("id",),
            where=lambda t: t.c.status.in_((SUCCEEDED, DEAD)),
        )
    )
    monitor = MonitorComponent(runtime, settings.monitor, outbox=outbox)
    control = ControlComponent(runtime, settings.control)
    integrations = IntegrationsComponent(
        runtime,
        settings.integrations,
        flags=flags,
        monitor=monitor,
        control=control,
        outbox=outbox,
    )
    relay = (
        OutboxRelay(
            database,
            partial(publish_all, instrumented),
            owner=f"{socket.gethostname()}-{os.getpid()}-{new_id()[:8]}",
            registry=registry,
            interval=settings.storage.relay_interval_seconds,
            batch=settings.storage.relay_batch,
            now=clock.now,
        )
        if isinstance(store, SqlEventStore)
        else None
    )
    return Container(
        relay=relay,
        outbox=outbox,
        settings=settings,
        runtime=runtime,
        flags=flags,
        monitor=monitor,
        control=control,
        integrations=integrations,
        components=[flags, monitor, control, integrations],
    )
