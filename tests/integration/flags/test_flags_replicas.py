"""Two replicas on one database and one bus: a flip on one reaches the other's SSE clients."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from selfheal.bootstrap import Container, build
from selfheal.bus import MemoryBus
from selfheal.settings import Settings


@pytest.fixture
async def replicas(settings: Settings) -> AsyncIterator[tuple[Container, Container]]:
    bus = MemoryBus()
    a = await build(settings, bus=bus)
    await a.start()
    b = await build(settings, bus=bus)
    await b.start()
    try:
        yield a, b
    finally:
        await b.flags.stop()
        await a.stop()


async def until(check: object, rounds: int = 500) -> None:
    for _ in range(rounds):
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not reached")


def parse(frame: bytes) -> tuple[str, dict[str, object]]:
    lines = dict(line.split(": ", 1) for line in frame.decode().strip().splitlines())
    return lines["event"], json.loads(lines["data"])


async def test_flip_on_one_replica_streams_from_the_other(
    replicas: tuple[Container, Container],
) -> None:
    a, b = replicas
    await a.flags.service.create_flag("kill", actor="test")
    await until(lambda: "kill" in b.flags.service.snapshot.flags)
    principal = await b.flags.auth.authenticate("default:production.client-secret")
    assert principal is not None
    scope = b.flags.guard.scope(principal)
    stream = b.flags.hub.stream(b.flags.service.snapshot, scope)
    event, data = parse(await anext(stream))
    assert event == "unleash-connected"
    hydration = data["events"][0]  # type: ignore[index]
    assert hydration["type"] == "hydration"
    assert [f["name"] for f in hydration["features"]] == ["kill"]

    assert await a.flags.service.set_enabled("kill", "production", True, actor="test")
    event, data = parse(await asyncio.wait_for(anext(stream), 10))
    assert event == "unleash-updated"
    (update,) = data["events"]  # type: ignore[misc]
    assert update["type"] == "feature-updated"
    assert update["feature"]["name"] == "kill" and update["feature"]["enabled"] is True
    body = b.flags.service.snapshot.body(scope)
    assert json.loads(body.content)["features"][0]["enabled"] is True
    await stream.aclose()


async def test_token_created_on_one_replica_works_on_the_other(
    replicas: tuple[Container, Container],
) -> None:
    a, b = replicas
    assert await b.flags.auth.authenticate("default:production.nope") is None
    issued = await a.flags.tokens.create({"tokenName": "x", "type": "client"})
    await until(lambda: b.flags.auth._unknown == set())
    assert (await b.flags.auth.authenticate(issued.secret)) is not None
    await a.flags.tokens.delete(issued.secret)
    for _ in range(500):
        if await b.flags.auth.authenticate(issued.secret) is None:
            break
        await asyncio.sleep(0.01)
    assert await b.flags.auth.authenticate(issued.secret) is None
