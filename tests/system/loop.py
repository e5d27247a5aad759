"""The whole system in one process, driven second by second on a manual clock.

SQLite in a temp dir, the memory bus, `create_app` over `httpx.ASGITransport`, and a real
Prometheus text endpoint (uvicorn on 127.0.0.1) that the monitor scrapes over a socket.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from selfheal.bootstrap import Container, build
from selfheal.bus import MemoryBus
from selfheal.core import ManualClock
from selfheal.integrations import IntegrationsSettings
from selfheal.integrations.standins import serve
from selfheal.monitor import MonitorSettings
from selfheal.settings import Settings
from selfheal.web import create_app
from tests.support.paths import SEED
from tests.system.website import FLAG, Website

ADMIN = "*:*.admin-secret"
CLIENT = "default:production.client-secret"
TAGS = {"keptn_project": "website", "keptn_stage": "production", "keptn_service": "front-end"}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@dataclass
class Loop:
    container: Container
    clock: ManualClock
    bus: MemoryBus
    http: httpx.AsyncClient
    website: Website
    metrics_url: str
    retries_on_clock: bool = False
    app: Any = None
    """The ASGI app `http` talks to (serve it on a socket for a browser)."""

    async def settle(self) -> None:
        """Until the bus is empty and no control-plane task runs (bounded).

        With `retries_on_clock`, a bus that stays busy is taken to be an integration backing
        off on the clock between attempts: simulated time moves on a second at a time.
        """
        engine = self.container.control.engine
        for _ in range(500):
            if not await self.bus.drain(timeout=0.5 if self.retries_on_clock else 10.0):
                assert self.retries_on_clock, "the bus did not drain"
                await self.clock.advance(1)
                continue
            if not engine.busy and self.bus.pending() == 0:
                await asyncio.sleep(0)
                if not engine.busy and self.bus.pending() == 0:
                    return
            await asyncio.sleep(0.002)
        raise AssertionError("the system did not settle")

    async def flag_on(self) -> bool:
        """What an SDK in production sees, through the client API."""
        r = await self.http.get("/api/client/features", headers={"Authorization": CLIENT})
        assert r.status_code == 200, r.text
        return any(f["name"] == FLAG and f["enabled"] for f in r.json()["features"])

    async def second(self) -> None:
        """One second: traffic (reading the flag like the app does), a scrape, the fallout."""
        await self.clock.advance(1)
        self.website.serve_second(await self.flag_on())
        await self.container.monitor.service.tick()
        await self.settle()

    async def run_until(self, what: str, done: Any, limit: int = 120) -> int:
        """Seconds of traffic until `await done()` is true (at most `limit`)."""
        for n in range(1, limit + 1):
            await self.second()
            if await done():
                return n
        raise AssertionError(f"{what} did not happen within {limit} simulated seconds")

    # --- the seed's setup, through the public APIs ---------------------------------------
    async def create_flag(self) -> None:
        r = await self.http.post(
            "/api/admin/projects/default/features",
            json={"name": FLAG, "type": "kill-switch", "description": "serve the CDN copy"},
            headers=self.admin,
        )
        assert r.status_code == 201, r.text
        assert not await self.flag_on()

    async def create_website_project(self, remediation: str | None = None) -> None:
        """The seed's project; `remediation`: another remediation.yaml than the seed's."""
        r = await self.http.post(
            "/api/controlPlane/v1/project",
            json={
                "projectName": "website",
                "shipyard": b64((SEED / "shipyard.yaml").read_text()),
            },
            headers=self.admin,
        )
        assert r.status_code == 201, r.text
        r = await self.http.post(
            "/api/controlPlane/v1/project/website/service",
            json={"serviceName": "front-end"},
            headers=self.admin,
        )
        assert r.status_code == 201, r.text
        r = await self.http.post(
            "/api/configuration-service/v1/project/website/stage/production/service/front-end/resource",
            json={
                "resources": [
                    {
                        "resourceURI": "remediation.yaml",
                        "resourceContent": b64(
                            remediation or (SEED / "remediations.yaml").read_text()
                        ),
                    }
                ]
            },
            headers=self.admin,
        )
        assert r.status_code == 201, r.text

    async def monitor_website(self, probe: dict[str, Any] | None = None) -> None:
        """The website's SLIs; `probe`: its monitor.yaml `probe:` (the restore's origin check)."""
        service: dict[str, Any] = {
            "name": "front-end",
            "tags": TAGS,
            "source": {"scrape": {"url": self.metrics_url, "interval": 1}},
        }
        if probe is not None:
            service["probe"] = probe
        r = await self.http.post(
            "/api/v1/monitor/services", json={"services": [service]}, headers=self.admin
        )
        assert r.status_code == 200, r.text

    async def setup(
        self, remediation: str | None = None, probe: dict[str, Any] | None = None
    ) -> None:
        await self.create_flag()
        await self.create_website_project(remediation)
        await self.monitor_website(probe)

    # --- reading back ------------------------------------------------------------------------
    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": ADMIN}

    async def get(self, path: str, **params: Any) -> Any:
        r = await self.http.get(path, params=params, headers=self.admin)
        assert r.status_code == 200, (path, r.text)
        return r.json()

    async def problems(self) -> list[dict[str, Any]]:
        body = await self.get("/api/v2/problems")
        return list(body["problems"])

    async def sequences(self) -> list[dict[str, Any]]:
        body = await self.get("/api/controlPlane/v1/sequence/website", pageSize=100)
        return list(body["states"])

    async def events(self, context: str) -> list[dict[str, Any]]:
        """The context's Keptn events, oldest first."""
        body = await self.get("/api/v1/events", keptnContext=context, pageSize=1000)
        return list(reversed(body["events"]))

    async def comments(self, problem_id: str) -> list[str]:
        body = await self.get(f"/api/v2/problems/{problem_id}/comments")
        return [str(c["content"]) for c in body["comments"]]


def loop_settings(tmp_path: Path, integrations: IntegrationsSettings | None = None) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/selfheal.db",
        init_admin_api_tokens=[ADMIN],
        init_backend_api_tokens=[CLIENT],
        admin_password="test-password",
        monitor=MonitorSettings(run_loops=False, hold_seconds=5, reopen_seconds=30),
        integrations=integrations or IntegrationsSettings(),
    )


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Loop]:
    """The system started, its app on ASGI, and the website's metrics on a real socket."""
    clock = ManualClock()
    bus = MemoryBus()
    website = Website()
    async with serve(website.app) as site:
        container = await build(settings, bus=bus, clock=clock)
        await container.start()
        try:
            app = create_app(container, manage_lifecycle=False)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://selfheal") as http:
                yield Loop(container, clock, bus, http, website, f"{site}/metrics", app=app)
        finally:
            await container.stop()
