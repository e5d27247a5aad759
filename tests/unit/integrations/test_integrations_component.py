"""The whole system with integrations.yaml: deliveries API and page, Slack's interactive
endpoint, and the write-back of steps as problem comments."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr

from selfheal.bootstrap import Container, build
from selfheal.bus import MemoryBus
from selfheal.core import CloudEvent
from selfheal.integrations import IntegrationsSettings
from selfheal.integrations.signatures import slack_signature
from selfheal.integrations.standins import SlackStandIn, serve
from selfheal.settings import Settings
from selfheal.web import create_app

ADMIN = {"Authorization": "*:*.admin-secret"}
SIGNING = "slack-signing-secret-0123"
PID = "-4349221618435898381"

YAML = """\
integrations:
  - name: slack
    type: slack
    config:
      bot_token: {secret: slack-bot}
      channel: "#ops"
      api_url: %s/api
      signing_secret: {secret: slack-signing}
"""


@pytest.fixture
async def system(
    settings: Settings, tmp_path: Path
) -> AsyncIterator[tuple[Container, SlackStandIn]]:
    slack = SlackStandIn(token="xoxb-bot")
    async with serve(slack.app) as url:
        path = tmp_path / "integrations.yaml"
        path.write_text(YAML % url)
        integrations = IntegrationsSettings(
            file=str(path),
            secrets={"slack-bot": SecretStr("xoxb-bot"), "slack-signing": SecretStr(SIGNING)},
            max_attempts=2,
            backoff_seconds=0.0,
        )
        s = settings.model_copy(
            update={"integrations": integrations, "admin_password": SecretStr("pw")}
        )
        c = await build(s, bus=MemoryBus())
        await c.start()
        try:
            yield c, slack
        finally:
            await c.stop()


def client(c: Container) -> httpx.AsyncClient:
    app = create_app(c, manage_lifecycle=False)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def settle(c: Container) -> None:
    bus = c.runtime.bus.inner  # type: ignore[attr-defined]
    assert await bus.drain(timeout=10.0)


DT_OPEN = {
    "State": "OPEN",
    "PID": PID,
    "ProblemID": "381",
    "ProblemTitle": "Failure rate increase",
    "Tags": "keptn_project:website, keptn_stage:production, keptn_service:front-end",
    "ImpactedEntity": "front-end",
    "ProblemDetails": {"failure_rate": 0.4},
}


async def test_problem_thread_writeback_and_deliveries_api(
    system: tuple[Container, SlackStandIn],
) -> None:
    c, slack = system
    async with client(c) as http:
        r = await http.post("/api/v1/dynatrace/problem", json=DT_OPEN, headers=ADMIN)
        assert r.status_code == 200, r.text
        await settle(c)
        step = CloudEvent(
            type="sh.keptn.event.action.triggered",
            source="selfheal/control",
            data={
                "project": "website",
                "stage": "production",
                "service": "front-end",
                "problem": {
                    "PID": PID,
                    "ProblemID": "381",
                    "ProblemTitle": "Failure rate increase",
                },
                "action": {"action": "toggle-feature", "description": "serve static content"},
            },
            extensions={"shkeptncontext": "ctx-1"},
        )
        await c.runtime.events.publish(step)
        await settle(c)
        comments = await c.monitor.service.comments(PID)
        assert [x.message for x in comments if "triggered action" in x.message] == [
            "Keptn triggered action toggle-feature: serve static content"
        ]
        assert any("thread_ts" in m for m in slack.messages)
        assert sum("thread_ts" not in m for m in slack.messages) == 1

        assert (await http.get("/api/v1/deliveries")).status_code == 401
        listed = (await http.get(f"/api/v1/deliveries?problem={PID}", headers=ADMIN)).json()
        kinds = {(d["integration"], d["kind"], d["status"]) for d in listed["deliveries"]}
        assert ("slack", "thread", "succeeded") in kinds
        assert ("problem-comments", "comment", "succeeded") in kinds
        assert "xoxb-bot" not in json.dumps(listed)
        by_ctx = (await http.get("/api/v1/deliveries?context=ctx-1", headers=ADMIN)).json()
        assert by_ctx["totalCount"] >= 2

        page = await http.get("/deliveries")
        assert page.status_code == 303
        assert page.headers["location"] == "/login?next=%2Fdeliveries"


async def test_dead_letter_listed_and_retried_by_hand(
    system: tuple[Container, SlackStandIn],
) -> None:
    c, slack = system
    slack.fail(2, status=503)
    async with client(c) as http:
        await http.post("/api/v1/dynatrace/problem", json=DT_OPEN, headers=ADMIN)
        await settle(c)
        dead = (await http.get("/api/v1/deliveries/dead-letters", headers=ADMIN)).json()[
            "deliveries"
        ]
        assert [(d["integration"], d["attempts"], d["http_status"]) for d in dead] == [
            ("slack", 2, 503)
        ]
        retried = await http.post(f"/api/v1/deliveries/{dead[0]['id']}/retry", headers=ADMIN)
        assert retried.json()["status"] == "succeeded"
        again = await http.post(f"/api/v1/deliveries/{dead[0]['id']}/retry", headers=ADMIN)
        assert again.status_code == 409


def signed(body: bytes, *, secret: str = SIGNING, age: float = 0) -> dict[str, str]:
    ts = str(int(time.time() - age))
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": slack_signature(secret, ts, body),
        "Content-Type": "application/x-www-form-urlencoded",
    }


async def test_slack_interactive_endpoint_verifies_and_approves(
    system: tuple[Container, SlackStandIn],
) -> None:
    c, _slack = system
    payload = {
        "type": "block_actions",
        "user": {"id": "U1", "username": "jane"},
        "actions": [{"action_id": "selfheal_approve", "value": "no-such-context"}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    async with client(c) as http:
        assert (await http.post("/api/v1/slack/interactive", content=body)).status_code == 401
        stale = await http.post(
            "/api/v1/slack/interactive", content=body, headers=signed(body, age=600)
        )
        assert stale.status_code == 401
        forged = await http.post(
            "/api/v1/slack/interactive", content=body, headers=signed(body, secret="x" * 20)
        )
        assert forged.status_code == 401
        ok = await http.post("/api/v1/slack/interactive", content=body, headers=signed(body))
        assert ok.status_code == 200
        assert ok.json()["text"].startswith("not done:")  # the control plane knows no such sequence
    await asyncio.sleep(0)


async def test_problem_escalated_event_reaches_the_notifiers(
    system: tuple[Container, SlackStandIn],
) -> None:
    """An exhausted remediation is no `action.triggered`: its own event, still told to people."""
    c, slack = system
    event = CloudEvent(
        type="sh.selfheal.problem.escalated",
        source="selfheal/control",
        data={
            "project": "website",
            "stage": "production",
            "service": "front-end",
            "problem": {"PID": PID, "ProblemID": "381", "ProblemTitle": "Failure rate increase"},
            "reason": "exhausted",
            "message": "no more remediation actions",
        },
        extensions={"shkeptncontext": "ctx-esc"},
    )
    await c.runtime.events.publish(event)
    await settle(c)
    for _ in range(100):
        if any("needs a human" in json.dumps(m) for m in slack.messages):
            break
        await asyncio.sleep(0.02)
    text = json.dumps(slack.messages)
    assert "needs a human" in text and "no more remediation actions" in text
    assert "website/production/front-end" in text


async def test_a_plugin_is_handed_one_notification_at_a_time(
    system: tuple[Container, SlackStandIn],
) -> None:
    """Its two subscriptions and the escalations all take turns at a plugin: a plugin's
    remembered state (a thread's link) is changed by one of them at a time."""
    c, _ = system
    component = c.integrations
    plugin = component.plugins["slack"]
    busy: list[int] = [0, 0]  # now, most at once

    async def slow_notify(n: object) -> None:
        busy[0] += 1
        busy[1] = max(busy)
        await asyncio.sleep(0.02)
        busy[0] -= 1

    plugin.notify = slow_notify  # type: ignore[method-assign]
    opened = CloudEvent(
        type="sh.keptn.event.remediation.triggered",
        source="test",
        data={"project": "website", "stage": "production", "service": "front-end"},
        extensions={"shkeptncontext": "ctx-turns"},
    )
    mitigated = CloudEvent(
        type="sh.selfheal.problem.mitigated",
        source="test",
        data={"project": "website", "stage": "production", "service": "front-end"},
        extensions={"shkeptncontext": "ctx-turns"},
    )
    keptn = component._handler("slack")
    course = component._handler("slack", only=(mitigated.type,))
    note = component._notification(opened)
    await asyncio.gather(keptn(opened), course(mitigated), component.broadcast(note))
    assert busy == [0, 1]
