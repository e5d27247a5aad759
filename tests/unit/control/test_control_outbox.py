"""The control plane when the bus fails after a commit: nothing committed is lost, and an
engine step whose events the bus refused still starts its next task."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from selfheal.bootstrap import build
from selfheal.bus import MemoryBus
from selfheal.core import ManualClock
from selfheal.settings import Settings
from selfheal.web import create_app
from tests.support.buses import SwitchableBus
from tests.unit.control.conftest import (
    ADMIN,
    AdminTokens,
    AlwaysAlice,
    Harness,
    RecordingProvider,
    seed_problem,
)


@pytest.fixture
async def flaky(settings: Settings) -> AsyncIterator[tuple[Harness, SwitchableBus]]:
    clock = ManualClock()
    inner = MemoryBus()
    bus = SwitchableBus(inner)
    container = await build(settings, bus=bus, clock=clock)
    container.runtime.auth = AdminTokens()
    container.runtime.ui_auth = AlwaysAlice()
    provider = RecordingProvider()
    await container.start()
    assert container.relay is not None
    await container.relay.stop()  # the test drives it
    container.control.service.register_action_provider(provider)
    app = create_app(container, manage_lifecycle=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test", headers={"x-token": ADMIN}
    ) as http:
        try:
            yield Harness(container, clock, provider, http, inner), bus
        finally:
            await container.stop()


async def test_problem_committed_while_the_bus_is_down_is_remediated_once_it_is_back(
    flaky: tuple[Harness, SwitchableBus],
) -> None:
    harness, bus = flaky
    await harness.setup_website()
    bus.down = True
    r = await harness.http.post("/api/v1/event", json=seed_problem())
    assert r.status_code == 200  # stored: the intake answers although the bus is away
    context = r.json()["keptnContext"]
    await harness.settle()
    assert harness.provider.requests == []
    relay = harness.container.relay
    assert relay is not None
    bus.down = False
    await harness.clock.advance(5)
    assert await relay.run_once() >= 1
    await harness.settle()
    assert len(harness.provider.requests) == 1
    types = [e["type"] for e in await harness.events(context)]
    assert "sh.keptn.event.action.finished" in types
    await harness.clock.advance(120)
    await relay.run_once()
    await harness.settle()
    assert len(harness.provider.requests) == 1  # relayed again or not: never run twice


async def test_step_whose_events_the_bus_refused_still_starts_the_next_task(
    flaky: tuple[Harness, SwitchableBus],
) -> None:
    harness, bus = flaky
    await harness.setup_website()
    bus.refuse_types = {"sh.keptn.event.get-action.triggered"}
    context = await harness.send(seed_problem())
    await harness.settle()
    # the step that emitted get-action.triggered committed; its built-in handler still ran
    assert len(harness.provider.requests) == 1
    seq = await harness.service.get_sequence(context)
    assert seq.state == "started" and seq.phase == "delayed"  # its evaluation timer is armed
    assert bus.refused >= 1
