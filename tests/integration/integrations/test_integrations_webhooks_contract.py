"""Generic webhooks: templated body, HMAC signature header, event filter, retries."""

from __future__ import annotations

import hashlib
import hmac
import json

from selfheal.delivery import DeliveryQuery
from selfheal.integrations.standins import SinkStandIn, serve
from selfheal.integrations.webhooks import create
from tests.integration.integrations.harness import CTX, Harness, story

SECRET = "hmac-shared-secret"


async def test_templated_signed_body_for_selected_events() -> None:
    sink = SinkStandIn()
    h = Harness({"hmac": SECRET, "key": "api-key-value"})
    async with serve(sink.app) as url:
        p = create(
            "hook",
            {
                "url": f"{url}/notify",
                "events": ["sh.keptn.event.*.remediation.finished", "sh.keptn.events.problem"],
                "body": '{"text": "{{.message}}", "project": "{{.data.project}}", "ctx": "{{.shkeptncontext}}"}',
                "hmac_secret": {"secret": "hmac"},
                "secret_headers": {"X-Api-Key": {"secret": "key"}},
                "headers": {"X-Team": "sre"},
            },
            h.context("hook"),
        )
        sink.fail(1, status=502)
        for n in story():
            await p.notify(n)
    delivered = list(sink.requests)
    assert len(delivered) == 4  # open (after one 502 retry), finished, resolved
    last = delivered[-1]
    body = json.loads(last.body)
    assert body == {
        "text": "Problem resolved: Failure rate increase",
        "project": "website",
        "ctx": CTX,
    }
    expected = "sha256=" + hmac.new(SECRET.encode(), last.body, hashlib.sha256).hexdigest()
    assert last.headers["x-selfheal-signature-256"] == expected
    assert last.headers["x-api-key"] == "api-key-value"
    assert last.headers["x-team"] == "sre"
    finished = json.loads(delivered[2].body)
    assert finished["project"] == "website"
    records = await h.store.find(DeliveryQuery())
    assert len(records) == 3 and all(d.status == "succeeded" for d in records)
    assert max(d.attempts for d in records) == 2
    assert "api-key-value" not in str([d.public() for d in records])


async def test_default_body_is_the_cloudevent() -> None:
    sink = SinkStandIn()
    h = Harness({})
    async with serve(sink.app) as url:
        p = create("hook", {"url": f"{url}/ce"}, h.context("hook"))
        await p.notify(story()[1])
    sent = sink.requests[0].json()
    assert sent["type"] == "sh.keptn.event.action.triggered"
    assert sent["shkeptncontext"] == CTX
    assert sent["specversion"] == "1.0"
