"""Flags converge through the database when the bus carries nothing (each replica has a bus
of its own here, so only the revision poll can bring a change across)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from selfheal.bootstrap import Container, build
from selfheal.bus import MemoryBus
from selfheal.core import ManualClock
from selfheal.settings import Settings
from tests.support.buses import StalledBus

CLIENT = "default:production.client-secret"


async def until(check: object, rounds: int = 500) -> None:
    for _ in range(rounds):
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not reached")


@pytest.fixture
async def replicas(settings: Settings) -> AsyncIterator[tuple[Container, Container, ManualClock]]:
    clock = ManualClock()
    a = await build(settings, bus=MemoryBus(), clock=clock)
    await a.start()
    b = await build(settings, bus=MemoryBus(), clock=clock)
    await b.start()
    try:
        yield a, b, clock
    finally:
        await b.stop()
        await a.stop()


async def test_a_flip_reaches_the_other_replica_and_its_stream_by_the_poll(
    replicas: tuple[Container, Container, ManualClock],
) -> None:
    a, b, clock = replicas
    await a.flags.service.create_flag("kill", actor="test")
    principal = await b.flags.auth.authenticate(CLIENT)
    assert principal is not None
    scope = b.flags.guard.scope(principal)
    stream = b.flags.hub.stream(b.flags.service.snapshot, scope)
    await anext(stream)  # hydration (without the flag: b has not seen it yet)
    assert "kill" not in b.flags.service.snapshot.flags

    await clock.advance(1.0)  # one poll interval
    await until(lambda: "kill" in b.flags.service.snapshot.flags)
    await a.flags.service.set_enabled("kill", "production", True, actor="test")
    assert b.flags.revisions.lag == 0  # b has not looked yet
    await clock.advance(1.0)
    await until(lambda: b.flags.service.snapshot.flags["kill"].env("production").enabled)
    frames = []
    for _ in range(3):
        frame = (await asyncio.wait_for(anext(stream), 10)).decode()
        frames.append(frame)
        if '"enabled":true' in frame:
            break
    assert any('"enabled":true' in f and "unleash-updated" in f for f in frames)
    assert b.flags.revisions.status()["behind"] == 0
    await stream.aclose()


async def test_a_revoked_token_stops_working_on_the_other_replica(
    replicas: tuple[Container, Container, ManualClock],
) -> None:
    a, b, clock = replicas
    issued = await a.flags.tokens.create({"tokenName": "x", "type": "client"})
    assert await b.flags.auth.authenticate(issued.secret) is not None
    await a.flags.tokens.delete(issued.secret)
    assert b.flags.auth.cached(issued.secret) is not None  # b's cache, before its poll
    await clock.advance(1.0)
    await until(lambda: b.flags.auth.cached(issued.secret) is None)
    assert await b.flags.auth.authenticate(issued.secret) is None
    assert await b.flags.auth.authenticate(CLIENT) is not None


async def test_an_unknown_token_created_elsewhere_is_accepted_after_the_poll(
    replicas: tuple[Container, Container, ManualClock],
) -> None:
    a, b, clock = replicas
    secret = "default:production.made-on-a"
    assert await b.flags.auth.authenticate(secret) is None  # now remembered as unknown
    await a.flags.tokens.issue("made-on-a", "client", secret)
    assert await b.flags.auth.authenticate(secret) is None
    await clock.advance(1.0)
    await until(lambda: b.flags.auth.cached(secret) is not None)


async def test_a_flip_answers_while_the_bus_hangs(settings: Settings) -> None:
    bus = StalledBus()
    c = await build(settings, bus=bus)
    await c.start()
    try:
        await c.flags.service.create_flag("kill", actor="test")
        assert await c.flags.service.set_enabled("kill", "production", True, actor="test")
        assert c.flags.service.snapshot.flags["kill"].env("production").enabled
        assert bus.hanging >= 1  # its change event is still on its way; the flip did not wait
        assert c.flags.service.publishing >= 1
        body = json.loads(
            c.flags.service.snapshot.body(
                c.flags.guard.scope(
                    await c.flags.auth.authenticate(CLIENT)  # type: ignore[arg-type]
                )
            ).content
        )
        assert body["features"][0]["enabled"] is True
        bus.release()
        await until(lambda: c.flags.service.publishing == 0)
    finally:
        bus.release()
        await c.stop()
