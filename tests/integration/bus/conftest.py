"""A bus factory parametrized over every adapter, and a bounded wait."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from selfheal.bus import EventBus, MemoryBus
from selfheal.bus.jetstream import JetStreamBus

BusFactory = Callable[..., Awaitable[EventBus]]


async def eventually(check: Callable[[], bool], *, timeout: float = 10.0) -> None:
    """Wait until `check()` holds (polling, bounded); fail with a message otherwise."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.005)


async def delete_stream(url: str, stream: str) -> None:
    import nats

    nc = await nats.connect(url)
    try:
        await nc.jetstream().delete_stream(stream)
    except Exception:
        pass
    finally:
        await nc.close()


@pytest.fixture(params=["memory", pytest.param("jetstream", marks=pytest.mark.nats)])
async def make_bus(request: pytest.FixtureRequest) -> AsyncIterator[BusFactory]:
    """`await make_bus(max_deliver=.., redelivery_delay=.., prefetch=..)`; for JetStream every
    bus of one test shares a stream and subject prefix of its own, deleted afterwards."""
    buses: list[EventBus] = []
    memory: MemoryBus | None = None
    url = ""
    tag = uuid.uuid4().hex[:10]
    stream = f"TEST_{tag}"
    if request.param == "jetstream":
        url = request.getfixturevalue("nats_url")

    async def factory(
        *, max_deliver: int = 5, redelivery_delay: float = 0.05, prefetch: int = 16, **_: Any
    ) -> EventBus:
        nonlocal memory
        if request.param == "memory":
            bus: EventBus = MemoryBus(max_deliver=max_deliver, redelivery_delay=redelivery_delay)
        else:
            bus = await JetStreamBus.connect(
                url,
                stream=stream,
                subject_prefix=f"t{tag}.",
                consumer_prefix=f"c{tag}",
                max_deliver=max_deliver,
                redelivery_delay=redelivery_delay,
                prefetch=prefetch,
                ack_wait=5.0,
            )
        buses.append(bus)
        return bus

    factory.kind = request.param  # type: ignore[attr-defined]
    try:
        yield factory
    finally:
        for bus in buses:
            await bus.close()
        if url:
            await delete_stream(url, stream)
