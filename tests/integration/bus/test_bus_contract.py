"""The delivery contract of `selfheal.bus.protocol`, run against every adapter."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import replace

import pytest

from selfheal.bus import BusError
from selfheal.core import CloudEvent
from tests.integration.bus.conftest import BusFactory, eventually


def event(type_: str = "sh.keptn.event.action.triggered", **data: object) -> CloudEvent:
    return CloudEvent(
        type=type_,
        source="tests/bus",
        data={"project": "website", **data},
        extensions={"shkeptncontext": "ctx-1"},
    )


async def test_publish_then_subscriber_receives_the_same_event(make_bus: BusFactory) -> None:
    bus = await make_bus()
    got: list[CloudEvent] = []

    async def handler(e: CloudEvent) -> None:
        got.append(e)

    await bus.subscribe("sh.keptn.event.*.triggered", handler)
    sent = event(n=1)
    await bus.publish(sent)
    await eventually(lambda: len(got) == 1)
    assert got[0].id == sent.id
    assert got[0].source == sent.source
    assert got[0].type == sent.type
    assert got[0].data == sent.data
    assert got[0].shkeptncontext == "ctx-1"


async def test_the_applied_mark_travels_with_the_event_but_not_in_it(
    make_bus: BusFactory,
) -> None:
    """The control plane marks an event its step applied; a group member and a group-less
    subscriber get the mark with it, an unmarked event arrives unmarked, and the mark is
    never part of the CloudEvent's JSON."""
    bus = await make_bus()
    grouped: list[CloudEvent] = []
    fanned: list[CloudEvent] = []

    async def in_group(e: CloudEvent) -> None:
        grouped.append(e)

    async def everyone(e: CloudEvent) -> None:
        fanned.append(e)

    await bus.subscribe("sh.keptn.>", in_group, group="applied")
    await bus.subscribe("sh.keptn.>", everyone)
    marked, plain = replace(event(n=1), applied=True), event(n=2)
    await bus.publish(marked)
    await bus.publish(plain)
    await eventually(lambda: len(grouped) == 2 and len(fanned) == 2)
    for got in (grouped, fanned):
        assert {e.id: e.applied for e in got} == {marked.id: True, plain.id: False}
        assert all("applied" not in e.to_dict() for e in got)


async def test_wildcards_match_like_nats(make_bus: BusFactory) -> None:
    bus = await make_bus()
    seen: dict[str, list[str]] = {}
    patterns = [
        "sh.keptn.event.*.triggered",
        "sh.keptn.>",
        "selfheal.>",
        "sh.keptn.event.deploy.finished",
        ">",
    ]
    for pattern in patterns:
        seen[pattern] = []

        async def handler(e: CloudEvent, pattern: str = pattern) -> None:
            seen[pattern].append(e.type)

        await bus.subscribe(pattern, handler)
    types = [
        "sh.keptn.event.get-action.triggered",
        "sh.keptn.event.production.remediation.triggered",
        "selfheal.flags.changed",
        "sh.keptn.events.problem",
        "sh.keptn.event.deploy.finished",
        "sh.keptn.event.action.triggered",
    ]
    for t in types:
        await bus.publish(event(t))
    expected = {
        "sh.keptn.event.*.triggered": [types[0], types[5]],
        "sh.keptn.>": [types[0], types[1], types[3], types[4], types[5]],
        "selfheal.>": [types[2]],
        "sh.keptn.event.deploy.finished": [types[4]],
        ">": types,
    }
    # each subscriber sees events in publish order, so once its last expected event is in,
    # anything it should not have matched would already be there too
    await eventually(lambda: all(len(seen[p]) >= len(expected[p]) for p in patterns))
    assert seen == expected


async def test_fan_out_without_group_gives_every_subscriber_every_event(
    make_bus: BusFactory,
) -> None:
    bus = await make_bus()
    first: list[str] = []
    second: list[str] = []

    async def one(e: CloudEvent) -> None:
        first.append(e.id)

    async def two(e: CloudEvent) -> None:
        second.append(e.id)

    await bus.subscribe("sh.keptn.>", one)
    await bus.subscribe("sh.keptn.>", two)
    sent = [event(i=i) for i in range(10)]
    for e in sent:
        await bus.publish(e)
    await eventually(lambda: len(first) == 10 and len(second) == 10)
    assert first == second == [e.id for e in sent]


async def test_group_members_split_the_work_without_duplicates(make_bus: BusFactory) -> None:
    bus = await make_bus(prefetch=1)
    by_member: dict[str, list[str]] = {"a": [], "b": []}

    for ids in by_member.values():

        async def handler(e: CloudEvent, ids: list[str] = ids) -> None:
            ids.append(e.id)
            await asyncio.sleep(0.002)

        await bus.subscribe("sh.keptn.event.>", handler, group="workers")
    sent = [event(i=i) for i in range(30)]
    for e in sent:
        await bus.publish(e)
    await eventually(lambda: len(by_member["a"]) + len(by_member["b"]) >= 30)
    await bus.close()
    handled = by_member["a"] + by_member["b"]
    assert sorted(handled) == sorted(e.id for e in sent)
    assert not [k for k, n in Counter(handled).items() if n > 1]
    assert by_member["a"] and by_member["b"], "both members should get a share"


async def test_a_handler_that_raises_gets_the_event_again(make_bus: BusFactory) -> None:
    bus = await make_bus()
    attempts: list[str] = []
    ok: list[str] = []

    async def flaky(e: CloudEvent) -> None:
        attempts.append(e.id)
        if len(attempts) == 1:
            raise RuntimeError("transient")
        ok.append(e.id)

    await bus.subscribe("sh.keptn.>", flaky, group="flaky")
    sent = event()
    await bus.publish(sent)
    await eventually(lambda: ok == [sent.id])
    assert attempts == [sent.id, sent.id]


async def test_redelivery_stops_at_the_limit_and_the_drop_is_logged(
    make_bus: BusFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="selfheal.bus")
    bus = await make_bus(max_deliver=3)
    attempts: list[str] = []

    async def broken(e: CloudEvent) -> None:
        attempts.append(e.id)
        raise RuntimeError("always")

    await bus.subscribe("sh.keptn.>", broken)
    await bus.publish(event())
    await eventually(lambda: any("dropped after 3" in r.getMessage() for r in caplog.records))
    assert len(attempts) == 3


async def test_durable_group_gets_events_published_while_nobody_listened(
    make_bus: BusFactory,
) -> None:
    bus = await make_bus()
    got: list[str] = []

    async def handler(e: CloudEvent) -> None:
        got.append(e.id)

    sub = await bus.subscribe("sh.keptn.>", handler, group="durable")
    await sub.unsubscribe()
    sent = [event(i=i) for i in range(5)]
    for e in sent:
        await bus.publish(e)
    await bus.subscribe("sh.keptn.>", handler, group="durable")
    await eventually(lambda: len(got) == 5)
    assert got == [e.id for e in sent]


async def test_close_waits_for_the_handler_in_flight(make_bus: BusFactory) -> None:
    bus = await make_bus()
    started = asyncio.Event()
    release = asyncio.Event()
    finished: list[str] = []

    async def slow(e: CloudEvent) -> None:
        started.set()
        await release.wait()
        finished.append(e.id)

    await bus.subscribe("sh.keptn.>", slow, group="slow")
    sent = event()
    await bus.publish(sent)
    await asyncio.wait_for(started.wait(), 10)
    closing = asyncio.create_task(bus.close())
    for _ in range(20):
        await asyncio.sleep(0)
    assert not closing.done()
    release.set()
    await asyncio.wait_for(closing, 15)
    assert finished == [sent.id]
    assert not await bus.ping()
    with pytest.raises(BusError):
        await bus.publish(event())


async def test_ping_answers_while_open(make_bus: BusFactory) -> None:
    bus = await make_bus()
    assert await bus.ping()


async def test_unsubscribe_stops_delivery(make_bus: BusFactory) -> None:
    bus = await make_bus()
    gone: list[str] = []
    kept: list[str] = []

    async def dropped(e: CloudEvent) -> None:
        gone.append(e.id)

    async def staying(e: CloudEvent) -> None:
        kept.append(e.id)

    sub = await bus.subscribe("sh.keptn.>", dropped)
    await bus.subscribe("sh.keptn.>", staying)
    await bus.publish(event())
    await eventually(lambda: len(gone) == 1 and len(kept) == 1)
    await sub.unsubscribe()
    await bus.publish(event())
    await eventually(lambda: len(kept) == 2)
    assert len(gone) == 1
