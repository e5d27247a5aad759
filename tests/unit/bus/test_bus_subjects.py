"""Subject patterns mean the same on every adapter (NATS semantics)."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from selfheal.bus import BusError, InstrumentedBus, MemoryBus, matches, open_bus
from selfheal.bus.subjects import validate_pattern
from selfheal.core import CloudEvent


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("sh.keptn.event.*.triggered", "sh.keptn.event.action.triggered", True),
        ("sh.keptn.event.*.triggered", "sh.keptn.event.a.b.triggered", False),
        ("sh.keptn.>", "sh.keptn.events.problem", True),
        ("sh.keptn.>", "sh.keptn", False),
        (">", "anything.at.all", True),
        ("*", "one", True),
        ("*", "one.two", False),
        ("a.b", "a.b", True),
        ("a.b", "a.b.c", False),
        ("a.*.c", "a.b.c", True),
        ("a.*.>", "a.b", False),
        ("a.*.>", "a.b.c.d", True),
    ],
)
def test_matches(pattern: str, subject: str, expected: bool) -> None:
    assert matches(pattern, subject) is expected


@pytest.mark.parametrize("pattern", ["", "a..b", "a.>.b", ".a", "a."])
def test_invalid_patterns(pattern: str) -> None:
    with pytest.raises(ValueError):
        validate_pattern(pattern)


async def test_memory_bus_refuses_bad_patterns() -> None:
    bus = MemoryBus()

    async def handler(_: CloudEvent) -> None:
        return None

    with pytest.raises(ValueError):
        await bus.subscribe("a.>.b", handler)
    await bus.close()


async def test_open_bus_memory_and_unknown_scheme() -> None:
    bus = await open_bus("memory://")
    assert isinstance(bus, MemoryBus)
    await bus.close()
    with pytest.raises(BusError, match="kafka"):
        await open_bus("kafka://broker:9092")


async def test_instrumented_bus_counts_published_and_consumed() -> None:
    registry = CollectorRegistry()
    bus = InstrumentedBus(MemoryBus(max_deliver=2, redelivery_delay=0.001), registry)
    done = asyncio.Event()
    calls = 0

    async def handler(e: CloudEvent) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("once")
        done.set()

    await bus.subscribe("selfheal.>", handler)
    await bus.publish(CloudEvent(type="selfheal.test", source="tests"))
    await asyncio.wait_for(done.wait(), 5)
    await bus.close()
    value = registry.get_sample_value
    assert value("selfheal_events_published_total", {"type": "selfheal.test"}) == 1
    assert value("selfheal_events_consumed_total", {"type": "selfheal.test", "outcome": "ok"}) == 1
    assert (
        value("selfheal_events_consumed_total", {"type": "selfheal.test", "outcome": "error"}) == 1
    )
