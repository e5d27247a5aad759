"""A webhook receiver sees a problem's transitions in order, even when one is being retried."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from selfheal.core import ManualClock
from selfheal.delivery import MemoryDeliveryStore, Outbox, RetryPolicy
from selfheal.monitor import WebhookSettings
from selfheal.monitor.notifications import OPEN_T, RESOLVED_T, Notifier, RecordingSender
from selfheal.monitor.problems import new_problem


async def test_resolved_waits_for_a_retried_open() -> None:
    clock = ManualClock()
    sender = RecordingSender(codes=[503, 503])  # OPEN fails twice, then goes through
    published: list[object] = []

    async def publish(event: object) -> bool:
        published.append(event)
        return True

    notifier = Notifier(
        publish=publish,
        outbox=Outbox(
            MemoryDeliveryStore(), clock, policy=RetryPolicy(), registry=CollectorRegistry()
        ),
        sender=sender,
        clock=clock,
        public_url="http://selfheal.test",
        webhooks=[WebhookSettings(url="http://hook.test/")],
        retries=5,
        backoff=1.0,
    )
    problem = new_problem(
        title="Failure rate increase",
        service="front-end",
        severity="ERROR",
        start=clock.now(),
        tags={},
        evidence=[],
    )
    await notifier.notify(problem, OPEN_T)
    await notifier.notify(problem.with_(status="RESOLVED", end=clock.now()), RESOLVED_T)
    for _ in range(50):
        if not notifier.pending:
            break
        await clock.advance(1)
    states = [body["data"]["State"] for _, body in sender.posts]
    assert states == ["OPEN", "OPEN", "OPEN", "RESOLVED"]
