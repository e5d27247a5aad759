"""Both halves of the loop through the whole system (HTTP API, memory bus, manual clock):
the monitor opens a problem, the remediation switches the kill switch on in the flags
service, the problem is mitigated, the origin (a fake probe) is verified, the kill switch's
gradual rollout goes 90 → 50 → 0 %, and the problem resolves — and a person's flip holds it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
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


@pytest.fixture
async def loop(settings: Settings) -> AsyncIterator[Loop]:
    clock = ManualClock()
    custom = settings.model_copy(
        update={
            "admin_password": SecretStr("restore-ui-password"),
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
            loop = Loop(container, clock, Traffic(fetcher), http, origin)
            await setup(loop)
            yield loop
    finally:
        await container.stop()


async def setup(loop: Loop) -> None:
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
            "content": REMEDIATION,
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


async def test_restore_loop_brings_traffic_back_and_resolves(loop: Loop) -> None:
    pid = await mitigate(loop)
    got = (await loop.http.get(f"/api/v2/problems/{pid}", headers=ADMIN)).json()
    assert got["status"] == "OPEN" and got["mitigated"] is True
    restore = await loop.until("stepping")
    env = await loop.flag()
    assert env["enabled"] is True
    rollout = [s for s in env["strategies"] if s["name"] == "flexibleRollout"]  # type: ignore[attr-defined]
    assert rollout and rollout[0]["parameters"]["rollout"] == "90"
    assert rollout[0]["parameters"]["stickiness"] == "sessionId"
    restore = await loop.until("restored")
    assert restore["outcome"] == "restored"
    r = await loop.http.get(
        "/api/v1/events", params={"keptnContext": restore["id"], "pageSize": 500}, headers=ADMIN
    )
    types = [e["type"] for e in r.json()["events"]]
    for wanted in (
        "sh.selfheal.problem.mitigated",
        "sh.keptn.event.restore.triggered",
        "sh.selfheal.origin.verified",
        "sh.keptn.event.restore.started",
        "sh.selfheal.restore.step",
        "sh.keptn.event.restore.finished",
    ):
        assert wanted in types, wanted
    assert (await loop.flag())["enabled"] is False
    problem = await loop.container.monitor.service.get_problem(pid)
    assert problem.status == "RESOLVED"
    notes = [c.message for c in await loop.container.monitor.service.comments(pid)]
    assert any(n.startswith("restored after") for n in notes)
    seq = None
    for _ in range(20):  # the problem's RESOLVED lets the remediation's evaluation run now
        await loop.second(100, 0)
        seq = (await loop.http.get(f"/api/v1/sequences/{restore['id']}", headers=ADMIN)).json()
        if seq["state"] == "finished":
            break
    assert seq is not None and seq["outcome"] == "restored", seq
    # the flag's audit names the restore as the actor of its changes
    r = await loop.http.get(f"/api/admin/events/{FLAG}", headers=ADMIN)
    assert r.status_code == 200, r.text
    actors = [e["createdBy"] for e in r.json()["events"]]
    assert actors.count(f"restore:{restore['id']}") == 3  # 90, 50, off


async def test_restore_loop_person_flip_is_recorded_and_held(loop: Loop) -> None:
    pid = await mitigate(loop)
    await loop.until("verifying")
    loop.origin.healthy = False  # the origin is still broken: no restore starts
    r = await loop.http.post(
        f"/api/admin/projects/default/features/{FLAG}/environments/production/off",
        headers=ADMIN,
    )
    assert r.status_code == 200, r.text
    await loop.settle()
    restore = await loop.restore()
    assert restore["state"] == "held"
    notes = [c.message for c in await loop.container.monitor.service.comments(pid)]
    assert any(f"switched {FLAG} off at " in n for n in notes), notes
    for _ in range(50):  # the fault shows again; nobody switches the flag back in the hold
        await loop.second(100, 50)
        assert (await loop.flag())["enabled"] is False
    restore = await loop.until("armed", failed=50)  # hold over: automation takes over again
    assert (await loop.flag())["enabled"] is True


async def test_restore_loop_banner_and_its_buttons(loop: Loop) -> None:
    pid = await mitigate(loop)
    await loop.until("verifying")
    loop.origin.healthy = False
    http = loop.http
    r = await http.post(
        "/login",
        data={"username": "admin", "password": "restore-ui-password", "next": "/problems"},
    )
    assert r.status_code == 303, r.text
    page = await http.get(f"/problems/{pid}")
    assert page.status_code == 200
    assert 'id="restore-banner"' in page.text and "Mitigated" in page.text
    assert 'value="restore-now"' in page.text and 'value="keep-fallback"' in page.text
    restore = await loop.restore()
    r = await http.post(
        f"/ui/restores/{restore['id']}/decision", data={"decision": "keep-fallback"}
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/problems/")
    page = await http.get(r.headers["location"])
    assert 'value="resume"' in page.text and "restore kept" in page.text
    r = await http.post(f"/ui/restores/{restore['id']}/decision", data={"decision": "resume"})
    assert r.status_code == 303
    assert (await loop.restore())["state"] == "verifying"
    notes = [c.message for c in await loop.container.monitor.service.comments(pid)]
    assert any("chose to keep the fallback" in n for n in notes)
