"""Jira Cloud (v3) and Server (v2) request shapes against the local stand-in, over a socket."""

from __future__ import annotations

import base64

import pytest

from selfheal.integrations.jira import JiraPlugin, create
from selfheal.integrations.standins import JiraStandIn, serve
from tests.integration.integrations.harness import PID, Harness, story

TOKEN = "jira-api-token-123"


def plugin(h: Harness, url: str, api: str = "v3", **extra: object) -> JiraPlugin:
    config = {
        "url": url,
        "api": api,
        "user": "bot@example.com",
        "token": {"secret": "jira"},
        "project_key": "OPS",
        "sync_comments": False,
        **extra,
    }
    return create("jira", config, h.context("jira"))


async def test_cloud_v3_ticket_comments_and_transition() -> None:
    jira = JiraStandIn()
    h = Harness({"jira": TOKEN})
    async with serve(jira.app) as url:
        p = plugin(h, url)
        for n in story():
            await p.notify(n)
    assert list(jira.issues) == ["OPS-1"]
    issue = jira.issues["OPS-1"]
    fields = issue["fields"]
    assert fields["summary"] == "[PROBLEM] website - front-end - production - Failure rate increase"
    assert fields["issuetype"] == {"name": "Bug"}
    assert fields["project"] == {"key": "OPS"}
    assert {"keptn_project:website", "keptn_service:front-end", "keptn_stage:production"} <= set(
        fields["labels"]
    )
    assert fields["description"]["type"] == "doc" and fields["description"]["version"] == 1
    text = str(fields["description"])
    assert (
        "http://selfheal.test/problems/" in text and "http://selfheal.test/bridge/sequence/" in text
    )
    assert "failure_rate" in text
    bodies = [str(c["body"]) for c in issue["comments"]]
    assert len(bodies) == 6  # 4 steps, the sequence result, the resolution
    assert "Keptn triggered action toggle-feature: serve static content" in bodies[0]
    assert "Keptn remediation evaluation resulted in pass (100/100)" in bodies[3]
    assert issue["status"] == "Done"
    first = next(r for r in jira.requests if r.method == "POST" and r.path == "/rest/api/3/issue")
    assert (
        first.headers["authorization"]
        == "Basic " + base64.b64encode(f"bot@example.com:{TOKEN}".encode()).decode()
    )
    assert first.headers["content-type"] == "application/json"
    searches = [r for r in jira.requests if r.path == "/rest/api/3/search/jql"]
    assert searches and "selfheal_problem" in searches[0].query
    transition = [
        r for r in jira.requests if r.path.endswith("/transitions") and r.method == "POST"
    ]
    assert transition[0].json() == {"transition": {"id": "31"}}
    assert all(d.status == "succeeded" for d in await h.store.find(_q()))


async def test_server_v2_plain_text_and_bearer() -> None:
    jira = JiraStandIn()
    h = Harness({"jira": TOKEN})
    async with serve(jira.app) as url:
        p = plugin(h, url, api="v2", auth="bearer")
        for n in story()[:3]:
            await p.notify(n)
    issue = jira.issues["OPS-1"]
    assert isinstance(issue["fields"]["description"], str)
    assert all(isinstance(c["body"], str) for c in issue["comments"])
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in jira.requests)
    assert all(r.path.startswith("/rest/api/2/") for r in jira.requests)


async def test_one_ticket_after_restart() -> None:
    """A fresh plugin with lost state finds the issue again by its label instead of a duplicate."""
    jira = JiraStandIn()
    async with serve(jira.app) as url:
        await plugin(Harness({"jira": TOKEN}), url).notify(story()[0])
        fresh = Harness({"jira": TOKEN})  # no links, no deliveries: as if the database were new
        p = plugin(fresh, url)
        for n in story()[1:3]:
            await p.notify(n)
    assert list(jira.issues) == ["OPS-1"]
    assert len(jira.issues["OPS-1"]["comments"]) == 2


async def test_comments_flow_back() -> None:
    jira = JiraStandIn()
    h = Harness({"jira": TOKEN})
    async with serve(jira.app) as url:
        p = plugin(h, url)
        for n in story()[:2]:
            await p.notify(n)
        jira.human_comment("OPS-1", "Looking into the CDN now")
        assert await p.sync_comments() == 1
        assert await p.sync_comments() == 0  # each comment once; ours never echo back
    [event] = h.emitted
    assert event.type == "sh.selfheal.integrations.comment"
    assert event.data["problem"] == PID
    assert event.data["message"] == "Looking into the CDN now"
    assert "Jane Operator" in event.data["author"]


@pytest.mark.parametrize("fault", ["500", "429", "timeout"])
async def test_faults_retry_then_dead_letter(fault: str) -> None:
    jira = JiraStandIn()
    h = Harness({"jira": TOKEN}, attempts=3, timeout=0.3)
    async with serve(jira.app) as url:
        p = plugin(h, url)
        if fault == "500":
            jira.fail(10, status=500)
        elif fault == "429":
            jira.fail(10, status=429, retry_after=3)
        else:
            jira.fail(10, delay=1.0)
        await p.notify(story()[0])
    dead = await h.store.find(_q(status="dead"))
    assert {d.kind for d in dead} >= {"issue.create"}
    create = next(d for d in dead if d.kind == "issue.create")
    assert create.attempts == 3
    assert TOKEN not in str(create.public())
    if fault == "429":
        assert 3.0 in h.clock.sleeps
        assert create.http_status == 429
    if fault == "timeout":
        assert create.error == "timed out"
    # the stand-in recovers: a manual retry of the dead letter opens the ticket
    jira.faults.clear()
    async with serve(jira.app) as url2:
        p2 = plugin(h, url2)
        again = await h.outbox.retry(create.id)
        assert p2 is not None
    assert again.status == "succeeded"
    assert list(jira.issues) == ["OPS-1"]


def _q(**kw: object):  # type: ignore[no-untyped-def]
    from selfheal.delivery import DeliveryQuery

    return DeliveryQuery(**kw)  # type: ignore[arg-type]
