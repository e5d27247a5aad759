"""Both halves of the loop as people follow them in Jira and Slack (stand-ins on real sockets):
the problem's ticket and thread show it mitigated, the origin verified, each restore step and
the restore's end, and the ticket moves to "In Progress" then "Done". A restore that needs an
approval asks in the thread with Approve/Reject buttons, and a signed click lets it step.

The website is real (its metrics scraped and its page probed over sockets), the kill switch is
the flags service's, the clock is manual.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from selfheal.integrations.jira import adf_text
from selfheal.integrations.signatures import slack_signature
from tests.system.loop import Loop, loop_settings, running
from tests.system.standins import SLACK_SIGNING, StandIns, standins
from tests.system.test_system_integrations import problem_thread
from tests.system.test_system_seed_loop import open_problem

REMEDIATION = """\
remediations:
- name: "Failure rate increase"
  actions:
  - action: featuretoggle
    value: EnableStaticContent:on
  restore:
    probe: {consecutive: 2, intervalSeconds: 1}
    steps: [90, 50, 0]
    holdSeconds: 3
    approval: %s
"""
JIRA = "      mitigated_transition: In Progress\n"
SLACK = (
    "      signing_secret: {secret: slack-signing}\n"
    "      messages:\n"
    '        restore.finished: "back on the origin - {{.message}}"\n'
)
COURSE = (
    "restore armed: verifying the origin, then 90 → 50 → 0 % on the fallback",
    "origin verified (2 probes ok)",
    "restore step 1 of 3: 10 % of users on the origin",
    "restore step 2 of 3: 50 % of users on the origin",
    "restore step 3 of 3: 100 % of users on the origin (the kill switch is off)",
)
MITIGATED = "mitigated: served by the fallback (EnableStaticContent) since "


async def second(loop: Loop) -> None:
    """One second of traffic and scraping, then the restores that are due."""
    await loop.second()
    await loop.container.control.restores.poll()
    await loop.settle()


async def until(loop: Loop, what: str, done: Callable[[], Awaitable[bool]], limit: int) -> None:
    for _ in range(limit):
        await second(loop)
        if await done():
            return
    raise AssertionError(f"{what} did not happen within {limit} simulated seconds")


async def restore(loop: Loop) -> dict[str, Any]:
    [only] = (await loop.get("/api/v1/restores"))["restores"]
    return dict(only)


async def in_state(loop: Loop, state: str, limit: int = 60) -> dict[str, Any]:
    async def reached() -> bool:
        found = (await loop.get("/api/v1/restores"))["restores"]
        return bool(found) and found[0]["state"] == state

    await until(loop, f"restore {state}", reached, limit)
    return await restore(loop)


async def mitigate(loop: Loop, approval: bool) -> dict[str, Any]:
    """The fault until the kill switch masks it and the problem is mitigated; then the
    fault clears (the origin answers its probes again)."""
    site = loop.metrics_url.removesuffix("/metrics")
    await loop.setup(
        REMEDIATION % str(approval).lower(),
        probe={"url": f"{site}/", "interval_seconds": 1, "consecutive": 2},
    )
    problem = await open_problem(loop)

    async def mitigated() -> bool:
        got = await loop.get(f"/api/v2/problems/{problem['problemId']}")
        return bool(got["mitigated"])

    await until(loop, "mitigated", mitigated, limit=30)
    loop.website.fault = False
    return problem


def comments(s: StandIns) -> list[str]:
    """The ticket's comments, each its text without the sequence link below it."""
    [issue] = s.jira.issues.values()
    return [adf_text(c["body"]).split("\n")[0] for c in issue["comments"]]


def thread(s: StandIns) -> list[dict[str, Any]]:
    root = problem_thread(s)
    return [m for m in s.slack.messages if m.get("thread_ts") == root["ts"]]


def lines(messages: list[dict[str, Any]]) -> list[str]:
    """Slack messages' texts without their icon (`:gear: …`)."""
    return [str(m["text"]).split(" ", 1)[-1] for m in messages]


def once(texts: list[str], wanted: str) -> int:
    """The index of the one text starting with `wanted`."""
    found = [i for i, t in enumerate(texts) if t.startswith(wanted)]
    assert len(found) == 1, (wanted, texts)
    return found[0]


def transitions(s: StandIns) -> list[str]:
    posts = [r for r in s.jira.requests if r.method == "POST" and r.path.endswith("/transitions")]
    return [str(r.json()["transition"]["id"]) for r in posts]


async def test_mitigated_and_restored_in_the_ticket_and_the_thread(tmp_path: Path) -> None:
    async with standins() as s:
        settings = loop_settings(tmp_path, s.settings(tmp_path, jira=JIRA, slack=SLACK))
        async with running(settings) as loop:
            await mitigate(loop, approval=False)
            # Jira: mitigated is written on the ticket, which moves to "In Progress"
            [issue] = s.jira.issues.values()
            assert issue["status"] == "In Progress"
            assert transitions(s) == ["21"]
            mitigated = comments(s)[once(comments(s), MITIGATED)]
            assert mitigated.endswith("; origin not yet verified"), mitigated
            slack = lines(thread(s))
            once(slack, MITIGATED)
            assert any(
                str(m["text"]).startswith(":large_blue_circle: " + MITIGATED) for m in thread(s)
            )

            r = await in_state(loop, "restored")
            assert r["outcome"] == "restored"
            [seq] = await loop.sequences()
            assert seq["outcome"] == "restored"

            # the ticket: every line of the restore's course once, the steps in order, then
            # resolved like any resolved problem ("Done", one transition despite two causes)
            texts = comments(s)
            at = [once(texts, line) for line in COURSE]
            assert at[2] < at[3] < at[4]
            restored = texts[once(texts, "restored after ")]
            assert restored.endswith("on the fallback: all users back on the origin")
            once(texts, "restore started: origin verified (2 probes ok)")
            once(texts, "Problem resolved: Failure rate increase")
            assert issue["status"] == "Done"
            assert transitions(s) == ["21", "31"]
            assert len(s.jira.issues) == 1

            # the thread: the same course, the restore's end in the configured words
            slack = lines(thread(s))
            for line in COURSE:
                once(slack, line)
            end = thread(s)[once(slack, "back on the origin - restored after ")]
            assert str(end["text"]).startswith(":large_green_circle: ")
            assert [m for m in s.slack.messages if "thread_ts" not in m] == [problem_thread(s)]
            assert (await loop.get("/api/v1/deliveries/dead-letters"))["deliveries"] == []


def click(action: str, value: str, *, now: float, secret: str = SLACK_SIGNING) -> dict[str, Any]:
    """A button click as Slack posts it to the interactive endpoint, signed (v0)."""
    payload = {
        "type": "block_actions",
        "user": {"id": "U024BE7LH", "username": "jane"},
        "actions": [{"action_id": action, "block_id": "selfheal_approval", "value": value}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    ts = str(int(now))
    return {
        "content": body,
        "headers": {
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": slack_signature(secret, ts, body),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    }


async def test_a_slack_click_approves_a_waiting_restore(tmp_path: Path) -> None:
    async with standins() as s:
        settings = loop_settings(tmp_path, s.settings(tmp_path, jira=JIRA, slack=SLACK))
        async with running(settings) as loop:
            await mitigate(loop, approval=True)
            r = await in_state(loop, "approval")

            # the thread asks, with the buttons of the existing approval path
            [ask] = [m for m in thread(s) if m["blocks"][-1].get("type") == "actions"]
            assert "the restore of EnableStaticContent waits for an approval" in ask["text"]
            buttons = ask["blocks"][-1]["elements"]
            assert [b["action_id"] for b in buttons] == ["selfheal_approve", "selfheal_reject"]
            assert {b["value"] for b in buttons} == {r["id"]}

            # unsigned or forged clicks approve nothing
            forged = click("selfheal_approve", r["id"], now=loop.clock.now(), secret="x" * 24)
            bad = await loop.http.post("/api/v1/slack/interactive", **forged)
            assert bad.status_code == 401
            unsigned = await loop.http.post("/api/v1/slack/interactive", content=forged["content"])
            assert unsigned.status_code == 401
            for _ in range(5):
                await second(loop)
            assert (await restore(loop))["state"] == "approval"

            ok = await loop.http.post(
                "/api/v1/slack/interactive",
                **click("selfheal_approve", r["id"], now=loop.clock.now()),
            )
            assert ok.status_code == 200, ok.text
            assert ok.json()["text"] == "approved by slack:jane"
            await loop.settle()
            assert (await restore(loop))["state"] == "stepping"

            # Keptn's view: the request answered by the approval, in the remediation's context
            events = await loop.events(r["id"])
            [asked] = [e for e in events if e["type"] == "sh.keptn.event.approval.triggered"]
            [answered] = [e for e in events if e["type"] == "sh.keptn.event.approval.finished"]
            assert answered["triggeredid"] == asked["id"]
            assert answered["data"]["approval"] == {"by": "slack:jane", "approved": True}

            r = await in_state(loop, "restored")
            texts = lines(thread(s))
            once(texts, "slack:jane approved the restore")
            once(texts, "restore step 3 of 3: 100 % of users on the origin")
            once(comments(s), "slack:jane approved the restore")
            assert s.jira.issues and next(iter(s.jira.issues.values()))["status"] == "Done"
