"""The memory bus's routing table (event type → consumers) follows subscribers that come
and go."""

from __future__ import annotations

from selfheal.bus import MemoryBus
from selfheal.core import CloudEvent


def _event(i: int) -> CloudEvent:
    return CloudEvent(type="sh.keptn.event.a.triggered", source="t", data={}, id=f"e{i}")


async def test_subscribers_that_come_and_go_get_exactly_the_later_events() -> None:
    bus = MemoryBus()
    first: list[str] = []
    late: list[str] = []

    async def record_first(e: CloudEvent) -> None:
        first.append(e.id)

    async def record_late(e: CloudEvent) -> None:
        late.append(e.id)

    sub = await bus.subscribe("sh.keptn.>", record_first)
    await bus.publish(_event(1))  # routes the type to the one consumer
    other = await bus.subscribe("sh.keptn.event.*.triggered", record_late, group="g")
    await bus.publish(_event(2))
    assert await bus.drain(2.0)
    await sub.unsubscribe()
    await bus.publish(_event(3))
    assert await bus.drain(2.0)
    assert first == ["e1", "e2"] and late == ["e2", "e3"]
    await other.unsubscribe()
    await bus.close()
