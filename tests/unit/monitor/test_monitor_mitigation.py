"""A problem masked by a kill switch is *mitigated* when the SLI recovers, not resolved;
RESOLVED comes when the restore says the origin serves everyone again."""

from __future__ import annotations

from selfheal.storage import EventQuery
from tests.unit.monitor.conftest import ADMIN, URL, System

SERVICE = {
    "name": "front-end",
    "tags": {"keptn_project": "website", "keptn_stage": "production", "keptn_service": "front-end"},
    "source": {"scrape": {"url": URL, "latency": "http_request_duration_seconds"}},
    "detectors": [{"kind": "response_time", "mode": "fixed", "threshold": 200, "for_seconds": 5}],
}


async def opened(system: System) -> str:
    r = await system.http.post("/api/v1/monitor/services", json=SERVICE, headers=ADMIN)
    assert r.status_code == 200, r.text
    await system.run(30, 20, 0, latency=0.04)
    await system.run(30, 20, 0, latency=0.8)
    problems, total = await system.container.monitor.service.list_problems()
    assert total == 1
    return problems[0].id


async def test_monitor_masked_problem_is_mitigated_not_resolved(system: System) -> None:
    monitor = system.container.monitor.service
    pid = await opened(system)
    assert await monitor.mask_problem(pid, "EnableStaticContent", "ctx-1")
    await system.run(60, 20, 0, latency=0.04)  # recovered well past the hold (10 s)
    problem = await monitor.get_problem(pid)
    assert problem.status == "OPEN" and problem.mitigated
    assert await monitor.problem_status(pid) == ("OPEN", problem.mitigated_since)
    got = (await system.http.get(f"/api/v2/problems/{pid}", headers=ADMIN)).json()
    assert got["status"] == "OPEN"  # Dynatrace's values are unchanged
    assert got["mitigated"] is True
    assert got["mitigatedSince"] == int((problem.mitigated_since or 0) * 1000)
    notes = [c.message for c in await monitor.comments(pid)]
    assert any("served by the fallback" in n and "origin not yet verified" in n for n in notes)
    page = await system.container.runtime.events.query(
        EventQuery(type="sh.selfheal.problem.mitigated", page_size=10)
    )
    assert len(page.events) == 1
    data = page.events[0].payload()
    assert data["flag"] == "EnableStaticContent" and data["project"] == "website"
    assert page.events[0].shkeptncontext == "ctx-1"
    metrics = (await system.http.get("/metrics")).text
    assert 'selfheal_monitor_problem_mitigated{service="front-end"} 1.0' in metrics
    # no RESOLVED went out: the control plane keeps the occurrence open
    assert [e.payload()["State"] for e in system.events] == ["OPEN"]

    # failing again (a person switched the fallback off): no longer mitigated, same problem
    await system.run(10, 20, 0, latency=0.8)
    problem = await monitor.get_problem(pid)
    assert problem.status == "OPEN" and not problem.mitigated
    assert any("no longer masks" in c.message for c in await monitor.comments(pid))
    await system.run(60, 20, 0, latency=0.04)
    assert (await monitor.get_problem(pid)).mitigated

    restored = await monitor.restore_problem(pid, "restored after 2m00s on the fallback")
    assert restored is not None and restored.status == "RESOLVED"
    assert [e.payload()["State"] for e in system.events] == ["OPEN", "RESOLVED"]
    assert any(c.message.startswith("restored after") for c in await monitor.comments(pid))
    metrics = (await system.http.get("/metrics")).text
    assert 'selfheal_monitor_problem_mitigated{service="front-end"} 0.0' in metrics


async def test_monitor_unmasked_problem_resolves_as_before(system: System) -> None:
    monitor = system.container.monitor.service
    pid = await opened(system)
    await system.run(60, 20, 0, latency=0.04)
    problem = await monitor.get_problem(pid)
    assert problem.status == "RESOLVED" and not problem.mitigated
    got = (await system.http.get(f"/api/v2/problems/{pid}", headers=ADMIN)).json()
    assert got["mitigated"] is False and got["mitigatedSince"] is None


async def test_monitor_mask_of_a_closed_problem_is_refused(system: System) -> None:
    monitor = system.container.monitor.service
    pid = await opened(system)
    await monitor.close_problem(pid)
    assert not await monitor.mask_problem(pid, "EnableStaticContent")
    assert await monitor.mask_problem("nope", "EnableStaticContent") is False


async def test_monitor_problem_open_sli_counts_a_mitigated_problem_as_masked(
    system: System,
) -> None:
    """The remediation's evaluation reads `problem_open`: 1 while the problem hurts users,
    0 once its kill switch's fallback masks it (the restore owns the other half) — so a
    mitigated problem is not escalated to the next action."""
    monitor = system.container.monitor.service
    scope = {"project": "website", "stage": "production", "service": "front-end"}
    pid = await opened(system)
    assert await monitor.mask_problem(pid, "EnableStaticContent", "ctx-1")
    now = system.container.runtime.clock.now()
    assert await monitor.sli(scope, "problem_open", now - 60, now) == 1.0
    await system.run(60, 20, 0, latency=0.04)
    problem = await monitor.get_problem(pid)
    assert problem.mitigated and problem.mitigated_since is not None
    now = system.container.runtime.clock.now()
    assert await monitor.sli(scope, "problem_open", now - 60, now) == 0.0
    # before it was mitigated the same problem counted
    assert await monitor.sli(scope, "problem_open", 0, problem.mitigated_since - 1) == 1.0
    await system.run(10, 20, 0, latency=0.8)  # failing again: no longer masked
    now = system.container.runtime.clock.now()
    assert await monitor.sli(scope, "problem_open", now - 10, now) == 1.0
