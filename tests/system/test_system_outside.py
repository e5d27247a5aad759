"""Problems from outside: the seed's own problemopen.json and a Dynatrace RESOLVED through the
Keptn API, and an Alertmanager webhook through the monitor's intake."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from tests.system.loop import ADMIN, SEED, Loop, loop_settings, running
from tests.system.standins import standins
from tests.system.website import FLAG

PID = "-4349221618435898381"
TAGS = "keptn_project:website, keptn_stage:production, keptn_service:front-end"


def dynatrace_resolved(problem_url: str) -> dict[str, Any]:
    """formats/dynatrace-problem-notification.json filled in like Dynatrace does, RESOLVED."""
    raw = (SEED / "formats" / "dynatrace-problem-notification.json").read_text()
    details = {"id": f"{PID}_1588562640000V2", "displayName": "381", "status": "CLOSED"}
    filled = (
        raw.replace("{ProblemDetailsJSON}", json.dumps(details))
        .replace("{ImpactedEntities}", "[]")
        .replace("{PID}", PID)
        .replace("{State}", "RESOLVED")
        .replace("{ProblemID}", "381")
        .replace("{ProblemTitle}", "Failure rate increase")
        .replace("{ProblemURL}", problem_url)
        .replace("{Tags}", TAGS)
        .replace("{ImpactedEntity}", "Failure rate increase on Web request service")
        .replace("$KEPTN_PROJECT", "website")
    )
    event: dict[str, Any] = json.loads(filled)
    event["id"] = f"{PID}-resolved"
    event["time"] = "2020-05-04T03:45:00.000Z"
    return event


async def post_event(loop: Loop, event: dict[str, Any]) -> str:
    r = await loop.http.post("/api/v1/event", json=event, headers={"x-token": ADMIN})
    assert r.status_code == 200, r.text
    await loop.settle()
    return str(r.json()["keptnContext"])


async def flag_on(loop: Loop) -> bool:
    return (await loop.container.flags.service.get_flag(FLAG)).env("production").enabled


async def test_outside_seed_problemopen_then_dynatrace_resolved(tmp_path: Path) -> None:
    async with standins() as s, running(loop_settings(tmp_path, s.settings(tmp_path))) as loop:
        await loop.create_flag()
        await loop.create_website_project()
        opened: dict[str, Any] = json.loads((SEED / "problemopen.json").read_text())
        opened["data"]["ProblemURL"] = f"{s.urls['dynatrace']}/#problems/problemdetails;pid={PID}"

        context = await post_event(loop, copy.deepcopy(opened))
        assert context == opened["shkeptncontext"]  # unused, so the notification's own
        assert await flag_on(loop)
        [seq] = await loop.sequences()
        assert seq["shkeptncontext"] == context and seq["state"] == "started"

        # the same notification again starts nothing
        assert await post_event(loop, copy.deepcopy(opened)) == context
        assert len(await loop.sequences()) == 1

        await post_event(loop, dynatrace_resolved(opened["data"]["ProblemURL"]))
        [seq] = await loop.sequences()
        assert seq["state"] == "finished"
        assert seq["outcome"] == "remediated", seq["message"]
        types = [e["type"] for e in await loop.events(context)]
        assert types[0] == "sh.keptn.event.problem.open"
        assert types[-1] == "sh.keptn.event.production.remediation.finished"
        assert types.count("sh.keptn.event.action.triggered") == 1

        # the problem is the tenant's: the steps go back to Dynatrace as v2 comments
        written = [c["content"] for c in s.dynatrace.comments.get(PID, [])]
        assert "Keptn remediation evaluation resulted in pass (100/100)" in written
        assert any(c.startswith("Keptn triggered action toggle-feature") for c in written)
        assert all(
            r.headers["authorization"] == "Api-Token dt0c01.system-test"
            for r in s.dynatrace.requests
        )


async def test_outside_alertmanager_firing_starts_a_sequence(tmp_path: Path) -> None:
    async with running(loop_settings(tmp_path)) as loop:
        await loop.create_flag()
        await loop.create_website_project()
        webhook: dict[str, Any] = json.loads(
            (SEED / "formats" / "alertmanager-webhook-v4.json").read_text()
        )
        r = await loop.http.post("/api/v1/alertmanager", json=webhook, headers=loop.admin)
        assert r.status_code == 200, r.text
        await loop.settle()
        [problem] = await loop.problems()
        assert problem["title"] == "Failure rate increase" and problem["status"] == "OPEN"
        tags = {t["key"]: t["value"] for t in problem["entityTags"]}
        assert tags["keptn_project"] == "website" and tags["keptn_service"] == "front-end"
        [seq] = await loop.sequences()
        assert (seq["stage"], seq["service"], seq["state"]) == (
            "production",
            "front-end",
            "started",
        )
        assert await flag_on(loop)
        comments = await loop.comments(problem["problemId"])
        assert any(c.startswith("Keptn triggered action toggle-feature") for c in comments)

        # re-sent: a duplicate; resolved: the problem closes and the remediation ends
        r = await loop.http.post("/api/v1/alertmanager", json=webhook, headers=loop.admin)
        assert r.json()["results"][0]["action"] == "duplicate", r.text
        resolved = copy.deepcopy(webhook)
        resolved["status"] = "resolved"
        resolved["alerts"][0]["status"] = "resolved"
        resolved["alerts"][0]["endsAt"] = "2026-11-29T10:05:00Z"
        r = await loop.http.post("/api/v1/alertmanager", json=resolved, headers=loop.admin)
        assert r.status_code == 200, r.text
        await loop.settle()
        [problem] = await loop.problems()
        assert problem["status"] != "OPEN"
        [seq] = await loop.sequences()
        assert seq["outcome"] == "remediated", seq["message"]
