"""The whole system as `selfheal up` builds it (`bootstrap.build` + `create_app`), with the
monitor reading canned scrapes and recording webhooks, on a manual clock.

Tokens and the UI login are the flags context's real ones: the shared settings seed the
admin token `*:*.admin-secret`; here they also set the UI admin password.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from selfheal.bootstrap import Container, build
from selfheal.bus import MemoryBus
from selfheal.core import CloudEvent, ManualClock
from selfheal.monitor import MonitorSettings, WebhookSettings
from selfheal.monitor.notifications import RecordingSender
from selfheal.monitor.sources import MemoryFetcher
from selfheal.settings import Settings
from selfheal.web import create_app
from tests.support.traffic import Traffic

URL = "http://app.test/metrics"
HOOK = "http://hook.test/keptn"
ADMIN = {"Authorization": "Bearer *:*.admin-secret"}
UI_PASSWORD = "monitor-ui-password"
MONITOR_YAML = f"""
services:
  - name: front-end
    tags: {{keptn_project: website, keptn_stage: production, keptn_service: front-end}}
    source:
      scrape: {{url: "{URL}", interval: 1, latency: http_request_duration_seconds}}
"""


def monitor_settings(**changes: Any) -> MonitorSettings:
    base: dict[str, Any] = {
        "run_loops": False,
        "hold_seconds": 10,
        "reopen_seconds": 60,
        "webhooks": [WebhookSettings(url=HOOK)],
        "webhook_backoff": 0.5,
    }
    return MonitorSettings(**{**base, **changes})


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shared settings (SQLite in tmp, seeded tokens) plus a known UI password and a
    monitor that scrapes only when a test ticks it."""
    return settings.model_copy(
        update={"admin_password": SecretStr(UI_PASSWORD), "monitor": monitor_settings()}
    )


@dataclass
class System:
    container: Container
    clock: ManualClock
    traffic: Traffic
    sender: RecordingSender
    http: httpx.AsyncClient
    events: list[CloudEvent]

    async def run(self, seconds: int, total: int, failed: int, latency: float = 0.03) -> None:
        """`seconds` of traffic, one scrape-and-detect per second."""
        for _ in range(seconds):
            await self.clock.advance(1)
            self.traffic.second(total, failed, latency)
            await self.container.monitor.service.tick()

    async def delivered(self) -> None:
        """Let queued webhook deliveries finish: their backoff sleeps on the manual clock,
        their delivery-log writes go through SQLite's thread (so real time must pass too)."""
        notifier = self.container.monitor.notifier
        for _ in range(500):
            if not notifier.pending:
                return
            await self.clock.advance(0.5)
            await asyncio.sleep(0.01)
        raise AssertionError("webhook deliveries did not finish")


async def start_system(settings: Settings, clock: ManualClock) -> AsyncIterator[System]:
    container = await build(settings, bus=MemoryBus(), clock=clock)
    fetcher, sender = MemoryFetcher(), RecordingSender(codes=[503])
    container.monitor.use(fetcher=fetcher, sender=sender)
    await container.start()
    events: list[CloudEvent] = []

    async def collect(e: CloudEvent) -> None:
        events.append(e)

    await container.runtime.events.subscribe("sh.keptn.events.problem", collect)
    app = create_app(container, manage_lifecycle=False)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://selfheal.test"
        ) as http:
            yield System(container, clock, Traffic(fetcher), sender, http, events)
    finally:
        await container.stop()


@pytest.fixture
async def system(settings: Settings, clock: ManualClock) -> AsyncIterator[System]:
    async for s in start_system(settings, clock):
        yield s


@pytest.fixture
def make_system(
    settings: Settings, clock: ManualClock
) -> Callable[..., Awaitable[tuple[System, Callable[[], Awaitable[None]]]]]:
    """A system with other monitor settings; returns it and its stop function."""

    async def make(**changes: Any) -> tuple[System, Callable[[], Awaitable[None]]]:
        custom = settings.model_copy(update={"monitor": monitor_settings(**changes)})
        gen = start_system(custom, clock)
        s = await gen.__anext__()

        async def stop() -> None:
            await gen.aclose()

        return s, stop

    return make


async def login(http: httpx.AsyncClient, next_url: str = "/problems") -> httpx.Response:
    """Log in through the flags context's real form; the session cookie stays in `http`."""
    form = await http.get("/login", params={"next": next_url})
    assert form.status_code == 200 and 'name="password"' in form.text
    r = await http.post(
        "/login", data={"username": "admin", "password": UI_PASSWORD, "next": next_url}
    )
    assert r.status_code == 303 and r.headers["location"] == next_url, r.headers
    return r
