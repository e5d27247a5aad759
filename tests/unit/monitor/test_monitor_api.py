from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from selfheal.bootstrap import Container, build
from selfheal.bus import MemoryBus
from selfheal.core import CloudEvent, ManualClock
from selfheal.monitor import MonitorSettings, WebhookSettings
from selfheal.monitor.notifications import RecordingSender
from selfheal.monitor.sources import MemoryFetcher
from selfheal.runtime import Principal
from selfheal.settings import Settings
from selfheal.web import errors

URL = "http://app.test/metrics"
ADMIN = {"Authorization": "Bearer admin-secret"}
MONITOR_YAML = f"""
services:
  - name: front-end
    tags: {{keptn_project: website, keptn_stage: production, keptn_service: front-end}}
    source:
      scrape: {{url: "{URL}", interval: 1}}
"""


def monitor_app(c: Container) -> FastAPI:
    """Only the monitor's routes (other contexts are tested on their own)."""
    app = FastAPI()
    errors.install(app)
    for router in c.monitor.routers():
        app.include_router(router)
    return app


class Tokens:
    async def authenticate(self, secret: str) -> Principal | None:
        return (
            Principal("admin", "admin")
            if secret.removeprefix("Bearer ") == "admin-secret"
            else None
        )


@dataclass
class UiUser:
    name: str | None = "alice"

    async def user(self, request: object) -> str | None:
        return self.name


@dataclass
class Traffic:
    fetcher: MemoryFetcher
    requests: int = 0
    errors: int = 0

    def second(self, total: int, failed: int) -> None:
        self.requests += total
        self.errors += failed
        ok = self.requests - self.errors
        self.fetcher.bodies[URL] = (
            200,
            f'http_requests_total{{code="200"}} {ok}\nhttp_requests_total{{code="500"}} {self.errors}\n',
        )


@pytest.fixture
async def system(
    tmp_path: Path,
) -> AsyncIterator[tuple[Container, ManualClock, Traffic, RecordingSender]]:
    clock = ManualClock()
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/m.db",
        monitor=MonitorSettings(
            run_loops=False,
            hold_seconds=10,
            reopen_seconds=60,
            webhooks=[WebhookSettings(url="http://hook.test/keptn")],
        ),
    )
    c = await build(settings, bus=MemoryBus(), clock=clock)
    fetcher = MemoryFetcher()
    sender = RecordingSender(codes=[503])
    c.monitor.service.fetcher = fetcher
    c.monitor.notifier._sender = sender
    c.monitor.notifier.backoff = 0.01
    await c.start()
    c.runtime.auth = Tokens()
    c.runtime.ui_auth = UiUser()
    try:
        yield c, clock, Traffic(fetcher), sender
    finally:
        await c.stop()


async def _run(
    c: Container, clock: ManualClock, traffic: Traffic, seconds: int, failed: int
) -> None:
    for _ in range(seconds):
        await clock.advance(1)
        traffic.second(20, failed)
        await c.monitor.service.tick()


async def test_monitor_problem_lifecycle_over_http(
    system: tuple[Container, ManualClock, Traffic, RecordingSender],
) -> None:
    c, clock, traffic, sender = system
    events: list[CloudEvent] = []

    async def collect(e: CloudEvent) -> None:
        events.append(e)

    await c.runtime.events.subscribe("sh.keptn.events.problem", collect)
    app = monitor_app(c)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        r = await http.post("/api/v1/monitor/services", content=MONITOR_YAML, headers=ADMIN)
        assert r.status_code == 200, r.text
        await _run(c, clock, traffic, 60, 0)
        assert (await http.get("/api/v2/problems", headers=ADMIN)).json()["totalCount"] == 0
        await _run(c, clock, traffic, 3, 10)  # 50% errors
        body = (await http.get("/api/v2/problems", headers=ADMIN)).json()
        assert body["totalCount"] == 1
        problem = body["problems"][0]
        assert problem["title"] == "Failure rate increase" and problem["status"] == "OPEN"
        pid = problem["pid"]
        r = await http.post(
            f"/api/v2/problems/{problem['problemId']}/comments",
            json={"message": "Keptn triggered action toggle", "context": "keptn"},
            headers=ADMIN,
        )
        assert r.status_code == 201
        r = await http.post(
            f"/api/v1/problem/details/{pid}/comments",
            json={"comment": "v1 hello", "user": "keptn"},
            headers=ADMIN,
        )
        assert r.status_code == 200
        comments = (
            await http.get(f"/api/v2/problems/{problem['displayId']}/comments", headers=ADMIN)
        ).json()
        assert [x["content"] for x in comments["comments"]] == [
            "Keptn triggered action toggle",
            "v1 hello",
        ]
        r = await http.post(
            f"/api/v2/problems/{problem['problemId']}/comments",
            json={"context": "x"},
            headers=ADMIN,
        )
        assert r.status_code == 400 and r.json()["field"] == "message"
        # healthy again: resolves only after the hold time, then a recurrence reopens it
        await _run(c, clock, traffic, 40, 0)
        got = (await http.get(f"/api/v2/problems/{pid}", headers=ADMIN)).json()
        assert got["status"] == "RESOLVED"
        await _run(c, clock, traffic, 3, 20)
        got = (await http.get(f"/api/v2/problems/{pid}", headers=ADMIN)).json()
        assert got["status"] == "OPEN" and got["occurrence"] == 2
        page = await http.get(f"/problems/{problem['problemId']}")
        assert page.status_code == 200 and "<svg" in page.text and "marker-comment" in page.text
        assert "Keptn triggered action toggle" in page.text
        listing = await http.get("/problems")
        assert problem["displayId"] in listing.text
        m = (
            await http.get(
                "/api/v2/metrics/query",
                params={"service": "front-end", "resolution": 10},
                headers=ADMIN,
            )
        ).json()
        assert m["points"] and max(p["failure_rate"] or 0 for p in m["points"]) > 10
    states = [(e.data["State"], e.data["PID"]) for e in events]
    assert states == [("OPEN", pid), ("RESOLVED", pid), ("OPEN", pid)]
    assert events[0].data["project"] == "website" and events[0].data["ProblemURL"].endswith(
        problem["problemId"]
    )
    assert "keptn_stage:production" in events[0].data["Tags"]
    await c.monitor.notifier.drain()
    deliveries = await c.monitor.service.deliveries(pid)
    assert len(deliveries) == 3 and all(d.status == "delivered" for d in deliveries)
    assert (
        sender.posts[0][1]["data"]["State"] == "OPEN"
        and sender.posts[0][1]["source"] == "dynatrace"
    )
    # republishing the same transition is a no-op
    opened = await c.monitor.service.get_problem(pid)
    assert not await c.monitor.notifier.notify(opened, "OPEN")
    assert (
        await c.monitor.service.sli(
            {"project": "website", "service": "front-end"}, "problem_open", 0, clock.now()
        )
        == 1.0
    )
    rate = await c.monitor.service.sli(
        {"keptn_service": "front-end"}, "failure_rate", clock.now() - 3, clock.now()
    )
    assert rate is not None and rate > 50


async def test_monitor_unreachable_target_is_no_data_not_a_problem(
    system: tuple[Container, ManualClock, Traffic, RecordingSender],
) -> None:
    c, clock, traffic, _ = system
    svc = c.monitor.service
    svc.apply([{"name": "ghost", "source": {"scrape": {"url": "http://127.0.0.1:9/metrics"}}}])
    traffic.fetcher.bodies["http://html.test/"] = (200, "<html>not metrics</html>")
    svc.apply([{"name": "html", "source": {"scrape": {"url": "http://html.test/"}}}])
    for _ in range(5):
        await clock.advance(1)
        await svc.tick()
    states = {s["name"]: s["state"] for s in svc.status()}
    assert states == {"ghost": "no_data", "html": "no_data"}
    _problems, total = await svc.list_problems()
    assert total == 0


async def test_monitor_alertmanager_and_dynatrace_intake(
    system: tuple[Container, ManualClock, Traffic, RecordingSender],
) -> None:
    c, _, _, _ = system
    app = monitor_app(c)
    payload = {
        "version": "4",
        "status": "firing",
        "commonAnnotations": {"summary": "Failure rate increase"},
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": "HighErrorRatio",
                    "keptn_project": "website",
                    "keptn_service": "front-end",
                },
                "annotations": {},
                "startsAt": "2026-11-29T10:00:00Z",
                "fingerprint": "c6a2",
            }
        ],
    }
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        r1 = await http.post("/api/v1/alertmanager", json=payload, headers=ADMIN)
        r2 = await http.post("/api/v1/alertmanager", json=payload, headers=ADMIN)
        assert [x["action"] for x in r1.json()["results"] + r2.json()["results"]] == [
            "opened",
            "duplicate",
        ]
        payload["alerts"][0]["status"] = "resolved"  # type: ignore[index]
        r3 = await http.post("/api/v1/alertmanager", json=payload, headers=ADMIN)
        assert r3.json()["results"][0]["action"] == "resolved"
        bad = await http.post(
            "/api/v1/alertmanager",
            json={"version": "4", "alerts": [{"status": "weird"}]},
            headers=ADMIN,
        )
        assert bad.status_code == 400 and bad.json()["field"] == "alerts[0].status"
        assert (
            await http.post("/api/v1/alertmanager", content=b"{nope", headers=ADMIN)
        ).status_code == 400
        dt = {
            "State": "OPEN",
            "PID": "991",
            "ProblemID": "P-9",
            "ProblemTitle": "Response time degradation",
            "Tags": "keptn_project:website, keptn_stage:production",
            "ImpactedEntity": "front-end",
        }
        r = await http.post("/api/v1/dynatrace/problem", json=dt, headers=ADMIN)
        assert r.json()["results"][0]["action"] == "opened"
        bad = await http.post("/api/v1/dynatrace/problem", json={"State": "OPEN"}, headers=ADMIN)
        assert bad.status_code == 400 and bad.json()["field"] == "PID"
        assert (await http.get("/api/v2/problems")).status_code == 401
    problems, total = await c.monitor.service.list_problems()
    assert total == 2
    assert {p.status for p in problems} == {"OPEN", "RESOLVED"}
