"""The demo's reads of the real platform (in process): the kill switch it creates, the flag's
change events, and restore events stored in the event store under the problem's context —
present (a restoring platform) or absent (today's)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from selfheal.bootstrap import Container
from selfheal.demo.milestones import ServerRecord, milestones, parse_time
from selfheal.demo.platform import PROBE_CONSTRAINT, Platform
from selfheal.demo.website import FLAG_NAME
from selfheal.web import create_app

ADMIN = "*:*.admin-secret"
RESTORE = (
    "sh.selfheal.problem.mitigated",
    "sh.keptn.event.restore.triggered",
    "sh.selfheal.origin.verified",
    "sh.keptn.event.restore.started",
    "sh.selfheal.restore.step",
)


@pytest.fixture
async def http(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(container, manage_lifecycle=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://p", headers={"Authorization": ADMIN}
    ) as client:
        yield client


async def send(http: httpx.AsyncClient, type_: str, context: str, **data: Any) -> None:
    event = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "tests",
        "type": type_,
        "shkeptncontext": context,
        "data": {"project": "website", "stage": "production", "service": "front-end", **data},
    }
    r = await http.post("/api/v1/event", json=event)
    assert r.status_code == 200, r.text


async def stored_times(http: httpx.AsyncClient, context: str) -> dict[str, float]:
    r = await http.get("/api/v1/events", params={"keptnContext": context, "pageSize": 100})
    return {e["type"]: parse_time(e["time"]) or 0.0 for e in r.json()["events"]}


def crafted(context: str, fault_at: float) -> ServerRecord:
    return ServerRecord(
        fault_at=fault_at,
        problem={"problemId": "P-1", "status": "OPEN", "startTime": int(fault_at * 1000) + 900},
        sequence={"name": "remediation", "stage": "production", "state": "started"},
    )


async def test_the_kill_switch_leaves_probes_out(http: httpx.AsyncClient) -> None:
    platform = Platform(http)
    await platform.create_flag(FLAG_NAME)
    r = await http.get(
        f"/api/admin/projects/default/features/{FLAG_NAME}/environments/production/strategies"
    )
    (strategy,) = r.json()
    assert strategy["name"] == "default"
    assert [
        {k: c[k] for k in ("contextName", "operator", "values")} for c in strategy["constraints"]
    ] == [{k: PROBE_CONSTRAINT[k] for k in ("contextName", "operator", "values")}]


async def test_restore_events_in_the_store_become_the_restore_milestones(
    http: httpx.AsyncClient,
) -> None:
    platform = Platform(http)
    await platform.create_flag(FLAG_NAME)
    context = str(uuid.uuid4())
    fault_at = await flag_created_at(platform)
    await platform.set_flag(FLAG_NAME, True)
    for type_ in RESTORE:
        await send(http, type_, context, problemId="P-1")
    await platform.set_flag(FLAG_NAME, False)

    record = crafted(context, fault_at)
    record.events = await platform.events(context)
    record.flag_events = await platform.flag_events(FLAG_NAME)
    found = milestones(record)
    times = await stored_times(http, context)
    assert found["problem_mitigated"][0] == times["sh.selfheal.problem.mitigated"]
    assert found["origin_verified"][0] == times["sh.selfheal.origin.verified"]
    assert found["restore_started"][0] == times["sh.keptn.event.restore.started"]
    changes = [e for e in record.flag_events if e["type"].startswith("feature-environment")]
    assert len(changes) == 2
    on, off = found["flag_on"][0], found["flag_off"][0]
    assert on < found["restore_started"][0] <= off


async def test_without_restore_events_the_restore_milestones_are_absent(
    http: httpx.AsyncClient,
) -> None:
    platform = Platform(http)
    await platform.create_flag(FLAG_NAME)
    context = str(uuid.uuid4())
    fault_at = await flag_created_at(platform)
    await platform.set_flag(FLAG_NAME, True)
    await send(http, "sh.keptn.event.action.triggered", context, action={"action": "x"})
    record = crafted(context, fault_at)
    record.events = await platform.events(context)
    record.flag_events = await platform.flag_events(FLAG_NAME)
    found = milestones(record)
    assert {"action_triggered", "flag_on", "problem_opened"} <= set(found)
    for step in ("problem_mitigated", "origin_verified", "restore_started", "flag_off"):
        assert step not in found


async def flag_created_at(platform: Platform) -> float:
    """The server's time of the flag's creation (the fault onset in these tests)."""
    events = await platform.flag_events(FLAG_NAME)
    created = [parse_time(e["createdAt"]) for e in events if e["type"] == "feature-created"]
    assert created and created[0] is not None
    return created[0]
