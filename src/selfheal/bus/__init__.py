"""The event bus: one protocol, an in-memory adapter and a NATS JetStream adapter."""

from __future__ import annotations

from selfheal.bus.instrumented import Disconnectable, InstrumentedBus
from selfheal.bus.memory import MemoryBus
from selfheal.bus.protocol import BusError, EventBus, Handler, Subscription
from selfheal.bus.seams import FailFirstPublish
from selfheal.bus.subjects import matches

_NUMBERS = ("ack_wait", "prefetch", "inactive_threshold")


async def open_bus(url: str, *, consumer_prefix: str = "selfheal") -> EventBus:
    """Pick the adapter by URL scheme: `memory://` or `nats://host:port`.

    A NATS URL may carry `?stream=NAME&subject_prefix=P.&consumer_prefix=C` so that several
    installations (or test runs) can share one NATS server without sharing events, and
    `ack_wait`, `prefetch`, `inactive_threshold` (seconds / events) to tune consumers.
    """
    if url.startswith("memory:"):
        return MemoryBus()
    if url.startswith(("nats:", "tls:")):
        from urllib.parse import parse_qsl, urlsplit, urlunsplit

        from selfheal.bus.jetstream import JetStreamBus

        parts = urlsplit(url)
        options = dict(parse_qsl(parts.query))
        unknown = set(options) - {"stream", "subject_prefix", "consumer_prefix", *_NUMBERS}
        if unknown:
            raise BusError(f"unknown NATS URL option(s): {', '.join(sorted(unknown))}")
        numbers: dict[str, float] = {}
        for key in _NUMBERS:
            if key in options:
                try:
                    numbers[key] = float(options[key])
                except ValueError:
                    raise BusError(f"NATS URL option {key} must be a number") from None
                if numbers[key] <= 0:
                    raise BusError(f"NATS URL option {key} must be positive")
        return await JetStreamBus.connect(
            urlunsplit(parts._replace(query="")),
            consumer_prefix=options.get("consumer_prefix", consumer_prefix),
            stream=options.get("stream", "SELFHEAL"),
            subject_prefix=options.get("subject_prefix", ""),
            ack_wait=numbers.get("ack_wait", 5.0),
            prefetch=int(numbers.get("prefetch", 32)),
            inactive_threshold=numbers.get("inactive_threshold", 30.0),
        )
    raise BusError(
        f"unsupported bus URL scheme in {url.split('://', maxsplit=1)[0]!r}: use memory:// or nats://"
    )


__all__ = [
    "BusError",
    "Disconnectable",
    "EventBus",
    "FailFirstPublish",
    "Handler",
    "InstrumentedBus",
    "MemoryBus",
    "Subscription",
    "matches",
    "open_bus",
]
