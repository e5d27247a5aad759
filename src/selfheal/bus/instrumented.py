"""Prometheus counters and latency around any bus.

The `type` label is bounded: the first `type_limit` event types seen get their own label,
every later one counts as "other" (Keptn task names are user-defined, so the set of types
is open-ended and a label per type would grow the exposition without bound).
"""

from __future__ import annotations

import time
from typing import Any, Protocol, runtime_checkable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from selfheal.bus.protocol import EventBus, Handler, Subscription
from selfheal.core import CloudEvent

OTHER = "other"


class InstrumentedBus:
    """Wraps a bus; counts events published and consumed and times handlers."""

    def __init__(
        self, inner: EventBus, registry: CollectorRegistry, *, type_limit: int = 100
    ) -> None:
        self.inner = inner
        self._type_limit = type_limit
        self._types: set[str] = set()
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
        disconnected = Gauge(
            "selfheal_bus_disconnected_seconds",
            "Seconds since this process lost its connection to NATS (0 while connected)",
            registry=registry,
        )
        disconnected.set_function(self.disconnected_for)
        # labels() takes a lock and builds a tuple per call: keep the children per type
        self._published_by: dict[str, Any] = {}
        self._consumed_ok: dict[str, Any] = {}

    async def publish(self, event: CloudEvent) -> None:
        await self.inner.publish(event)
        label = self._label(event.type)
        child = self._published_by.get(label)
        if child is None:
            child = self._published_by[label] = self._published.labels(label)
        child.inc()

    def _label(self, type: str) -> str:
        if type in self._types:
            return type
        if len(self._types) < self._type_limit:
            self._types.add(type)
            return type
        return OTHER

    async def publish_many(self, events: list[CloudEvent]) -> None:
        """Pipelined where the inner bus can (JetStream's acks overlap), else in order."""
        many = getattr(self.inner, "publish_many", None)
        if many is None:
            for event in events:
                await self.publish(event)
            return
        await many(events)
        for event in events:
            label = self._label(event.type)
            child = self._published_by.get(label)
            if child is None:
                child = self._published_by[label] = self._published.labels(label)
            child.inc()

    async def subscribe(
        self, pattern: str, handler: Handler, *, group: str | None = None
    ) -> Subscription:
        async def counted(event: CloudEvent) -> None:
            start = time.perf_counter()
            try:
                await handler(event)
            except Exception:
                self._consumed.labels(self._label(event.type), "error").inc()
                raise
            finally:
                self._handler_seconds.observe(time.perf_counter() - start)
            label = self._label(event.type)
            child = self._consumed_ok.get(label)
            if child is None:
                child = self._consumed_ok[label] = self._consumed.labels(label, "ok")
            child.inc()

        return await self.inner.subscribe(pattern, counted, group=group)

    async def close(self) -> None:
        await self.inner.close()

    async def ping(self) -> bool:
        return await self.inner.ping()

    def disconnected_for(self) -> float:
        """Seconds the inner bus has been cut off from its server (0: connected or in-process)."""
        inner = self.inner
        return inner.disconnected_for() if isinstance(inner, Disconnectable) else 0.0


@runtime_checkable
class Disconnectable(Protocol):
    """A bus with a server connection that can be lost (JetStream)."""

    def disconnected_for(self) -> float: ...
