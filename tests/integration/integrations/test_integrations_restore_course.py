"""The restore's course against the Jira and Slack stand-ins, over a socket: comments on the
problem's ticket, `mitigated_transition`, the restored end resolving the ticket once, and
replies in the problem's thread in configured words."""

from __future__ import annotations

from typing import Any

from selfheal.core import CloudEvent
from selfheal.integrations.jira import adf_text
from selfheal.integrations.jira import create as jira_plugin
from selfheal.integrations.messages import Notification, notification_of
from selfheal.integrations.slack import create as slack_plugin
from selfheal.integrations.standins import JiraStandIn, SlackStandIn, serve
from tests.integration.integrations.harness import CTX, PID, UI, Harness, story

BOT = "xoxb-course"


def course(*events: tuple[str, dict[str, Any]]) -> list[Notification]:
    scope = {
        "project": "website",
        "stage": "production",
        "service": "front-end",
        "problemId": PID,
        "flag": "EnableStaticContent",
    }
    out = []
    for type_, data in events:
        n = notification_of(
            CloudEvent(
                type=type_,
                source="selfheal/restore",
                data={**scope, **data},
                extensions={"shkeptncontext": CTX},
            ),
            ui_url=UI,
        )
        assert n is not None
        out.append(n)
    return out


MITIGATED = ("sh.selfheal.problem.mitigated", {"since": "2026-12-06T07:47:54Z"})
STEP = ("sh.selfheal.restore.step", {"step": 0, "fallbackPercent": 90, "steps": 3})
RESTORED = (
    "sh.keptn.event.restore.finished",
    {"outcome": "restored", "result": "pass", "message": "restored after 1m05s on the fallback"},
)


async def test_jira_comments_the_course_and_transitions_once_each() -> None:
    jira = JiraStandIn()
    h = Harness({"jira": "jira-token-course"})
    opened, *steps, _finished, resolved = story()
    async with serve(jira.app) as url:
        p = jira_plugin(
            "jira",
            {
                "url": url,
                "user": "bot@example.com",
                "token": {"secret": "jira"},
                "project_key": "OPS",
                "sync_comments": False,
                "mitigated_transition": "In Progress",
            },
            h.context("jira"),
        )
        for n in [opened, *steps, *course(MITIGATED, STEP)]:
            await p.notify(n)
        [issue] = jira.issues.values()
        assert issue["status"] == "In Progress"
        for n in [*course(RESTORED), resolved]:
            await p.notify(n)
    texts = [adf_text(c["body"]).split("\n")[0] for c in issue["comments"]]
    assert texts[-4:] == [
        "mitigated: served by the fallback (EnableStaticContent) since 07:47:54 UTC;"
        " origin not yet verified",
        "restore step 1 of 3: 10 % of users on the origin",
        "restored after 1m05s on the fallback",
        "Problem resolved: Failure rate increase",
    ]
    assert issue["status"] == "Done"
    posts = [r.json() for r in jira.to("/transitions") if r.method == "POST"]
    assert posts == [{"transition": {"id": "21"}}, {"transition": {"id": "31"}}]
    # the RESOLVED after the restored end found the ticket resolved: it did not even ask
    lists = [r for r in jira.to("/transitions") if r.method == "GET"]
    assert len(lists) == 2


async def test_jira_opens_no_ticket_for_the_course_alone() -> None:
    jira = JiraStandIn()
    h = Harness({"jira": "jira-token-course"})
    async with serve(jira.app) as url:
        p = jira_plugin(
            "jira",
            {"url": url, "token": {"secret": "jira"}, "project_key": "OPS", "sync_comments": False},
            h.context("jira"),
        )
        for n in course(MITIGATED, STEP, RESTORED):
            await p.notify(n)
    assert jira.requests == [] and jira.issues == {}


async def test_slack_replies_in_the_problems_thread_in_configured_words() -> None:
    slack = SlackStandIn(token=BOT)
    h = Harness({"bot": BOT})
    async with serve(slack.app) as url:
        p = slack_plugin(
            "slack",
            {
                "bot_token": {"secret": "bot"},
                "channel": "#ops",
                "api_url": f"{url}/api",
                "messages": {"restore.step": "{{.data.fallbackPercent}} % still on the CDN"},
            },
            h.context("slack"),
        )
        for n in [story()[0], *course(MITIGATED, STEP, RESTORED)]:
            await p.notify(n)
    root, *replies = slack.messages
    assert "thread_ts" not in root
    assert all(m["thread_ts"] == root["ts"] for m in replies)
    assert [m["text"] for m in replies] == [
        ":large_blue_circle: mitigated: served by the fallback (EnableStaticContent) since"
        " 07:47:54 UTC; origin not yet verified (website / production / front-end)",
        ":arrow_forward: 90 % still on the CDN (website / production / front-end)",
        ":large_green_circle: restored after 1m05s on the fallback"
        " (website / production / front-end)",
    ]
