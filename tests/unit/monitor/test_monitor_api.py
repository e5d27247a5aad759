"""The monitor's HTTP API through the real app (`create_app`) with the real API tokens."""

from __future__ import annotations

import asyncio

import pytest

from selfheal.bootstrap import Container
from tests.unit.monitor.conftest import ADMIN, MONITOR_YAML, System, login


async def test_monitor_problem_lifecycle_over_http(system: System) -> None:
    http = system.http
    r = await http.post("/api/v1/monitor/services", content=MONITOR_YAML, headers=ADMIN)
    assert r.status_code == 200, r.text
    await system.run(60, 20, 0)
    assert (await http.get("/api/v2/problems", headers=ADMIN)).json()["totalCount"] == 0
    await system.run(3, 20, 10)  # 50% errors
    body = (await http.get("/api/v2/problems", headers=ADMIN)).json()
    assert body["totalCount"] == 1
    problem = body["problems"][0]
    assert problem["title"] == "Failure rate increase"
    assert (problem["status"], problem["state"], problem["endTime"]) == ("OPEN", "OPEN", -1)
    pid = problem["pid"]
    r = await http.post(
        f"/api/v2/problems/{problem['problemId']}/comments",
        json={"message": "Keptn triggered action toggle", "context": "keptn"},
        headers=ADMIN,
    )
    assert r.status_code == 201 and r.json()["authorName"] == "init-admin-*-*"  # the token's name
    r = await http.post(
        f"/api/v1/problem/details/{pid}/comments",
        json={"comment": "v1 hello", "user": "keptn"},
        headers={"Authorization": "Api-Token *:*.admin-secret"},
    )
    assert r.status_code == 200
    comments = (
        await http.get(f"/api/v2/problems/{problem['displayId']}/comments", headers=ADMIN)
    ).json()
    contents = [c["content"] for c in comments["comments"]]
    # the control plane comments on the problem too (its remediation has no project here)
    assert contents.index("Keptn triggered action toggle") < contents.index("v1 hello")
    r = await http.post(
        f"/api/v2/problems/{problem['problemId']}/comments", json={"context": "x"}, headers=ADMIN
    )
    assert r.status_code == 400 and r.json()["field"] == "message"
    # a comment by id: read, edit (same id and author, new message), delete, as Dynatrace v2
    base = f"/api/v2/problems/{problem['problemId']}/comments"
    made = (await http.post(base, json={"message": "first words"}, headers=ADMIN)).json()
    one = f"{base}/{made['id']}"
    assert (await http.get(one, headers=ADMIN)).json() == made
    r = await http.put(one, json={"message": "better words", "context": "ops"}, headers=ADMIN)
    assert r.status_code == 204 and r.content == b""
    edited = (await http.get(one, headers=ADMIN)).json()
    assert (edited["content"], edited["context"]) == ("better words", "ops")
    assert (edited["id"], edited["authorName"]) == (made["id"], made["authorName"])
    r = await http.put(one, json={"context": "ops"}, headers=ADMIN)
    assert r.status_code == 400 and r.json()["field"] == "message"
    assert (await http.get(one, headers=ADMIN)).json()["content"] == "better words"
    assert (await http.delete(one, headers=ADMIN)).status_code == 204
    assert (await http.get(one, headers=ADMIN)).status_code == 404
    assert (await http.delete(one, headers=ADMIN)).status_code == 404
    r = await http.put(one, json={"message": "x"}, headers=ADMIN)
    assert r.status_code == 404
    assert (await http.delete(one)).status_code == 401
    listed = (await http.get(base, headers=ADMIN)).json()["comments"]
    assert made["id"] not in [c["id"] for c in listed]
    # healthy again: resolves only after the hold time, then a recurrence reopens it
    await system.run(40, 20, 0)
    got = (await http.get(f"/api/v2/problems/{pid}", headers=ADMIN)).json()
    assert (got["status"], got["state"]) == ("CLOSED", "RESOLVED") and got["endTime"] > 0
    closed = await http.get(
        "/api/v2/problems", params={"problemSelector": 'status("closed")'}, headers=ADMIN
    )
    assert [p["pid"] for p in closed.json()["problems"]] == [pid]
    await system.run(3, 20, 20)
    got = (await http.get(f"/api/v2/problems/{pid}", headers=ADMIN)).json()
    assert got["status"] == "OPEN" and got["occurrence"] == 2 and got["endTime"] == -1
    await login(http)
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
    for _ in range(500):  # events reach the bus after their commit (bounded wait)
        if len(system.events) >= 3:
            break
        await asyncio.sleep(0.01)
    states = [(e.data["State"], e.data["PID"]) for e in system.events]
    assert states == [("OPEN", pid), ("RESOLVED", pid), ("OPEN", pid)]
    assert system.events[0].data["project"] == "website"
    assert system.events[0].data["ProblemURL"].endswith(problem["problemId"])
    assert "keptn_stage:production" in system.events[0].data["Tags"]
    await system.delivered()
    deliveries = await system.container.monitor.service.deliveries(pid)
    assert len(deliveries) == 3 and all(d.status == "delivered" for d in deliveries)
    assert deliveries[-1].attempts == 2  # the first answer was a 503: retried after backoff
    first = system.sender.posts[0][1]
    assert first["data"]["State"] == "OPEN" and first["source"] == "dynatrace"
    # republishing the same transition is a no-op
    opened = await system.container.monitor.service.get_problem(pid)
    assert not await system.container.monitor.notifier.notify(opened, "OPEN")
    svc = system.container.monitor.service
    now = system.clock.now()
    assert await svc.sli({"project": "website", "service": "front-end"}, "problem_open", 0, now)
    rate = await svc.sli({"keptn_service": "front-end"}, "failure_rate", now - 3, now)
    assert rate is not None and rate > 50


async def test_monitor_v2_problem_has_the_dynatrace_shape(system: System) -> None:
    http = system.http
    await http.post("/api/v1/monitor/services", content=MONITOR_YAML, headers=ADMIN)
    await system.run(30, 20, 0)
    await system.run(3, 20, 15)
    listed = (await http.get("/api/v2/problems", headers=ADMIN)).json()["problems"][0]
    await http.post(
        f"/api/v2/problems/{listed['problemId']}/comments", json={"message": "hi"}, headers=ADMIN
    )
    got = (await http.get(f"/api/v2/problems/{listed['problemId']}", headers=ADMIN)).json()
    for key in (
        "problemId",
        "displayId",
        "title",
        "impactLevel",
        "severityLevel",
        "status",
        "affectedEntities",
        "impactedEntities",
        "rootCauseEntity",
        "managementZones",
        "entityTags",
        "problemFilters",
        "startTime",
        "endTime",
        "evidenceDetails",
        "impactAnalysis",
        "recentComments",
    ):
        assert key in got, key
    assert "recentComments" not in listed and "evidenceDetails" in listed
    assert got["displayId"].startswith("P-") and got["problemId"].endswith("V2")
    assert (got["impactLevel"], got["severityLevel"]) == ("SERVICES", "ERROR")
    stub = {"entityId": {"id": "front-end", "type": "SERVICE"}, "name": "front-end"}
    assert got["affectedEntities"] == got["impactedEntities"] == [stub]
    assert got["rootCauseEntity"] == stub
    assert {"context": "CONTEXTLESS", "key": "keptn_stage", "value": "production",
            "stringRepresentation": "keptn_stage:production"} in got["entityTags"]  # fmt: skip
    now_ms = int(system.clock.now() * 1000)
    assert isinstance(got["startTime"], int) and now_ms - 3000 <= got["startTime"] <= now_ms
    evidence = got["evidenceDetails"]["details"][0]
    assert evidence["evidenceType"] == "TRANSACTIONAL" and evidence["unit"] == "Percent"
    assert evidence["displayName"] == "Failure rate increase" and evidence["rootCauseRelevant"]
    assert evidence["valueAfterChangePoint"] > evidence["valueBeforeChangePoint"]
    recent = got["recentComments"]  # the control plane's write-back may be among them
    assert recent["totalCount"] == len(recent["comments"]) and recent["nextPageKey"] is None
    mine = next(c for c in recent["comments"] if c["content"] == "hi")
    assert set(mine) == {"id", "createdAtTimestamp", "content", "authorName", "context"}
    with_comments = await http.get(
        "/api/v2/problems", params={"fields": "+recentComments"}, headers=ADMIN
    )
    assert "recentComments" in with_comments.json()["problems"][0]
    bad = await http.get("/api/v2/problems", params={"fields": "+nope"}, headers=ADMIN)
    assert bad.status_code == 400 and bad.json()["field"] == "fields"
    for selector in ('nope("x")', 'status("open"),status("closed")', 'status("maybe")', "x"):
        bad = await http.get(
            "/api/v2/problems", params={"problemSelector": selector}, headers=ADMIN
        )
        assert bad.status_code == 400 and bad.json()["field"] == "problemSelector", selector
    for selector, count in (
        ('impactLevel("APPLICATION")', 0),
        ('impactLevel("SERVICES")', 1),
        (f'problemId("{got["problemId"]}")', 1),
        (f'problemId("{got["pid"]}")', 1),
        ('problemId("someone-else")', 0),
        (f'displayId("P-9", "{got["displayId"]}")', 1),
        ('text("FAILURE RATE")', 1),
        ('text("latency")', 0),
        (f'severityLevel("{got["severityLevel"]}"), status("open")', 1),
        ('severityLevel("RESOURCE_CONTENTION")', 0),
        ('status("closed"), text("failure")', 0),
        ('entityTags("keptn_stage:production")', 1),
        ('entityTags("[CONTEXTLESS]keptn_stage", "x")', 1),
        ('entityTags("keptn_stage:dev")', 0),
    ):
        params = {"problemSelector": selector, "pageSize": "1"}
        body = (await http.get("/api/v2/problems", params=params, headers=ADMIN)).json()
        assert body["totalCount"] == count, selector
        assert [p["problemId"] for p in body["problems"]] == [got["problemId"]] * count
    # manual close: Dynatrace's CLOSED, ours CLOSED; never reopened
    r = await http.post(
        f"/api/v2/problems/{got['problemId']}/close", json={"message": "false alarm"}, headers=ADMIN
    )
    assert r.json()["status"] == "CLOSED" and r.json()["state"] == "CLOSED"
    assert r.json()["comment"]["content"] == "false alarm"
    for params, count in (
        ({"problemSelector": 'status("open")'}, 0),
        ({"problemSelector": 'status("closed")'}, 1),
        ({"status": "CLOSED"}, 1),
        ({"status": "RESOLVED"}, 0),
        ({"state": "CLOSED"}, 1),
        ({"from": "now-1h"}, 1),
        ({"from": str(int((system.clock.now() + 60) * 1000))}, 0),
    ):
        body = (await http.get("/api/v2/problems", params=params, headers=ADMIN)).json()
        assert body["totalCount"] == count, params
    await system.run(5, 20, 20)
    opened, total = await system.container.monitor.service.list_problems(status="OPEN")
    assert total == 1 and opened[0].id != got["problemId"]  # a new problem, not a reopen


async def test_monitor_api_needs_a_real_admin_token(container: Container) -> None:
    import httpx

    from selfheal.web import create_app

    app = create_app(container, manage_lifecycle=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://selfheal.test"
    ) as http:
        assert (await http.get("/api/v2/problems")).status_code == 401
        wrong = {"Authorization": "Bearer *:*.not-the-secret"}
        assert (await http.get("/api/v2/problems", headers=wrong)).status_code == 401
        client = {"Authorization": "default:production.client-secret"}
        assert (await http.get("/api/v2/problems", headers=client)).status_code == 403
        ok = await http.get("/api/v2/problems", headers={"Authorization": "*:*.admin-secret"})
        assert ok.status_code == 200 and ok.json()["totalCount"] == 0


async def test_monitor_unreachable_target_is_no_data_not_a_problem(system: System) -> None:
    svc = system.container.monitor.service
    svc.apply([{"name": "ghost", "source": {"scrape": {"url": "http://127.0.0.1:9/metrics"}}}])
    system.traffic.fetcher.bodies["http://html.test/"] = (200, "<html>not metrics</html>")
    svc.apply([{"name": "html", "source": {"scrape": {"url": "http://html.test/"}}}])
    for _ in range(5):
        await system.clock.advance(1)
        await svc.tick()
    states = {s["name"]: s["state"] for s in svc.status()}
    assert states == {"ghost": "no_data", "html": "no_data"}
    _problems, total = await svc.list_problems()
    assert total == 0


@pytest.mark.parametrize("auth", ["Bearer *:*.admin-secret", "Api-Token *:*.admin-secret"])
async def test_monitor_alertmanager_and_dynatrace_intake(system: System, auth: str) -> None:
    http, headers = system.http, {"Authorization": auth}
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
                    "severity": "critical",
                },
                "annotations": {},
                "startsAt": "2026-11-29T10:00:00Z",
                "fingerprint": "c6a2",
            }
        ],
    }
    r1 = await http.post("/api/v1/alertmanager", json=payload, headers=headers)
    r2 = await http.post("/api/v1/alertmanager", json=payload, headers=headers)
    assert [x["action"] for x in r1.json()["results"] + r2.json()["results"]] == [
        "opened",
        "duplicate",
    ]
    listed = (await http.get("/api/v2/problems", headers=headers)).json()["problems"][0]
    assert listed["severityLevel"] == "CUSTOM_ALERT" and listed["rootCauseEntity"] is None
    assert listed["evidenceDetails"]["details"][0]["evidenceType"] == "EVENT"
    payload["alerts"][0]["status"] = "resolved"  # type: ignore[index]
    r3 = await http.post("/api/v1/alertmanager", json=payload, headers=headers)
    assert r3.json()["results"][0]["action"] == "resolved"
    bad = await http.post(
        "/api/v1/alertmanager",
        json={"version": "4", "alerts": [{"status": "weird"}]},
        headers=headers,
    )
    assert bad.status_code == 400 and bad.json()["field"] == "alerts[0].status"
    assert (
        await http.post("/api/v1/alertmanager", content=b"{nope", headers=headers)
    ).status_code == 400
    dt = {
        "State": "OPEN",
        "PID": "991",
        "ProblemID": "P-9",
        "ProblemTitle": "Response time degradation",
        "Tags": "keptn_project:website, keptn_stage:production",
        "ImpactedEntity": "front-end",
    }
    r = await http.post("/api/v1/dynatrace/problem", json=dt, headers=headers)
    assert r.json()["results"][0]["action"] == "opened"
    bad = await http.post("/api/v1/dynatrace/problem", json={"State": "OPEN"}, headers=headers)
    assert bad.status_code == 400 and bad.json()["field"] == "PID"
    problems, total = await system.container.monitor.service.list_problems()
    assert total == 2
    assert {p.status for p in problems} == {"OPEN", "RESOLVED"}
