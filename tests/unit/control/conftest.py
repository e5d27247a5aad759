"""The control plane on SQLite in a temp dir, the memory bus and a manual clock."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from selfheal.bootstrap import Container, build
from selfheal.bus import MemoryBus
from selfheal.control import ActionRequest, ActionResult
from selfheal.core import ManualClock
from selfheal.runtime import Principal
from selfheal.settings import Settings
from selfheal.web import create_app
from tests.support.paths import SEED

ADMIN = "*:*.admin-secret"


class AdminTokens:
    async def authenticate(self, secret: str) -> Principal | None:
        secret = secret.removeprefix("Bearer ").strip()
        return Principal(name="admin", kind="admin") if secret == ADMIN else None


class AlwaysAlice:
    async def user(self, request: Any, role: str = "viewer") -> str | None:
        return "alice"


@dataclass
class RecordingProvider:
    """Records every request; answers from `results` in order, then passes."""

    names: tuple[str, ...] = ("toggle-feature", "escalate", "webhook", "noop")
    requests: list[ActionRequest] = field(default_factory=list)
    results: list[ActionResult] = field(default_factory=list)

    async def execute(self, request: ActionRequest) -> ActionResult:
        self.requests.append(request)
        if self.results:
            return self.results.pop(0)
        return ActionResult(message=f"did {request.action.action}")


@dataclass
class Harness:
    container: Container
    clock: ManualClock
    provider: RecordingProvider
    http: httpx.AsyncClient
    bus: MemoryBus

    @property
    def service(self) -> Any:
        return self.container.control.service

    async def settle(self) -> None:
        """Until the bus is empty and no engine task runs (bounded)."""
        engine = self.container.control.engine
        for _ in range(200):
            await self.bus.drain(timeout=5.0)
            if not engine.busy and self.bus.pending() == 0:
                await asyncio.sleep(0)
                if not engine.busy and self.bus.pending() == 0:
                    return
            await asyncio.sleep(0.001)
        raise AssertionError("the control plane did not settle")

    async def advance(self, seconds: float) -> None:
        await self.settle()
        await self.clock.advance(seconds)
        await self.settle()

    async def setup_website(
        self, shipyard: str = "shipyard.yaml", remediation: str = "remediations.yaml"
    ) -> None:
        text = (SEED / shipyard).read_text()
        r = await self.http.post(
            "/api/controlPlane/v1/project",
            json={"projectName": "website", "shipyard": b64(text)},
        )
        assert r.status_code == 201, r.text
        r = await self.http.post(
            "/api/controlPlane/v1/project/website/service", json={"serviceName": "front-end"}
        )
        assert r.status_code == 201, r.text
        r = await self.http.post(
            "/api/configuration-service/v1/project/website/stage/production/service/front-end/resource",
            json={
                "resources": [
                    {
                        "resourceURI": "remediation.yaml",
                        "resourceContent": b64((SEED / remediation).read_text()),
                    }
                ]
            },
        )
        assert r.status_code == 201, r.text

    async def send(self, event: dict[str, Any]) -> str:
        r = await self.http.post("/api/v1/event", json=event)
        assert r.status_code == 200, r.text
        await self.settle()
        return str(r.json()["keptnContext"])

    async def events(self, context: str) -> list[dict[str, Any]]:
        r = await self.http.get(
            "/api/v1/events", params={"keptnContext": context, "pageSize": 1000}
        )
        return list(reversed(r.json()["events"]))


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def seed_problem() -> dict[str, Any]:
    return dict(json.loads((SEED / "problemopen.json").read_text()))


@pytest.fixture
def control_settings(settings: Settings) -> Settings:
    return settings


@pytest.fixture
async def harness(control_settings: Settings) -> AsyncIterator[Harness]:
    clock = ManualClock()
    bus = MemoryBus()
    container = await build(control_settings, bus=bus, clock=clock)
    container.runtime.auth = AdminTokens()
    container.runtime.ui_auth = AlwaysAlice()
    provider = RecordingProvider()
    await container.start()
    container.control.service.register_action_provider(provider)  # over the real ones
    app = create_app(container, manage_lifecycle=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test", headers={"x-token": ADMIN}
    ) as http:
        try:
            yield Harness(container, clock, provider, http, bus)
        finally:
            await container.stop()
