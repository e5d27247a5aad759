"""Slack request shapes (chat.postMessage threads, incoming webhooks) against the stand-in,
through slack-sdk's own client as a cross-check of the wire format."""

from __future__ import annotations

import asyncio

from slack_sdk import WebClient

from selfheal.delivery import DeliveryQuery
from selfheal.integrations import messages as m
from selfheal.integrations.slack import APPROVE, create
from selfheal.integrations.standins import SlackStandIn, serve
from tests.integration.integrations.harness import CTX, UI, Harness, ev, scope, story

BOT = "xoxb-1111-2222-abcdef"


async def test_bot_one_thread_per_problem_with_replies() -> None:
    slack = SlackStandIn(token=BOT)
    h = Harness({"bot": BOT})
    async with serve(slack.app) as url:
        p = create(
            "slack",
            {"bot_token": {"secret": "bot"}, "channel": "#ops", "api_url": f"{url}/api"},
            h.context("slack"),
        )
        for n in story():
            await p.notify(n)
    roots = [x for x in slack.messages if "thread_ts" not in x]
    replies = [x for x in slack.messages if "thread_ts" in x]
    assert len(roots) == 1
    assert roots[0]["channel"] == "#ops"
    assert "[PROBLEM] website - front-end - production - Failure rate increase" in roots[0]["text"]
    assert len(replies) == 6
    assert {r["thread_ts"] for r in replies} == {roots[0]["ts"]}
    assert any("Keptn finished execution of action" in r["text"] for r in replies)
    for rec in slack.requests:
        assert rec.path == "/api/chat.postMessage"
        assert rec.headers["authorization"] == f"Bearer {BOT}"
        assert rec.headers["content-type"].startswith("application/json")
        body = rec.json()
        assert body["blocks"][0]["type"] == "section"


async def test_slack_sdk_reads_our_stand_in_like_slack() -> None:
    """The official SDK posts the same shape we do and accepts the stand-in's answers."""
    slack = SlackStandIn(token=BOT)
    async with serve(slack.app) as url:
        client = WebClient(token=BOT, base_url=f"{url}/api/")
        root = await asyncio.to_thread(client.chat_postMessage, channel="#ops", text="root")
        reply = await asyncio.to_thread(
            client.chat_postMessage, channel="#ops", text="reply", thread_ts=root["ts"]
        )
    assert reply["ok"] is True
    sdk = slack.requests[1]
    assert sdk.headers["authorization"] == f"Bearer {BOT}"
    assert sdk.json()["thread_ts"] == root["ts"]


async def test_incoming_webhook_and_approval_buttons() -> None:
    slack = SlackStandIn()
    async with serve(slack.app) as url:
        hook = f"{url}/services/T000/B000/XXXXXXXXSECRET"
        h = Harness({"hook": hook})
        p = create("slack", {"webhook_url": {"secret": "hook"}}, h.context("slack"))
        approval = m.notification_of(ev("sh.keptn.event.approval.triggered", scope()), ui_url=UI)
        assert approval is not None
        await p.notify(approval)
    [msg] = slack.messages
    actions = msg["blocks"][-1]
    assert actions["type"] == "actions"
    assert [e["action_id"] for e in actions["elements"]] == [APPROVE, "selfheal_reject"]
    assert actions["elements"][0]["value"] == CTX
    [delivery] = await h.store.find(DeliveryQuery())
    assert "XXXXXXXXSECRET" not in delivery.target
    assert delivery.status == "succeeded"


async def test_ok_false_is_a_failure() -> None:
    slack = SlackStandIn(token="xoxb-other")
    h = Harness({"bot": BOT})
    async with serve(slack.app) as url:
        p = create(
            "slack",
            {"bot_token": {"secret": "bot"}, "channel": "#ops", "api_url": f"{url}/api"},
            h.context("slack"),
        )
        await p.notify(story()[0])
    [d] = await h.store.find(DeliveryQuery())
    assert d.status == "dead"
    assert d.error == "invalid_auth"
    assert d.attempts == 1
