"""A platform that both mitigates and restores, in this process on a manual clock: the
monitor scrapes a `MemoryFetcher`, the remediation switches the kill switch on in the flags
service, the origin probe is a `FakeOrigin` the test makes healthy or not; SQLite, the memory
bus, and the app over `httpx.ASGITransport` (`app` can also be served on a socket for a
browser or the CLI)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from selfheal.bootstrap import Container, build
from selfheal.bus import MemoryBus
from selfheal.control.config import ControlSettings
from selfheal.core import ManualClock
from selfheal.monitor import MonitorSettings
from selfheal.monitor.sources import MemoryFetcher
from selfheal.settings import Settings
from selfheal.web import create_app
from tests.support.paths import SEED
from tests.support.restores import FakeOrigin
from tests.support.traffic import Traffic

ADMIN = {"Authorization": "Bearer *:*.admin-secret"}
URL = "http://app.test/metrics"
FLAG = "EnableStaticContent"
REMEDIATION = """\
apiVersion: spec.keptn.sh/0.1.4
kind: Remediation
metadata: {name: website}
spec:
  remediations:
    - problemType: "Failure rate increase"
      actionsOnOpen:
        - name: Toggle feature flag
          action: toggle-feature
          value: {EnableStaticContent: "on"}
      restore:
        probe: {consecutive: 2, intervalSeconds: 1}
        steps: [90, 50, 0]
        holdSeconds: 5
        maxFailureRate: 0.1
"""
SERVICE = {
    "name": "front-end",
    "tags": {"keptn_project": "website", "keptn_stage": "production", "keptn_service": "front-end"},
    "source": {"scrape": {"url": URL, "latency": "http_request_duration_seconds"}},
    "detectors": [{"kind": "failure_rate", "mode": "fixed", "threshold": 10, "for_seconds": 3}],
}


@dataclass
class Loop:
    container: Container
    clock: ManualClock
    traffic: Traffic
    http: httpx.AsyncClient
    origin: FakeOrigin
    app: Any = None
    """The ASGI app `http` talks to."""

    async def second(self, total: int, failed: int) -> None:
        """One second: traffic, a monitor tick, a restore poll, then let the bus drain."""
        await self.clock.advance(1)
        self.traffic.second(total, failed)
        await self.container.monitor.service.tick()
        await self.container.control.restores.poll()
        await self.settle()

    async def settle(self) -> None:
        bus = self.container.runtime.bus.inner
        engine = self.container.control.engine
        assert isinstance(bus, MemoryBus)
        for _ in range(200):
            await bus.drain(timeout=5.0)
            await asyncio.sleep(0.001)
            if not engine.busy and bus.pending() == 0:
                return
        raise AssertionError("did not settle")

    async def flag(self) -> dict[str, object]:
        r = await self.http.get(f"/api/admin/projects/default/features/{FLAG}", headers=ADMIN)
        assert r.status_code == 200, r.text
        envs = {e["name"]: e for e in r.json()["environments"]}
        return dict(envs["production"])

    async def restore(self) -> dict[str, object]:
        r = await self.http.get("/api/v1/restores", headers=ADMIN)
        assert r.status_code == 200, r.text
        (only,) = r.json()["restores"]
        return dict(only)

    async def until(self, state: str, *, failed: int = 0, limit: int = 120) -> dict[str, object]:
        for _ in range(limit):
            await self.second(100, failed)
            found = await self.http.get("/api/v1/restores", headers=ADMIN)
            restores = found.json()["restores"]
            if restores and restores[0]["state"] == state:
                return dict(restores[0])
        raise AssertionError(f"restore never reached {state}")


PASSWORD = "restore-ui-password"
"""The console's admin password on this platform (user admin)."""


@asynccontextmanager
async def restore_loop(settings: Settings, remediation: str = REMEDIATION) -> AsyncIterator[Loop]:
    """The platform set up (project, `remediation` — a remediation.yaml with `restore:` —,
    flag, monitored service) after ten healthy seconds."""
    clock = ManualClock()
    custom = settings.model_copy(
        update={
            "admin_password": SecretStr(PASSWORD),
            "monitor": MonitorSettings(run_loops=False, hold_seconds=5, reopen_seconds=60),
            "control": ControlSettings(
                poll_seconds=3600, heartbeat_seconds=3600, restore_hold_seconds=60
            ),
        }
    )
    container = await build(custom, bus=MemoryBus(), clock=clock)
    fetcher = MemoryFetcher()
    container.monitor.use(fetcher=fetcher)
    await container.start()
    origin = FakeOrigin()
    container.control.restores.use(origin=origin)
    app = create_app(container, manage_lifecycle=False)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://selfheal.test"
        ) as http:
            loop = Loop(container, clock, Traffic(fetcher), http, origin, app)
            await setup(loop, remediation)
            yield loop
    finally:
        await container.stop()


async def setup(loop: Loop, remediation: str = REMEDIATION) -> None:
    http = loop.http
    r = await http.post(
        "/api/v1/projects",
        json={"name": "website", "shipyard": (SEED / "formats/shipyard.v0.2.yaml").read_text()},
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text
    r = await http.post(
        "/api/v1/projects/website/services", json={"serviceName": "front-end"}, headers=ADMIN
    )
    assert r.status_code == 201, r.text
    r = await http.put(
        "/api/v1/projects/website/resources",
        json={
            "uri": "remediation.yaml",
            "content": remediation,
            "stage": "production",
            "service": "front-end",
        },
        headers=ADMIN,
    )
    assert r.status_code == 200, r.text
    r = await http.post("/api/admin/projects/default/features", json={"name": FLAG}, headers=ADMIN)
    assert r.status_code in (200, 201), r.text
    r = await http.post("/api/v1/monitor/services", json=SERVICE, headers=ADMIN)
    assert r.status_code == 200, r.text
    for _ in range(10):
        await loop.second(100, 0)


async def mitigate(loop: Loop) -> str:
    """The fault: errors until the kill switch is on, then the fallback serves them."""
    for _ in range(60):
        on = bool((await loop.flag())["enabled"])
        await loop.second(100, 0 if on else 50)
        problems, _ = await loop.container.monitor.service.list_problems()
        if problems and problems[0].mitigated:
            return problems[0].id
    raise AssertionError("the problem was never mitigated")
