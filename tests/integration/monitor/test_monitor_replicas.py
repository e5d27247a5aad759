"""Two replicas (`build()` containers) on one PostgreSQL database share the monitor's state:
declared services, problems (compare-and-set) and SLI samples.

Each replica has its own memory bus, so nothing here travels on a bus: what one replica
sees of the other's work comes from the database (the revision poll, the shared tables).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from selfheal.bootstrap import Container, build
from selfheal.bus import MemoryBus
from selfheal.control import SliScope
from selfheal.core import ManualClock
from selfheal.integrations.slis import MonitorSliProvider
from selfheal.monitor import MonitorSettings
from selfheal.monitor.notifications import RecordingSender
from selfheal.monitor.sources import MemoryFetcher
from selfheal.settings import Settings
from selfheal.web import create_app
from tests.support.traffic import URL, Traffic

ADMIN = {"Authorization": "Bearer *:*.admin-secret"}
TAGS = {"keptn_project": "website", "keptn_stage": "production", "keptn_service": "web"}
SERVICE: dict[str, Any] = {
    "name": "web",
    "tags": TAGS,
    "source": {"scrape": {"url": URL, "interval": 1}},
    "detectors": [
        {"kind": "failure_rate", "mode": "fixed", "threshold": 10, "for_seconds": 3},
    ],
}


@pytest.fixture
def replica_settings(settings: Settings, pg_url: str) -> Settings:
    return settings.model_copy(
        update={
            "database_url": pg_url,
            "monitor": MonitorSettings(run_loops=False, hold_seconds=5, reopen_seconds=60),
        }
    )


@asynccontextmanager
async def replica(
    settings: Settings, clock: ManualClock, fetcher: MemoryFetcher, bus: MemoryBus | None = None
) -> AsyncIterator[tuple[Container, httpx.AsyncClient]]:
    container = await build(settings, bus=bus or MemoryBus(), clock=clock)
    container.monitor.use(fetcher=fetcher, sender=RecordingSender())
    await container.start()
    app = create_app(container, manage_lifecycle=False)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://selfheal.test"
        ) as http:
            yield container, http
    finally:
        await container.stop()


async def follows(clock: ManualClock, c: Container, present: bool) -> None:
    """Let the replica's revision poll run (1 s on the clock) until it has (or lost) web."""
    for _ in range(200):
        if ("web" in c.monitor.service.watchers) == present:
            return
        await clock.advance(0.5)
        await asyncio.sleep(0.01)
    raise AssertionError(f"replica never {'added' if present else 'dropped'} the service")


async def run(
    clock: ManualClock, c: Container, traffic: Traffic, seconds: int, failed: int
) -> None:
    for _ in range(seconds):
        await clock.advance(1)
        traffic.second(100, failed)
        await c.monitor.service.tick("web")


async def test_a_service_put_on_one_replica_is_evaluated_by_another_after_it_stops(
    replica_settings: Settings,
) -> None:
    clock, fetcher = ManualClock(), MemoryFetcher()
    traffic = Traffic(fetcher)
    async with replica(replica_settings, clock, fetcher) as (b, _):
        async with replica(replica_settings, clock, fetcher) as (a, http_a):
            r = await http_a.put("/api/v1/monitor/services", json=SERVICE, headers=ADMIN)
            assert r.status_code == 200, r.text
            assert "web" in a.monitor.service.watchers
            await follows(clock, b, present=True)
            # a delete on A stops the evaluation everywhere
            r = await http_a.delete("/api/v1/monitor/services/web", headers=ADMIN)
            assert r.status_code == 204, r.text
            assert "web" not in a.monitor.service.watchers
            await follows(clock, b, present=False)
            r = await http_a.put("/api/v1/monitor/services", json=SERVICE, headers=ADMIN)
            assert r.status_code == 200, r.text
            await follows(clock, b, present=True)
            await run(clock, a, traffic, 3, 0)  # A leads web while it runs
            assert "web" in a.monitor.service.led
        # A stopped: B takes the lead of web and opens the problem
        await run(clock, b, traffic, 20, 0)
        await run(clock, b, traffic, 10, 50)
        assert "web" in b.monitor.service.led
        problems, total = await b.monitor.service.list_problems(service="web")
        assert total == 1 and problems[0].status == "OPEN"
        # a restart still finds the API's declaration (and not a deleted one)
    async with replica(replica_settings, clock, fetcher) as (c, _):
        assert list(c.monitor.service.watchers) == ["web"]


async def test_a_stale_leader_never_overwrites_a_problem_a_user_closed(
    replica_settings: Settings,
) -> None:
    clock, fetcher = ManualClock(), MemoryFetcher()
    traffic = Traffic(fetcher)
    async with (
        replica(replica_settings, clock, fetcher) as (a, http_a),
        replica(replica_settings, clock, fetcher) as (b, _),
    ):
        r = await http_a.put("/api/v1/monitor/services", json=SERVICE, headers=ADMIN)
        assert r.status_code == 200, r.text
        await follows(clock, b, present=True)
        await run(clock, a, traffic, 20, 0)
        await run(clock, a, traffic, 10, 50)
        [opened], _ = await a.monitor.service.list_problems(service="web")
        assert opened.status == "OPEN" and a.monitor.service.tracker.is_open("web")
        # a user closes it on the other replica; A still holds the old version
        closed = await b.monitor.service.close_problem(opened.id, message="known issue")
        assert closed.status == "CLOSED" and closed.version == opened.version + 1
        # A sees the service healthy for longer than the hold time: its RESOLVED loses
        # the compare-and-set, it re-reads, finds the problem closed and lets it go
        await run(clock, a, traffic, 90, 0)
        stored = await b.monitor.service.get_problem(opened.id)
        assert (stored.status, stored.end) == ("CLOSED", closed.end)
        assert not a.monitor.service.tracker.is_open("web")
        # a new breach opens a new problem: the closed one is never reopened
        await run(clock, a, traffic, 10, 50)
        problems, total = await a.monitor.service.list_problems(service="web")
        assert total == 2
        assert {p.id: p.status for p in problems} == {
            opened.id: "CLOSED",
            next(p.id for p in problems if p.id != opened.id): "OPEN",
        }


async def test_an_sli_written_by_the_leader_is_read_by_another_replicas_evaluation(
    replica_settings: Settings,
) -> None:
    clock, fetcher = ManualClock(), MemoryFetcher()
    traffic = Traffic(fetcher)
    async with (
        replica(replica_settings, clock, fetcher) as (a, http_a),
        replica(replica_settings, clock, fetcher) as (b, _),
    ):
        r = await http_a.put("/api/v1/monitor/services", json=SERVICE, headers=ADMIN)
        assert r.status_code == 200, r.text
        await follows(clock, b, present=True)
        start = clock.now()
        await run(clock, a, traffic, 30, 5)  # 5 % errors
        end = clock.now()
        assert a.monitor.recorder.pending > 0  # buffered, not written by the tick
        await a.monitor.recorder.flush()
        assert "web" not in b.monitor.service.led
        assert len(b.monitor.service.watchers["web"].series) == 0  # B never scraped
        scope = {"project": "website", "stage": "production", "service": "web"}
        rate = await b.monitor.service.sli(scope, "failure_rate", start, end)
        assert rate == pytest.approx(5.0)
        throughput = await b.monitor.service.sli(scope, "throughput", start, end)
        assert throughput == pytest.approx(100.0)
        # what B's control plane asks when an slo.yaml on failure_rate is evaluated there
        assert "monitor" in b.control.service.evaluator.providers
        provider = MonitorSliProvider(b.monitor.service)
        got = await provider.get_sli(
            "failure_rate", SliScope("website", "production", "web"), start, end
        )
        assert got == pytest.approx(5.0)


async def test_a_service_change_is_broadcast_to_the_other_replicas(
    replica_settings: Settings,
) -> None:
    """With a bus between them, a replica follows at once (no poll: its interval is long)."""
    slow_poll = replica_settings.model_copy(
        update={
            "monitor": replica_settings.monitor.model_copy(update={"services_poll_seconds": 60})
        }
    )
    clock, fetcher, bus = ManualClock(), MemoryFetcher(), MemoryBus()
    async with (
        replica(slow_poll, clock, fetcher, bus) as (_a, http_a),
        replica(slow_poll, clock, fetcher, bus) as (b, _),
    ):
        r = await http_a.put("/api/v1/monitor/services", json=SERVICE, headers=ADMIN)
        assert r.status_code == 200, r.text
        for _ in range(200):  # real time only: the clock never moves here
            if "web" in b.monitor.service.watchers:
                break
            await asyncio.sleep(0.01)
        assert "web" in b.monitor.service.watchers
        assert b.monitor.revision == r.json()["revision"]
