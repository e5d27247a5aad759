"""The event bus: one protocol, an in-memory adapter and a NATS JetStream adapter."""

from __future__ import annotations

from selfheal.bus.instrumented import InstrumentedBus
from selfheal.bus.memory import MemoryBus
from selfheal.bus.protocol import BusError, EventBus, Handler, Subscription
from selfheal.bus.subjects import matches


async def open_bus(url: str, *, consumer_prefix: str = "selfheal") -> EventBus:
    """Pick the adapter by URL scheme: `memory://` or `nats://host:port`.

    A NATS URL may carry `?stream=NAME&subject_prefix=P.&consumer_prefix=C` so that several
    installations (or test runs) can share one NATS server without sharing events.
    """
    if url.startswith("memory:"):
        return MemoryBus()
    if url.startswith(("nats:", "tls:")):
        from urllib.parse import parse_qsl, urlsplit, urlunsplit

        from selfheal.bus.jetstream import JetStreamBus

        parts = urlsplit(url)
        options = dict(parse_qsl(parts.query))
        unknown = set(options) - {"stream", "subject_prefix", "consumer_prefix"}
        if unknown:
            raise BusError(f"unknown NATS URL option(s): {', '.join(sorted(unknown))}")
        return await JetStreamBus.connect(
            urlunsplit(parts._replace(query="")),
            consumer_prefix=options.get("consumer_prefix", consumer_prefix),
            stream=options.get("stream", "SELFHEAL"),
            subject_prefix=options.get("subject_prefix", ""),
        )
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
