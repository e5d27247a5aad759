"""Bounded queues on the memory bus (back-pressure, nothing dropped) and bounded labels."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from selfheal.bus import InstrumentedBus, MemoryBus
from selfheal.core import CloudEvent


def _event(i: int, type: str = "sh.keptn.event.a.triggered") -> CloudEvent:
    return CloudEvent(type=type, source="t", data={}, id=f"e{i}")


async def test_a_full_queue_makes_the_publisher_wait_and_loses_nothing() -> None:
    bus = MemoryBus(queue_limit=3)
    gate = asyncio.Event()
    seen: list[str] = []

    async def slow(e: CloudEvent) -> None:
        await gate.wait()
        seen.append(e.id)

    await bus.subscribe("sh.keptn.>", slow)
    for i in range(4):  # one in the handler's hand, three queued
        await bus.publish(_event(i))
        await asyncio.sleep(0)
    blocked = asyncio.ensure_future(bus.publish(_event(4)))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not blocked.done()  # back-pressure: the queue is full
    gate.set()
    await asyncio.wait_for(blocked, 5)
    assert await bus.drain(5.0)
    assert seen == [f"e{i}" for i in range(5)]
    await bus.close()


async def test_a_handler_publishing_to_its_own_full_queue_does_not_deadlock() -> None:
    bus = MemoryBus(queue_limit=2)
    seen: list[str] = []

    async def fan_out(e: CloudEvent) -> None:
        seen.append(e.id)
        if e.id == "e0":
            for i in range(1, 6):
                await bus.publish(_event(i))

    await bus.subscribe("sh.keptn.>", fan_out)
    await bus.publish(_event(0))
    assert await bus.drain(5.0)
    assert sorted(seen) == [f"e{i}" for i in range(6)]
    await bus.close()


async def test_event_type_labels_are_bounded() -> None:
    registry = CollectorRegistry()
    bus = InstrumentedBus(MemoryBus(), registry, type_limit=3)
    for i in range(10):
        await bus.publish(_event(i, f"sh.keptn.event.task{i}.triggered"))
    labels = {
        sample.labels["type"]
        for metric in registry.collect()
        if metric.name == "selfheal_events_published"
        for sample in metric.samples
        if sample.name == "selfheal_events_published_total"
    }
    assert len(labels) == 4 and "other" in labels
    assert registry.get_sample_value("selfheal_events_published_total", {"type": "other"}) == 7
    await bus.close()
