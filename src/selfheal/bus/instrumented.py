"""Prometheus counters and latency around any bus."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from selfheal.bus.protocol import EventBus, Handler, Subscription
from selfheal.core import CloudEvent


class InstrumentedBus:
    """Wraps a bus; counts events published and consumed and times handlers."""

    def __init__(self, inner: EventBus, registry: CollectorRegistry) -> None:
        self.inner = inner
        self._published = Counter(
            "selfheal_events_published",
            "CloudEvents published on the bus",
            ["type"],
            registry=registry,
        )
        self._consumed = Counter(
            "selfheal_events_consumed",
            "CloudEvents handled by subscribers",
            ["type", "outcome"],
            registry=registry,
        )
        self._handler_seconds = Histogram(
            "selfheal_event_handler_seconds",
            "Time spent in bus handlers",
            registry=registry,
            buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5),
        )
        # labels() takes a lock and builds a tuple per call: keep the children per type
        self._published_by: dict[str, Any] = {}
        self._consumed_ok: dict[str, Any] = {}

    async def publish(self, event: CloudEvent) -> None:
        await self.inner.publish(event)
        child = self._published_by.get(event.type)
        if child is None:
            child = self._published_by[event.type] = self._published.labels(event.type)
        child.inc()

    async def publish_many(self, events: list[CloudEvent]) -> None:
        """Pipelined where the inner bus can (JetStream's acks overlap), else in order."""
        many = getattr(self.inner, "publish_many", None)
        if many is None:
            for event in events:
                await self.publish(event)
            return
        await many(events)
        for event in events:
            child = self._published_by.get(event.type)
            if child is None:
                child = self._published_by[event.type] = self._published.labels(event.type)
            child.inc()

    async def subscribe(
        self, pattern: str, handler: Handler, *, group: str | None = None
    ) -> Subscription:
        async def counted(event: CloudEvent) -> None:
            start = time.perf_counter()
            try:
                await handler(event)
            except Exception:
                self._consumed.labels(event.type, "error").inc()
                raise
            finally:
                self._handler_seconds.observe(time.perf_counter() - start)
            child = self._consumed_ok.get(event.type)
            if child is None:
                child = self._consumed_ok[event.type] = self._consumed.labels(event.type, "ok")
            child.inc()

        return await self.inner.subscribe(pattern, counted, group=group)

    async def close(self) -> None:
        await self.inner.close()

    async def ping(self) -> bool:
        return await self.inner.ping()
