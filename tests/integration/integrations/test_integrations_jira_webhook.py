"""Jira's comment webhook against the stand-in, over real sockets both ways: people's comments
reach the problem once (webhook and polling together), ours never echo, secrets are checked."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from selfheal.bootstrap import Container, build
from selfheal.bus import MemoryBus
from selfheal.core import CloudEvent
from selfheal.integrations import IntegrationsSettings
from selfheal.integrations.jira import JiraPlugin
from selfheal.integrations.signatures import hmac_header
from selfheal.integrations.standins import JiraStandIn, serve
from selfheal.settings import Settings
from selfheal.web import create_app

ADMIN = {"Authorization": "*:*.admin-secret"}
HOOK_SECRET = "jira-hook-secret-4567"
TOKEN = "jira-api-token-0123"
PID = "-4349221618435898381"
DT_OPEN = {
    "State": "OPEN",
    "PID": PID,
    "ProblemID": "381",
    "ProblemTitle": "Failure rate increase",
    "Tags": "keptn_project:website, keptn_stage:production, keptn_service:front-end",
    "ImpactedEntity": "front-end",
    "ProblemDetails": {"failure_rate": 0.4},
}
YAML = """\
integrations:
  - name: jira
    type: jira
    config:
      url: {jira}
      api: {api}
      user: bot@example.com
      token: {{secret: jira-token}}
      project_key: OPS
      sync_comments: false
      webhook_secret: {{secret: jira-hook}}
"""


@dataclass
class System:
    container: Container
    jira: JiraStandIn
    url: str

    @property
    def plugin(self) -> JiraPlugin:
        plugin = self.container.integrations.plugins["jira"]
        assert isinstance(plugin, JiraPlugin)
        return plugin

    async def settle(self) -> None:
        bus = self.container.runtime.bus.inner  # type: ignore[attr-defined]
        assert await bus.drain(timeout=10.0)

    async def jira_comments(self) -> list[str]:
        notes = await self.container.monitor.service.comments(PID)
        return [c.message for c in notes if c.context == "jira"]


@pytest.fixture(params=["v3", "v2"])
async def system(
    request: pytest.FixtureRequest, settings: Settings, tmp_path: Path
) -> AsyncIterator[System]:
    jira = JiraStandIn()
    async with serve(jira.app) as jira_url:
        path = tmp_path / "integrations.yaml"
        path.write_text(YAML.format(jira=jira_url, api=request.param))
        integrations = IntegrationsSettings(
            file=str(path),
            secrets={"jira-token": SecretStr(TOKEN), "jira-hook": SecretStr(HOOK_SECRET)},
            max_attempts=2,
            backoff_seconds=0.0,
        )
        s = settings.model_copy(update={"integrations": integrations})
        c = await build(s, bus=MemoryBus())
        await c.start()
        try:
            async with serve(create_app(c, manage_lifecycle=False)) as url:
                yield System(c, jira, url)
        finally:
            await c.stop()


async def open_ticket(s: System) -> str:
    """A problem the monitor knows, its Jira issue, and one step commented by us."""
    async with httpx.AsyncClient(base_url=s.url) as http:
        r = await http.post("/api/v1/dynatrace/problem", json=DT_OPEN, headers=ADMIN)
        assert r.status_code == 200, r.text
    await s.settle()
    step = CloudEvent(
        type="sh.keptn.event.action.triggered",
        source="selfheal/control",
        data={
            "project": "website",
            "stage": "production",
            "service": "front-end",
            "problem": {"PID": PID, "ProblemID": "381", "ProblemTitle": "Failure rate increase"},
            "action": {"action": "toggle-feature", "description": "serve static content"},
        },
        extensions={"shkeptncontext": "ctx-1"},
    )
    await s.container.runtime.events.publish(step)
    await s.settle()
    [key] = s.jira.issues
    return key


async def test_human_comments_arrive_once_and_ours_never_echo(system: System) -> None:
    s = system
    s.jira.subscribe(f"{s.url}/api/v1/jira/webhook?secret={HOOK_SECRET}")
    key = await open_ticket(s)
    # our comments were announced to the webhook before Jira answered our POSTs: no echo
    ours = len(s.jira.issues[key]["comments"])
    assert ours >= 1 and s.jira.hook_answers == [200] * ours
    assert await s.jira_comments() == []

    await s.jira.comment_as_human(key, "Looking into the CDN now")
    await s.settle()
    assert await s.jira_comments() == ["Looking into the CDN now"]
    notes = await s.container.monitor.service.comments(PID)
    assert [n.author for n in notes if n.context == "jira"] == [f"Jane Operator (Jira {key})"]

    # polling reads the same comments: nothing new; the webhook again: nothing new
    assert await s.plugin.sync_comments() == 0
    comment = s.jira.issues[key]["comments"][-1]
    await s.jira._announce(key, comment)
    await s.settle()
    assert await s.jira_comments() == ["Looking into the CDN now"]
    assert s.jira.hook_answers == [200] * (ours + 2)


async def test_polled_first_then_webhook_is_not_written_twice(system: System) -> None:
    s = system
    key = await open_ticket(s)
    s.jira.human_comment(key, "Rolled back the CDN config")  # no hook registered yet
    assert await s.plugin.sync_comments() == 1
    s.jira.subscribe(f"{s.url}/api/v1/jira/webhook", hmac_secret=HOOK_SECRET)
    await s.jira._announce(key, s.jira.issues[key]["comments"][-1])
    await s.settle()
    assert await s.jira_comments() == ["Rolled back the CDN config"]
    assert s.jira.hook_answers == [200]


async def test_webhook_needs_the_shared_secret(system: System) -> None:
    s = system
    key = await open_ticket(s)
    body = json.dumps(
        {
            "webhookEvent": "comment_created",
            "issue": {"key": key},
            "comment": {
                "id": "99",
                "body": "forged",
                "author": {"displayName": "Mallory", "accountId": "x"},
            },
        }
    ).encode()
    route = "/api/v1/jira/webhook"
    async with httpx.AsyncClient(base_url=s.url) as http:
        assert (await http.post(route, content=body)).status_code == 401
        assert (await http.post(f"{route}?secret=wrong", content=body)).status_code == 401
        forged = {"X-Hub-Signature": hmac_header("wrong-secret", body)}
        assert (await http.post(route, content=body, headers=forged)).status_code == 401
        r = await http.post(f"{route}?secret={HOOK_SECRET}", content=b"not json")
        assert r.status_code == 400
        signed = {"X-Hub-Signature": hmac_header(HOOK_SECRET, body)}
        r = await http.post(route, content=body, headers=signed)
        assert r.status_code == 200 and r.json() == {"accepted": 1}
        other = json.dumps({"webhookEvent": "jira:issue_updated", "issue": {"key": key}})
        r = await http.post(f"{route}?secret={HOOK_SECRET}", content=other)
        assert r.json() == {"accepted": 0}
        unknown = body.replace(key.encode(), b"OPS-999")
        r = await http.post(f"{route}?secret={HOOK_SECRET}", content=unknown)
        assert r.json() == {"accepted": 0}
    await s.settle()
    assert await s.jira_comments() == ["forged"]
    assert HOOK_SECRET not in json.dumps(
        await s.container.monitor.service.comments(PID), default=str
    )
