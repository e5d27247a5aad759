"""A restart of the process: problems, comments and states come back from the database, an
open problem resolves once its service is healthy (with no second OPEN), and a recurrence
soon after the resolve still reopens the same problem."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from selfheal.core import CloudEvent
from selfheal.storage import EventQuery
from tests.unit.monitor.conftest import ADMIN, HOOK, MONITOR_YAML, System

MakeSystem = Callable[..., Awaitable[tuple[System, Callable[[], Awaitable[None]]]]]
ALERT = {
    "version": "4",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "Down", "keptn_service": "checkout"},
            "startsAt": "2026-11-29T10:00:00Z",
            "fingerprint": "f1",
        }
    ],
}


def states(events: list[CloudEvent]) -> list[str]:
    return [str(e.data["State"]) for e in events]


def hook_states(system: System) -> list[str]:
    """The webhook's transitions, one per notification (a retried post counts once)."""
    seen: dict[str, str] = {}
    for url, body in system.sender.posts:
        if url == HOOK:
            seen.setdefault(f"{body['data']['State']}:{body['data']['PID']}", "")
    return [key.split(":", 1)[0] for key in seen]


async def test_monitor_problems_survive_a_restart(make_system: MakeSystem) -> None:
    first, stop = await make_system()
    try:
        http = first.http
        assert (await http.post("/api/v1/monitor/services", content=MONITOR_YAML, headers=ADMIN)).status_code == 200  # fmt: skip
        await first.run(30, 20, 0)
        await first.run(3, 20, 10)
        (problem,) = (await http.get("/api/v2/problems", headers=ADMIN)).json()["problems"]
        await http.post(
            f"/api/v2/problems/{problem['problemId']}/comments",
            json={"message": "before the restart"},
            headers=ADMIN,
        )
        alert = (await http.post("/api/v1/alertmanager", json=ALERT, headers=ADMIN)).json()
        closed_id = alert["results"][0]["problemId"]
        await http.post(f"/api/v2/problems/{closed_id}/close", json={}, headers=ADMIN)
        await first.delivered()
        assert states(first.events) == ["OPEN", "OPEN", "RESOLVED"]  # ours, the alert's open/close
    finally:
        await stop()

    second, stop = await make_system()
    try:
        http = second.http
        got = (await http.get(f"/api/v2/problems/{problem['pid']}", headers=ADMIN)).json()
        assert (got["status"], got["displayId"], got["startTime"]) == (
            "OPEN",
            problem["displayId"],
            problem["startTime"],
        )
        contents = [c["content"] for c in got["recentComments"]["comments"]]
        assert "before the restart" in contents
        closed = (await http.get(f"/api/v2/problems/{closed_id}", headers=ADMIN)).json()
        assert (closed["status"], closed["state"]) == ("CLOSED", "CLOSED")
        services = (await http.get("/api/v1/monitor/services", headers=ADMIN)).json()
        assert [s["name"] for s in services["services"]] == ["front-end"]
        assert services["services"][0]["problemOpen"] is True
        # still failing just after the restart: the same problem, no second OPEN
        await second.run(5, 20, 10)
        await second.run(40, 20, 0)
        got = (await http.get(f"/api/v2/problems/{problem['pid']}", headers=ADMIN)).json()
        assert (got["status"], got["state"], got["occurrence"]) == ("CLOSED", "RESOLVED", 1)
        assert (await http.get("/api/v2/problems", headers=ADMIN)).json()["totalCount"] == 2
        await second.delivered()
        assert states(second.events) == ["RESOLVED"]
        assert hook_states(second) == ["RESOLVED"]
        stored = await second.container.runtime.events.query(
            EventQuery(type="sh.keptn.events.problem", page_size=50)
        )
        ours = [e for e in stored.events if e.data["PID"] == problem["pid"]]
        assert sorted(states(ours)) == ["OPEN", "RESOLVED"]
    finally:
        await stop()

    third, stop = await make_system()
    try:  # a recurrence within reopen_seconds of the resolve, across a restart: reopened
        await third.run(5, 20, 10)
        got = (await third.http.get(f"/api/v2/problems/{problem['pid']}", headers=ADMIN)).json()
        assert (got["status"], got["occurrence"]) == ("OPEN", 2)
        assert (await third.http.get("/api/v2/problems", headers=ADMIN)).json()["totalCount"] == 2
        assert states(third.events) == ["OPEN"]
    finally:
        await stop()
