"""Per-endpoint queues of the shared outbox: one slow or failing endpoint holds back only
its own deliveries; each endpoint's deliveries go in order; a queued delivery survives a
stop (its lease is released for the next start)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

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


class Endpoints:
    """A sender whose endpoints answer at once, fail, or hang until released."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int]] = []
        self.hanging: dict[str, asyncio.Event] = {}
        self.failing: set[str] = set()

    async def settled(self, args: Mapping[str, Any]) -> bool:
        return False

    async def attempt(self, args: Mapping[str, Any]) -> Attempt:
        url, n = str(args["url"]), int(args["n"])
        gate = self.hanging.get(url)
        if gate is not None:
            await gate.wait()
        self.sent.append((url, n))
        if url in self.failing:
            return Attempt(False, url, 503, "HTTP 503")
        return Attempt(True, url, 200)


def outbox(store: MemoryDeliveryStore, clock: ManualClock, endpoints: Endpoints) -> Outbox:
    box = Outbox(
        store, clock, policy=RetryPolicy(3, 10.0, 60.0), registry=CollectorRegistry(), lease=60
    )
    box.register("monitor", "webhook", endpoints)
    return box


async def settle(box: Outbox, done: Any) -> None:
    for _ in range(200):
        if await done():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("deliveries did not settle")


async def test_a_hanging_endpoint_holds_back_only_itself() -> None:
    clock, store, endpoints = ManualClock(), MemoryDeliveryStore(), Endpoints()
    endpoints.hanging["http://slow/"] = asyncio.Event()
    box = outbox(store, clock, endpoints)
    for n in range(3):
        for url in ("http://slow/", "http://fast/"):
            queued = await box.enqueue("monitor", "webhook", {"url": url, "n": n}, endpoint=url)
            assert queued.status == "pending"  # enqueue never waits for the endpoint

    async def fast_done() -> bool:
        return [s for s in endpoints.sent if s[0] == "http://fast/"] == [
            ("http://fast/", 0),
            ("http://fast/", 1),
            ("http://fast/", 2),
        ]

    await settle(box, fast_done)
    assert all(url == "http://fast/" for url, _ in endpoints.sent)
    assert box.queued == {"http://slow/": 2}  # the first one is in hand, hanging
    endpoints.hanging["http://slow/"].set()
    await box.drain()
    assert [n for url, n in endpoints.sent if url == "http://slow/"] == [0, 1, 2]
    finished = await store.find(DeliveryQuery(integration="monitor"))
    assert len(finished) == 6 and {d.status for d in finished} == {"succeeded"}
    await box.close()


async def test_a_failing_endpoint_backs_off_without_delaying_another() -> None:
    clock, store, endpoints = ManualClock(), MemoryDeliveryStore(), Endpoints()
    endpoints.failing.add("http://down/")
    box = outbox(store, clock, endpoints)
    await box.enqueue(
        "monitor", "webhook", {"url": "http://down/", "n": 1}, endpoint="http://down/"
    )
    await box.enqueue("monitor", "webhook", {"url": "http://up/", "n": 1}, endpoint="http://up/")

    async def up_done() -> bool:
        return ("http://up/", 1) in endpoints.sent

    await settle(box, up_done)  # the clock has not moved: the failing one waits its backoff
    assert endpoints.sent.count(("http://down/", 1)) == 1
    for _ in range(10):
        await clock.advance(30)
        await asyncio.sleep(0.01)
    await box.drain()
    [down] = await store.find(DeliveryQuery(integration="monitor", status="dead"))
    assert (down.attempts, down.endpoint) == (3, "http://down/")
    await box.close()


async def test_deliveries_queued_at_stop_are_released_and_resumed_once() -> None:
    clock, store, endpoints = ManualClock(), MemoryDeliveryStore(), Endpoints()
    endpoints.hanging["http://slow/"] = asyncio.Event()
    first = outbox(store, clock, endpoints)
    for n in range(3):
        await first.enqueue(
            "monitor", "webhook", {"url": "http://slow/", "n": n}, endpoint="http://slow/"
        )
    await asyncio.sleep(0.01)
    await first.close()  # one in hand (cancelled), two waiting: all leases given back
    assert endpoints.sent == []
    endpoints.hanging.clear()
    second = outbox(store, clock, endpoints)
    assert await second.start() == 3
    await second.drain()
    assert sorted(endpoints.sent) == [("http://slow/", 0), ("http://slow/", 1), ("http://slow/", 2)]
    await second.close()


async def test_a_delivery_waiting_past_its_lease_is_still_sent_once() -> None:
    clock, store, endpoints = ManualClock(), MemoryDeliveryStore(), Endpoints()
    endpoints.hanging["http://slow/"] = asyncio.Event()
    box = outbox(store, clock, endpoints)
    await box.start()  # sweeps every 30 s on the clock for expired leases
    for n in range(2):
        await box.enqueue(
            "monitor", "webhook", {"url": "http://slow/", "n": n}, endpoint="http://slow/"
        )
    for _ in range(6):  # 180 s: the waiting one's lease expires and the sweep re-claims it
        await clock.advance(30)
        await asyncio.sleep(0.01)
    assert box.queued == {"http://slow/": 1}
    endpoints.hanging["http://slow/"].set()
    await box.drain()
    assert endpoints.sent == [("http://slow/", 0), ("http://slow/", 1)]
    await box.close()


async def test_a_retrying_row_of_a_dead_process_is_resumed_in_its_endpoint_queue() -> None:
    clock, store, endpoints = ManualClock(), MemoryDeliveryStore(), Endpoints()
    # a process died between two attempts: its lease runs out 60 s from now
    t0 = clock.now()
    await store.add(
        Delivery(
            id="d1",
            integration="monitor",
            kind="webhook",
            created=t0,
            updated=t0,
            args={"url": "http://hook/", "n": 7},
            attempts=1,
            round_attempts=1,
            http_status=503,
            lease_owner="dead-process",
            lease_until=t0 + 60,
            endpoint="http://hook/",
        )
    )
    box = outbox(store, clock, endpoints)
    assert await box.start() == 0  # the lease is still live
    for _ in range(100):  # the 30 s sweep finds it once the lease has expired
        if endpoints.sent:
            break
        await clock.advance(10)
        await asyncio.sleep(0.01)
    await box.drain()
    assert endpoints.sent == [("http://hook/", 7)]
    done = await store.get("d1")
    assert (done.status, done.attempts, done.lease_owner) == ("succeeded", 2, None)
    await box.close()
