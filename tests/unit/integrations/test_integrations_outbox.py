from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from selfheal.integrations.deliveries import DeliveryQuery, MemoryDeliveryStore
from selfheal.integrations.errors import NotRetryable
from selfheal.integrations.outbox import HttpSender, Outbox, RetryPolicy
from selfheal.integrations.redaction import Redactor
from selfheal.integrations.transport import HttpRequest, HttpResponse, MemoryHttp, TransportFailure
from tests.unit.integrations.fakes import RecordingClock

TOKEN = "super-secret-token-value"


def make(http: MemoryHttp, attempts: int = 4) -> tuple[Outbox, RecordingClock, MemoryDeliveryStore]:
    clock = RecordingClock()
    store = MemoryDeliveryStore()
    outbox = Outbox(
        store, clock, policy=RetryPolicy(attempts, 1.0, 30.0), registry=CollectorRegistry()
    )
    redactor = Redactor([TOKEN])

    async def build(args: Mapping[str, Any]) -> HttpRequest:
        return HttpRequest(
            "POST",
            f"https://jira.example/rest/api/3/issue?token={TOKEN}",
            {"Authorization": f"Bearer {TOKEN}"},
            json={"n": args["n"]},
        )

    outbox.register("jira", "create", HttpSender(http, build, redactor=redactor))
    return outbox, clock, store


async def test_retries_with_backoff_and_retry_after_then_succeeds() -> None:
    http = MemoryHttp()
    http.queue(
        HttpResponse(500, {}, b"boom"),
        HttpResponse(429, {"Retry-After": "7"}, b""),
        TransportFailure("timed out"),
        HttpResponse(201, {}, b'{"key": "OPS-1"}'),
    )
    outbox, clock, _store = make(http)
    d = await outbox.deliver("jira", "create", {"n": 1}, problem="P1", keptn_context="ctx")
    assert d.status == "succeeded"
    assert d.attempts == 4
    assert d.http_status == 201
    assert clock.sleeps == [1.0, 7.0, 4.0]
    assert len(http.requests) == 4


async def test_dead_letter_after_max_attempts_and_manual_retry() -> None:
    http = MemoryHttp()
    http.queue(*[HttpResponse(503, {}, f"down {TOKEN}".encode()) for _ in range(4)])
    outbox, _clock, store = make(http)
    d = await outbox.deliver("jira", "create", {"n": 2}, problem="P2")
    assert d.status == "dead"
    assert d.attempts == 4
    assert TOKEN not in (d.error or "") and TOKEN not in d.target
    assert "***" in d.target
    dead = await store.find(DeliveryQuery(status="dead"))
    assert [x.id for x in dead] == [d.id]
    again = await outbox.retry(d.id)
    assert again.status == "succeeded"
    assert again.attempts == 5
    with pytest.raises(NotRetryable):
        await outbox.retry(d.id)


async def test_permanent_failure_is_not_retried() -> None:
    http = MemoryHttp()
    http.queue(HttpResponse(400, {}, b'{"errors": {"summary": "required"}}'))
    outbox, clock, _store = make(http)
    d = await outbox.deliver("jira", "create", {"n": 3})
    assert d.status == "dead"
    assert d.attempts == 1
    assert clock.sleeps == []
    assert "summary" in (d.error or "")


async def test_dedup_key_sends_once() -> None:
    http = MemoryHttp()
    outbox, _clock, _store = make(http)
    first = await outbox.deliver("jira", "create", {"n": 4}, dedup_key="k")
    second = await outbox.deliver("jira", "create", {"n": 4}, dedup_key="k")
    assert first.id == second.id
    assert len(http.requests) == 1


async def test_no_sender_goes_dead() -> None:
    outbox, _clock, _store = make(MemoryHttp())
    d = await outbox.deliver("gone", "x", {})
    assert d.status == "dead"


def test_backoff_is_capped() -> None:
    policy = RetryPolicy(10, 1.0, 8.0)
    assert [policy.delay(n, None) for n in range(1, 6)] == [1, 2, 4, 8, 8]
    assert policy.delay(1, 20.0) == 20.0
