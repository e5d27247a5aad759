from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from selfheal.core import ManualClock
from selfheal.delivery import (
    Attempt,
    Delivery,
    DeliveryQuery,
    MemoryDeliveryStore,
    Outbox,
    RetryPolicy,
)
from selfheal.integrations.errors import NotRetryable
from selfheal.integrations.outbox import HttpSender
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


# -- interrupted deliveries: leases, resume, claims ---------------------------------------


class Scripted:
    """A sender answering from a list of outcomes (then success), counting sends."""

    def __init__(self, *outcomes: Attempt, done: bool = False) -> None:
        self.outcomes = list(outcomes)
        self.sent: list[Mapping[str, Any]] = []
        self.done = done

    async def attempt(self, args: Mapping[str, Any]) -> Attempt:
        self.sent.append(args)
        return self.outcomes.pop(0) if self.outcomes else Attempt(True, "POST x", 200)

    async def settled(self, args: Mapping[str, Any]) -> bool:
        return self.done


def replica(
    store: MemoryDeliveryStore, clock: ManualClock, sender: Scripted, attempts: int = 3
) -> Outbox:
    outbox = Outbox(
        store,
        clock,
        policy=RetryPolicy(attempts, 5.0, 60.0),
        registry=CollectorRegistry(),
        lease=60.0,
        sweep=30.0,
    )
    outbox.register("hook", "notify", sender)
    return outbox


async def until(check: Any) -> None:
    for _ in range(200):
        if await check():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not reached")


async def test_stopped_mid_retry_is_resumed_once_by_the_next_start() -> None:
    clock, store = ManualClock(), MemoryDeliveryStore()
    first = Scripted(Attempt(False, "POST x", 500, "HTTP 500"))
    a = replica(store, clock, first)
    a.spawn("hook", "notify", {"n": 1}, dedup_key="hook:e1")

    async def backing_off() -> bool:
        found = await store.find(DeliveryQuery())
        return bool(found) and found[0].attempts == 1

    await until(backing_off)
    await a.close()  # stopped while sleeping before attempt 2: the lease is released
    [d] = await store.find(DeliveryQuery())
    assert (d.status, d.lease_owner, d.lease_until) == ("pending", None, None)

    second = Scripted()
    b = replica(store, clock, second)
    # the bus redelivers the event to the new process: the dedup key sends nothing
    again = await b.deliver("hook", "notify", {"n": 1}, dedup_key="hook:e1")
    assert again.id == d.id and second.sent == []
    assert await b.start() == 1
    await b.drain()
    [d] = await store.find(DeliveryQuery())
    assert (d.status, d.attempts, d.round_attempts) == ("succeeded", 2, 2)
    assert len(first.sent) == 1 and len(second.sent) == 1
    assert await b.resume() == 0
    await b.close()


def interrupted(attempts: int, lease_until: float | None, **kw: Any) -> Delivery:
    return Delivery(
        id="d1",
        integration="hook",
        kind="notify",
        created=1.0,
        updated=1.0,
        args={"n": 1},
        attempts=attempts,
        round_attempts=attempts,
        lease_owner="a-dead-replica",
        lease_until=lease_until,
        **kw,
    )


async def test_a_live_lease_is_left_alone_until_it_expires() -> None:
    clock, store = ManualClock(start=1000.0), MemoryDeliveryStore()
    await store.add(interrupted(1, lease_until=1060.0))
    sender = Scripted()
    outbox = replica(store, clock, sender)
    assert await outbox.start() == 0  # its owner may still be sleeping before a retry
    await clock.advance(30)
    assert sender.sent == []
    await clock.advance(30)  # the sweep at 1060 finds the lease expired
    await outbox.drain()
    assert len(sender.sent) == 1
    assert (await store.get("d1")).status == "succeeded"
    await outbox.close()


async def test_resume_keeps_to_the_rounds_attempts() -> None:
    clock, store = ManualClock(start=1000.0), MemoryDeliveryStore()
    await store.add(interrupted(2, lease_until=900.0))
    sender = Scripted(Attempt(False, "POST x", 503, "HTTP 503"))
    outbox = replica(store, clock, sender, attempts=3)
    assert await outbox.start() == 1
    await outbox.drain()
    d = await store.get("d1")
    assert (d.status, d.attempts, d.http_status) == ("dead", 3, 503)
    assert len(sender.sent) == 1
    await outbox.close()


async def test_a_settled_outcome_is_not_sent_again() -> None:
    clock, store = ManualClock(start=1000.0), MemoryDeliveryStore()
    await store.add(interrupted(0, lease_until=None))
    sender = Scripted(done=True)
    outbox = replica(store, clock, sender)
    assert await outbox.start() == 1
    await outbox.drain()
    assert (await store.get("d1")).status == "succeeded"
    assert sender.sent == []
    await outbox.close()


async def test_two_replicas_claim_once_and_a_loser_stops_writing() -> None:
    clock, store = ManualClock(start=1000.0), MemoryDeliveryStore()
    await store.add(interrupted(1, lease_until=999.0))
    one, two = Scripted(), Scripted()
    a, b = replica(store, clock, one), replica(store, clock, two)
    assert sorted(await asyncio.gather(a.resume(), b.resume())) == [0, 1]
    await a.drain()
    await b.drain()
    assert len(one.sent) + len(two.sent) == 1
    await a.close()
    await b.close()


async def test_an_expired_lease_is_taken_over_and_the_old_owner_stops_writing() -> None:
    store = MemoryDeliveryStore()
    await store.add(interrupted(1, lease_until=None))
    mine = await store.claim("d1", owner="a", now=1000.0, until=1060.0)
    assert mine is not None and mine.lease_owner == "a"
    assert await store.claim("d1", owner="b", now=1059.0, until=1119.0) is None
    assert await store.claim("d1", owner="b", now=1060.0, until=1120.0) is not None
    assert not await store.save(replace(mine, attempts=2), "a")
    assert (await store.get("d1")).lease_owner == "b"
