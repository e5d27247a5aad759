"""The event bus: one protocol, an in-memory adapter and a NATS JetStream adapter."""

from __future__ import annotations

from selfheal.bus.instrumented import InstrumentedBus
from selfheal.bus.memory import MemoryBus
from selfheal.bus.protocol import BusError, EventBus, Handler, Subscription
from selfheal.bus.subjects import matches


async def open_bus(url: str, *, consumer_prefix: str = "selfheal") -> EventBus:
    """Pick the adapter by URL scheme: `memory://` or `nats://host:port`."""
    if url.startswith("memory:"):
        return MemoryBus()
    if url.startswith(("nats:", "tls:")):
        from selfheal.bus.jetstream import JetStreamBus

        return await JetStreamBus.connect(url, consumer_prefix=consumer_prefix)
    raise BusError(
        f"unsupported bus URL scheme in {url.split('://', maxsplit=1)[0]!r}: use memory:// or nats://"
    )


__all__ = [
    "BusError",
    "EventBus",
    "Handler",
    "InstrumentedBus",
    "MemoryBus",
    "Subscription",
    "matches",
    "open_bus",
]
