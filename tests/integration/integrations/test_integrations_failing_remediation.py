"""A failing integration never blocks a remediation, through the whole system: the seed's
problemopen.json through the Keptn API heals the website (flag on, sequence remediated) while
the Jira stand-in hangs past the timeout and Slack answers 500; the outbox goes on retrying on
the clock in the background and ends in the dead letters.

(tests/system covers Jira alone failing on the monitor's own problems; this is both notifiers
at once on a problem from outside.)
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from selfheal.bootstrap import Container, build
from selfheal.bus import MemoryBus
from selfheal.core import ManualClock
from selfheal.delivery import DeliveryQuery
from selfheal.integrations import IntegrationsSettings
from selfheal.integrations.standins import JiraStandIn, SlackStandIn, serve
from selfheal.monitor import MonitorSettings
from selfheal.settings import Settings
from selfheal.web import create_app
from tests.support.paths import SEED
from tests.system.test_system_outside import dynatrace_resolved

ADMIN = {"Authorization": "*:*.admin-secret"}
FLAG = "EnableStaticContent"
ATTEMPTS = 3
YAML = """\
integrations:
  - name: jira
    type: jira
    config:
      url: {jira}
      user: bot@example.com
      token: {{secret: jira-token}}
      project_key: OPS
      sync_comments: false
  - name: slack
    type: slack
    config:
      bot_token: {{secret: slack-bot}}
      channel: "#ops"
      api_url: {slack}/api
"""


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


async def until(what: str, check: Callable[[], Awaitable[bool]]) -> None:
    """Poll (bounded) while background work runs; the clock stands still meanwhile."""
    for _ in range(500):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{what} did not happen")


async def setup_website(http: httpx.AsyncClient) -> None:
    r = await http.post(
        "/api/admin/projects/default/features",
        json={"name": FLAG, "type": "kill-switch"},
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text
    r = await http.post(
        "/api/controlPlane/v1/project",
        json={"projectName": "website", "shipyard": b64(SEED / "shipyard.yaml")},
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text
    r = await http.post(
        "/api/controlPlane/v1/project/website/service",
        json={"serviceName": "front-end"},
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text
    r = await http.post(
        "/api/configuration-service/v1/project/website/stage/production/service/front-end/resource",
        json={
            "resources": [
                {
                    "resourceURI": "remediation.yaml",
                    "resourceContent": b64(SEED / "remediations.yaml"),
                }
            ]
        },
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text


async def test_remediation_completes_while_jira_hangs_and_slack_fails(
    settings: Settings, tmp_path: Path
) -> None:
    jira, slack = JiraStandIn(), SlackStandIn("xoxb-bot")
    jira.fail(1000, delay=1.0)  # every request hangs past the 0.3 s timeout
    slack.fail(1000, status=500)
    clock = ManualClock()
    async with serve(jira.app) as jira_url, serve(slack.app) as slack_url:
        path = tmp_path / "integrations.yaml"
        path.write_text(YAML.format(jira=jira_url, slack=slack_url))
        s = settings.model_copy(
            update={
                "admin_password": SecretStr("pw"),
                "monitor": MonitorSettings(run_loops=False),
                "integrations": IntegrationsSettings(
                    file=str(path),
                    secrets={
                        "jira-token": SecretStr("jira-token-0123"),
                        "slack-bot": SecretStr("xoxb-bot"),
                    },
                    max_attempts=ATTEMPTS,
                    backoff_seconds=5.0,
                    timeout_seconds=0.3,
                ),
            }
        )
        c = await build(s, bus=MemoryBus(), clock=clock)
        await c.start()
        try:
            app = create_app(c, manage_lifecycle=False)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://selfheal") as http:
                await run(c, clock, http, jira, slack)
        finally:
            await c.stop()


async def deliveries(c: Container, integration: str) -> list[Any]:
    return await c.integrations.store.find(DeliveryQuery(integration=integration))


async def run(
    c: Container,
    clock: ManualClock,
    http: httpx.AsyncClient,
    jira: JiraStandIn,
    slack: SlackStandIn,
) -> None:
    await setup_website(http)
    opened: dict[str, Any] = json.loads((SEED / "problemopen.json").read_text())
    r = await http.post(
        "/api/v1/event", json=copy.deepcopy(opened), headers={"x-token": ADMIN["Authorization"]}
    )
    assert r.status_code == 200, r.text
    context = r.json()["keptnContext"]

    async def flag_on() -> bool:
        return bool((await c.flags.service.get_flag(FLAG)).env("production").enabled)

    async def sequences() -> list[dict[str, Any]]:
        r = await http.get("/api/controlPlane/v1/sequence/website", headers=ADMIN)
        return list(r.json()["states"])

    await until("the flag flip", flag_on)

    # both notifiers failed their first attempt and now back off on the (standing) clock
    async def both_backing_off() -> bool:
        rows = [*await deliveries(c, "jira"), *await deliveries(c, "slack")]
        kinds = {d.integration for d in rows if d.status == "pending" and d.attempts >= 1}
        return kinds == {"jira", "slack"}

    await until("both notifiers backing off", both_backing_off)

    r = await http.post(
        "/api/v1/event",
        json=dynatrace_resolved("https://abc123.live.dynatrace.com/#problems"),
        headers={"x-token": ADMIN["Authorization"]},
    )
    assert r.status_code == 200, r.text

    async def remediated() -> bool:
        seqs = await sequences()
        return len(seqs) == 1 and seqs[0]["state"] == "finished"

    await until("the end of the sequence", remediated)
    [seq] = await sequences()
    assert seq["shkeptncontext"] == context
    assert seq["outcome"] == "remediated", seq["message"]
    assert await flag_on()
    rows = [*await deliveries(c, "jira"), *await deliveries(c, "slack")]
    assert not any(d.status == "succeeded" for d in rows)
    assert any(d.status == "pending" for d in rows)  # still retrying, in the background

    # time passes: every retry runs out, and each delivery lands in the dead letters
    for _ in range(300):
        rows = [*await deliveries(c, "jira"), *await deliveries(c, "slack")]
        if rows and all(d.status != "pending" for d in rows):
            break
        await clock.advance(1)
        await asyncio.sleep(0.02)
    dead = (await http.get("/api/v1/deliveries/dead-letters", headers=ADMIN)).json()["deliveries"]
    assert {d["integration"] for d in dead} == {"jira", "slack"}
    assert all(d["status"] == "dead" for d in dead)
    create = [d for d in dead if d["kind"] == "issue.create"]
    assert [(d["attempts"], d["error"]) for d in create] == [(ATTEMPTS, "timed out")]
    slack_dead = [d for d in dead if d["integration"] == "slack"]
    assert slack_dead and all(d["http_status"] == 500 for d in slack_dead)
    assert any(d["attempts"] == ATTEMPTS for d in slack_dead)
    assert jira.issues == {} and slack.messages == []
    assert "xoxb-bot" not in json.dumps(dead) and "jira-token-0123" not in json.dumps(dead)
    # and the remediation's outcome never changed
    [seq] = await sequences()
    assert seq["outcome"] == "remediated" and await flag_on()
