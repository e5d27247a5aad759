"""JetStream consumers through outages: group-less consumers come back after the server
forgot them, and events a dead member held go to another member after ack_wait, not later."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from selfheal.bus.jetstream import JetStreamBus, JetStreamSubscription
from selfheal.core import CloudEvent
from tests.integration.bus.conftest import delete_stream, eventually
from tests.support.natsserver import NatsServer

pytestmark = pytest.mark.nats


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


def _event(i: int, tag: str = "x") -> CloudEvent:
    return CloudEvent(type="selfheal.flags.feature-updated", source="t", data={}, id=f"{tag}{i}")


async def _connect(url: str, tag: str, **kw: float) -> JetStreamBus:
    return await JetStreamBus.connect(
        url,
        stream=f"T_{tag}",
        subject_prefix=f"t{tag}.",
        consumer_prefix=f"c{tag}",
        **kw,  # type: ignore[arg-type]
    )


async def test_a_groupless_subscriber_hears_again_after_an_outage_longer_than_the_threshold(
    own_nats: NatsServer,
) -> None:
    tag = uuid.uuid4().hex[:8]
    bus = await _connect(own_nats.url, tag, inactive_threshold=2.0)
    seen: list[str] = []

    async def record(e: CloudEvent) -> None:
        seen.append(e.id)

    try:
        sub = await bus.subscribe("selfheal.flags.>", record)
        await bus.publish(_event(1))
        await eventually(lambda: seen == ["x1"])
        own_nats.kill()
        await asyncio.sleep(4.0)  # twice the consumer's inactive_threshold
        own_nats.start()
        await eventually(lambda: bus.connection.is_connected, timeout=20)
        assert bus.disconnected_for() == 0.0
        for i in range(2, 40):  # until the subscriber is back (bounded)
            await bus.publish(_event(i))
            try:
                await eventually(lambda i=i: f"x{i}" in seen, timeout=0.5)  # type: ignore[misc]
                break
            except AssertionError:
                continue
        assert len(seen) >= 2
        assert isinstance(sub, JetStreamSubscription)
    finally:
        await bus.close()


async def test_a_consumer_the_server_deleted_is_recreated_without_losing_events(
    nats_url: str,
) -> None:
    tag = uuid.uuid4().hex[:8]
    bus = await _connect(nats_url, tag)
    seen: list[str] = []

    async def record(e: CloudEvent) -> None:
        seen.append(e.id)

    try:
        sub = await bus.subscribe("selfheal.flags.>", record)
        assert isinstance(sub, JetStreamSubscription)
        await bus.publish(_event(1))
        await eventually(lambda: seen == ["x1"])
        old = sub.consumer
        # what the server does after inactive_threshold without a client
        await bus._js.delete_consumer(f"T_{tag}", old)
        await bus.publish(_event(2))  # published while no consumer exists
        await eventually(lambda: sub.recreated == 1, timeout=20)
        assert sub.consumer != old
        await bus.publish(_event(3))
        await eventually(lambda: "x3" in seen, timeout=10)
        assert seen == ["x1", "x2", "x3"]  # resumed after the last sequence it had seen
    finally:
        await bus.close()
        await delete_stream(nats_url, f"T_{tag}")


async def test_events_a_killed_member_held_reach_another_member_after_ack_wait(
    nats_url: str,
) -> None:
    tag = uuid.uuid4().hex[:8]
    dead = await _connect(nats_url, tag, ack_wait=2.0, prefetch=8)
    alive = await _connect(nats_url, tag, ack_wait=2.0, prefetch=8)
    stuck = asyncio.Event()
    taken: list[str] = []
    done: list[str] = []

    async def hang(e: CloudEvent) -> None:
        taken.append(e.id)
        await stuck.wait()

    async def record(e: CloudEvent) -> None:
        done.append(e.id)

    try:
        await dead.subscribe("selfheal.flags.>", hang, group="g")
        for i in range(8):
            await dead.publish(_event(i))
        await eventually(lambda: len(taken) == 1)
        await asyncio.sleep(0.5)  # the rest is prefetched by the dead member
        await alive.subscribe("selfheal.flags.>", record, group="g")
        await dead.connection.close()  # the process dies: no ack, no nak
        await eventually(lambda: len(set(done)) == 8, timeout=15)
        assert sorted(set(done)) == sorted(f"x{i}" for i in range(8))
    finally:
        stuck.set()
        await alive.close()
        await dead.close()
        await delete_stream(nats_url, f"T_{tag}")


async def test_prefetched_events_are_kept_alive_while_a_slow_handler_works(nats_url: str) -> None:
    tag = uuid.uuid4().hex[:8]
    bus = await _connect(nats_url, tag, ack_wait=1.5, prefetch=4)
    handled: list[str] = []

    async def slow(e: CloudEvent) -> None:
        handled.append(e.id)
        await asyncio.sleep(0.8)

    try:
        await bus.subscribe("selfheal.flags.>", slow, group="g")
        for i in range(4):
            await bus.publish(_event(i))
        # the last event waits ~2.4 s behind the others, beyond ack_wait: without keep-alive
        # for held events the server would redeliver it (and the ones before it) a second time
        await eventually(lambda: len(handled) >= 4, timeout=15)
        await asyncio.sleep(2.0)
        assert handled == [f"x{i}" for i in range(4)]
    finally:
        await bus.close()
        await delete_stream(nats_url, f"T_{tag}")
