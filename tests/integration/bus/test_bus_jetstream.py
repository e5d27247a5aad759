"""What only the JetStream adapter has to show: reconnects, restarts, dedup, stream scope."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from selfheal.bus import BusError, open_bus
from selfheal.bus.jetstream import JetStreamBus
from selfheal.core import CloudEvent
from tests.integration.bus.conftest import delete_stream, eventually

pytestmark = pytest.mark.nats

Connect = Callable[..., Awaitable[JetStreamBus]]


@pytest.fixture
async def connect(nats_url: str) -> AsyncIterator[Connect]:
    tag = uuid.uuid4().hex[:10]
    stream = f"TEST_{tag}"
    buses: list[JetStreamBus] = []

    async def factory(**options: object) -> JetStreamBus:
        bus = await JetStreamBus.connect(
            nats_url,
            stream=stream,
            subject_prefix=f"t{tag}.",
            consumer_prefix=f"c{tag}",
            redelivery_delay=0.05,
            **options,  # type: ignore[arg-type]
        )
        buses.append(bus)
        return bus

    try:
        yield factory
    finally:
        for bus in buses:
            await bus.close()
        await delete_stream(nats_url, stream)


def event(**data: object) -> CloudEvent:
    return CloudEvent(type="sh.keptn.event.action.triggered", source="tests/js", data=data)


async def test_consumers_keep_going_across_a_reconnect(connect: Connect) -> None:
    bus = await connect()
    grouped: list[int] = []
    fanned: list[int] = []

    async def in_group(e: CloudEvent) -> None:
        grouped.append(e.payload()["i"])

    async def everyone(e: CloudEvent) -> None:
        fanned.append(e.payload()["i"])

    await bus.subscribe("sh.keptn.>", in_group, group="g")
    await bus.subscribe("sh.keptn.>", everyone)
    for i in range(5):
        await bus.publish(event(i=i))
    await eventually(lambda: len(grouped) == 5 and len(fanned) == 5)
    reconnects = bus.connection.stats["reconnects"]
    await bus.connection.force_reconnect()
    for i in range(5, 10):
        await bus.publish(event(i=i))
    await eventually(lambda: bus.connection.stats["reconnects"] > reconnects)
    await eventually(lambda: len(set(grouped)) == 10 and len(set(fanned)) == 10)
    assert sorted(set(grouped)) == list(range(10))
    assert sorted(set(fanned)) == list(range(10))
    assert await bus.ping()


async def test_a_durable_group_outlives_the_process(connect: Connect) -> None:
    got: list[str] = []

    async def handler(e: CloudEvent) -> None:
        got.append(e.id)

    first = await connect()
    await first.subscribe("sh.keptn.>", handler, group="workers")
    await first.close()
    publisher = await connect()
    sent = [event(i=i) for i in range(4)]
    for e in sent:
        await publisher.publish(e)
    second = await connect()
    await second.subscribe("sh.keptn.>", handler, group="workers")
    await eventually(lambda: len(got) == 4)
    assert got == [e.id for e in sent]


async def test_the_same_event_published_twice_is_delivered_once(connect: Connect) -> None:
    bus = await connect()
    got: list[str] = []

    async def handler(e: CloudEvent) -> None:
        got.append(e.id)

    await bus.subscribe("sh.keptn.>", handler)
    twice = event(i=1)
    await bus.publish(twice)
    await bus.publish(twice)
    after = event(i=2)
    await bus.publish(after)
    await eventually(lambda: after.id in got)
    assert got == [twice.id, after.id]


async def test_publish_many_pipelines_and_keeps_order(connect: Connect) -> None:
    bus = await connect()
    got: list[int] = []

    async def handler(e: CloudEvent) -> None:
        got.append(e.payload()["i"])

    await bus.subscribe("sh.keptn.>", handler, group="ordered")
    await bus.publish_many(event(i=i) for i in range(200))
    await eventually(lambda: len(got) == 200)
    assert got == list(range(200))


async def test_events_outside_the_stream_are_refused(connect: Connect) -> None:
    bus = await connect()
    with pytest.raises(BusError, match="outside"):
        await bus.publish(CloudEvent(type="com.example.other", source="tests/js"))


async def test_selfheals_own_events_travel_on_the_stream(connect: Connect) -> None:
    """The restore's course and the escalations are `sh.selfheal.*`: the stream holds them
    (integrations follow a restore through them), and a group filters on them server-side."""
    bus = await connect()
    got: list[str] = []

    async def handler(e: CloudEvent) -> None:
        got.append(e.type)

    await bus.subscribe("sh.selfheal.>", handler, group="course")
    types = [
        "sh.selfheal.problem.mitigated",
        "sh.selfheal.restore.step",
        "sh.keptn.event.restore.started",
        "sh.selfheal.problem.escalated",
    ]
    await bus.publish_many(CloudEvent(type=t, source="tests/js") for t in types)
    await eventually(lambda: len(got) == 3)
    assert got == [t for t in types if t.startswith("sh.selfheal.")]


async def test_connecting_to_nothing_is_a_bus_error() -> None:
    with pytest.raises(BusError, match="cannot connect"):
        await JetStreamBus.connect("nats://127.0.0.1:1", connect_timeout=0.5)


async def test_connecting_again_keeps_the_stream(connect: Connect) -> None:
    first = await connect()
    await first.publish(event(i=1))
    second = await connect(max_age=3600.0)
    info = await second.connection.jetstream().stream_info(second.stream)
    assert info.state.messages == 1
    assert info.config.subjects == second.subjects()


async def test_open_bus_reads_stream_and_prefix_from_the_url(nats_url: str) -> None:
    tag = uuid.uuid4().hex[:8]
    bus = await open_bus(f"{nats_url}?stream=URL_{tag}&subject_prefix=u{tag}.&consumer_prefix=c")
    try:
        assert isinstance(bus, JetStreamBus)
        assert bus.stream == f"URL_{tag}"
        assert bus.subjects() == [
            f"u{tag}.sh.keptn.>",
            f"u{tag}.sh.selfheal.>",
            f"u{tag}.selfheal.>",
        ]
    finally:
        await bus.close()
        await delete_stream(nats_url, f"URL_{tag}")


async def test_open_bus_refuses_unknown_url_options(nats_url: str) -> None:
    with pytest.raises(BusError, match="bogus"):
        await open_bus(f"{nats_url}?bogus=1")
