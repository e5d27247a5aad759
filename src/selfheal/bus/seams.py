"""A test seam: a bus whose first publish of chosen events fails, as a NATS publish that is
lost right after the state change committed.

Only the fault-injection suite turns it on, in a real `selfheal up` process, through the
setting `SELFHEAL_TEST_FAIL_FIRST_PUBLISH` (a comma list of event-type patterns, NATS
wildcards), which `bootstrap.build` reads once; unset (the default), the bus is not wrapped
at all. The first attempt to publish a matching event — by its publisher, right after the
commit — raises `BusError`; a later attempt for the same event (the outbox relay's) goes
through. So the suite proves that a committed event whose publish failed is republished and
that the sequence it belongs to completes.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from selfheal.bus.instrumented import Disconnectable
from selfheal.bus.protocol import BusError, EventBus, Handler, Subscription
from selfheal.bus.subjects import matches
from selfheal.core import CloudEvent

log = logging.getLogger(__name__)
REMEMBERED = 100_000
"""Events whose first publish failed, remembered (oldest forgotten first)."""


class FailFirstPublish:
    """Wraps a bus; see the module docstring."""

    def __init__(self, inner: EventBus, patterns: list[str]) -> None:
        self.inner = inner
        self.patterns = tuple(patterns)
        self.failed = 0
        """Publish calls this seam made fail."""
        self._tried: OrderedDict[tuple[str, str], None] = OrderedDict()

    def _first_tries(self, events: list[CloudEvent]) -> list[CloudEvent]:
        first = []
        for event in events:
            key = (event.source, event.id)
            if key in self._tried or not any(matches(p, event.type) for p in self.patterns):
                continue
            self._tried[key] = None
            if len(self._tried) > REMEMBERED:
                self._tried.popitem(last=False)
            first.append(event)
        return first

    def _fail(self, events: list[CloudEvent]) -> None:
        first = self._first_tries(events)
        if first:
            self.failed += 1
            log.warning(
                "test seam: failing the publish of %d event(s) (first try of %s)",
                len(events),
                ", ".join(sorted({e.type for e in first})),
            )
            raise BusError("test seam: publish failed after commit")

    async def publish(self, event: CloudEvent) -> None:
        self._fail([event])
        await self.inner.publish(event)

    async def publish_many(self, events: list[CloudEvent]) -> None:
        self._fail(events)
        many = getattr(self.inner, "publish_many", None)
        if many is None:
            for event in events:
                await self.inner.publish(event)
            return
        await many(events)

    async def subscribe(
        self, pattern: str, handler: Handler, *, group: str | None = None
    ) -> Subscription:
        return await self.inner.subscribe(pattern, handler, group=group)

    async def close(self) -> None:
        await self.inner.close()

    async def ping(self) -> bool:
        return await self.inner.ping()

    def disconnected_for(self) -> float:
        inner = self.inner
        return inner.disconnected_for() if isinstance(inner, Disconnectable) else 0.0
