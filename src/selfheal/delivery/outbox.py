"""The outbound outbox: every delivery (an integration's call, a monitor webhook) is a row
with a lease, sent with retries, and finished by exactly one process even across crashes.

A caller hands a delivery over with `deliver` (waits for the outcome: Jira needs the issue
key it answers) or `enqueue` (records it and returns at once: a bus handler must never wait
for an endpoint's backoff). A sender turns the delivery's secret-free `args` into one
attempt; the outbox records each attempt's status, latency and (redacted) error, sleeps on
the injected clock between attempts, and marks the delivery dead when attempts run out or
the failure is permanent. Each registration may bring its own retry policy.

Per-endpoint queues: deliveries are grouped by `Delivery.queue` (the endpoint, e.g. a
webhook URL); one worker task per queue sends them in order, one at a time, so a slow or
failing endpoint holds back only its own deliveries while every other endpoint goes on.

Deliveries survive restarts: the running outbox holds a lease on each pending delivery
(renewed before every attempt and stretched over each backoff sleep). Stopping releases the
leases; a crash lets them expire. `start` resumes what it can claim at once and then sweeps
for expired leases on the clock, so a delivery cut off mid-retry is finished by exactly one
process, with only the attempts its round has left. Before resending, a sender may say the
effect already happened (`settled`: Jira's issue was created and remembered, only the
delivery's final write was lost), so a known outcome is never sent twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram

from selfheal.core import Clock, SelfhealError, new_id
from selfheal.delivery.deliveries import (
    DEAD,
    PENDING,
    SUCCEEDED,
    Delivery,
    DeliveryStore,
    DuplicateDelivery,
)
from selfheal.delivery.errors import NotRetryable

log = logging.getLogger(__name__)
MAX_QUEUED = 10_000
"""Deliveries waiting in one endpoint's queue in memory; beyond, their lease is released
and a later sweep (of any replica) picks them up from the table."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """The outcome of one try. `retry` False means permanent (straight to the dead letters)."""

    ok: bool
    target: str = ""
    status: int | None = None
    error: str | None = None
    retry: bool = True
    retry_after: float | None = None
    response: Any = None
    """What the endpoint answered (the sender's own type; the outbox does not read it)."""


class Sender(Protocol):
    async def attempt(self, args: Mapping[str, Any]) -> Attempt: ...

    async def settled(self, args: Mapping[str, Any]) -> bool:
        """Whether an interrupted delivery's effect is already known to have happened."""
        ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 5
    backoff: float = 1.0
    max_backoff: float = 60.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait after the `attempt`-th failure: exponential, or the server's word."""
        wait = float(min(self.max_backoff, self.backoff * (2 ** (attempt - 1))))
        if retry_after is not None:
            wait = min(max(wait, retry_after), max(self.max_backoff, 300.0))
        return wait


class Outbox:
    def __init__(
        self,
        store: DeliveryStore,
        clock: Clock,
        *,
        policy: RetryPolicy,
        registry: CollectorRegistry,
        lease: float = 60.0,
        sweep: float = 30.0,
        batch: int = 100,
    ) -> None:
        self.store = store
        self.owner = new_id()
        self._clock = clock
        self._policy = policy
        self._lease = lease
        self._sweep = sweep
        self._batch = batch
        self._senders: dict[tuple[str, str], Sender] = {}
        self._policies: dict[tuple[str, str], RetryPolicy] = {}
        self._tasks: set[asyncio.Task[Delivery]] = set()
        self._queues: dict[str, deque[tuple[Delivery, bool]]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._queued_ids: set[str] = set()  # queued or in hand in an endpoint queue here
        self._sweeper: asyncio.Task[None] | None = None
        self._outcomes = Counter(
            "selfheal_integration_deliveries",
            "Outbound integration deliveries by final outcome",
            ["integration", "outcome"],
            registry=registry,
        )
        self._latency = Histogram(
            "selfheal_integration_attempt_seconds",
            "Latency of single outbound attempts",
            ["integration"],
            registry=registry,
            buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self._resumed = Counter(
            "selfheal_integration_deliveries_resumed",
            "Pending deliveries claimed after their previous runner stopped or died",
            ["integration"],
            registry=registry,
        )

    def register(
        self, integration: str, kind: str, sender: Sender, policy: RetryPolicy | None = None
    ) -> None:
        """The sender of one kind of delivery, and its retry policy (the outbox's default
        when None)."""
        self._senders[(integration, kind)] = sender
        if policy is not None:
            self._policies[(integration, kind)] = policy

    def _policy_of(self, delivery: Delivery) -> RetryPolicy:
        return self._policies.get((delivery.integration, delivery.kind), self._policy)

    async def deliver(
        self,
        integration: str,
        kind: str,
        args: Mapping[str, Any],
        *,
        dedup_key: str | None = None,
        problem: str | None = None,
        keptn_context: str | None = None,
        event_type: str | None = None,
    ) -> Delivery:
        """Record and send until success or dead; a repeated `dedup_key` sends nothing."""
        delivery, new = await self._record(
            integration, kind, args, dedup_key, problem, keptn_context, event_type, ""
        )
        if not new:
            return delivery
        return await self._run(delivery)

    async def enqueue(
        self,
        integration: str,
        kind: str,
        args: Mapping[str, Any],
        *,
        endpoint: str,
        dedup_key: str | None = None,
        problem: str | None = None,
        keptn_context: str | None = None,
        event_type: str | None = None,
    ) -> Delivery:
        """Record a delivery and return at once; it is sent in `endpoint`'s queue, after
        the ones queued there before it. A repeated `dedup_key` queues nothing."""
        delivery, new = await self._record(
            integration, kind, args, dedup_key, problem, keptn_context, event_type, endpoint
        )
        if new:
            self._dispatch(delivery, resumed=False)
        return delivery

    async def _record(
        self,
        integration: str,
        kind: str,
        args: Mapping[str, Any],
        dedup_key: str | None,
        problem: str | None,
        keptn_context: str | None,
        event_type: str | None,
        endpoint: str,
    ) -> tuple[Delivery, bool]:
        if dedup_key is not None:
            existing = await self.store.by_key(dedup_key)
            if existing is not None:
                return existing, False
        now = self._clock.now()
        delivery = Delivery(
            id=new_id(),
            integration=integration,
            kind=kind,
            created=now,
            updated=now,
            args=dict(args),
            dedup_key=dedup_key,
            problem=problem,
            keptn_context=keptn_context,
            event_type=event_type,
            lease_owner=self.owner,
            lease_until=now + self._lease,
            endpoint=endpoint,
        )
        try:
            await self.store.add(delivery)
        except DuplicateDelivery:
            found = await self.store.by_key(dedup_key or "")
            return found or delivery, False
        return delivery, True

    # -- per-endpoint queues --------------------------------------------------------------
    def _dispatch(self, delivery: Delivery, *, resumed: bool) -> None:
        """Queue a leased delivery behind its endpoint's earlier ones (once: a sweep that
        re-claims one still waiting here only renewed its lease)."""
        if delivery.id in self._queued_ids:
            return
        queue = self._queues.setdefault(delivery.queue, deque())
        if len(queue) >= MAX_QUEUED:
            # bounded: give the lease back; a sweep (ours or another replica's) takes it
            self._background(self._release(delivery))
            return
        queue.append((delivery, resumed))
        self._queued_ids.add(delivery.id)
        worker = self._workers.get(delivery.queue)
        if worker is None or worker.done():
            self._workers[delivery.queue] = asyncio.create_task(
                self._work(delivery.queue), name=f"outbox:{delivery.queue[:60]}"
            )

    async def _work(self, name: str) -> None:
        """Send one endpoint's deliveries in order until its queue is empty."""
        queue = self._queues[name]
        try:
            while queue:
                delivery, resumed = queue.popleft()  # in hand: still in `_queued_ids`
                try:
                    await self._turn(delivery, resumed)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("delivery %s failed unexpectedly", delivery.id)
                finally:
                    self._queued_ids.discard(delivery.id)
        finally:
            if self._workers.get(name) is asyncio.current_task():
                del self._workers[name]
                if not queue:
                    self._queues.pop(name, None)

    async def _turn(self, delivery: Delivery, resumed: bool) -> None:
        # still ours and still pending? Waiting here may have outlasted the lease: then
        # another replica may have taken it over (and sent it)
        current = await self.store.get(delivery.id)
        if current.status != PENDING or current.lease_owner not in (None, self.owner):
            return
        renewed = replace(
            current, lease_owner=self.owner, lease_until=self._clock.now() + self._lease
        )
        if await self.store.save(renewed, self.owner):
            await self._run(renewed, resumed=resumed)

    async def _release(self, delivery: Delivery) -> Delivery:
        """Give a lease of ours back (on the row as stored, not on a stale copy)."""
        current = await self.store.get(delivery.id)
        if current.status != PENDING or current.lease_owner != self.owner:
            return current
        released = replace(current, lease_owner=None, lease_until=None)
        await self.store.save(released, self.owner)
        return released

    @property
    def queued(self) -> dict[str, int]:
        """Deliveries waiting per endpoint queue (in this process)."""
        return {name: len(q) for name, q in self._queues.items() if q}

    def spawn(self, integration: str, kind: str, args: Mapping[str, Any], **kw: Any) -> None:
        """Deliver in the background (for callers that must never wait, like actions)."""
        self._background(self.deliver(integration, kind, args, **kw))

    def _background(self, work: Awaitable[Delivery]) -> None:
        async def run() -> Delivery:
            return await work

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def retry(self, delivery_id: str) -> Delivery:
        """Send a dead delivery again, with a fresh round of attempts."""
        delivery = await self.store.get(delivery_id)
        if delivery.status != DEAD:
            raise NotRetryable(f"delivery {delivery_id} is {delivery.status}, not dead")
        if (delivery.integration, delivery.kind) not in self._senders:
            raise NotRetryable(f"integration {delivery.integration!r} is not configured any more")
        now = self._clock.now()
        claimed = await self.store.claim(
            delivery_id, owner=self.owner, now=now, until=now + self._lease, status=DEAD
        )
        if claimed is None:
            raise NotRetryable(f"delivery {delivery_id} is already being retried")
        return await self._run(claimed)

    # -- resuming -------------------------------------------------------------------------
    async def resume(self) -> int:
        """Claim pending deliveries whose runner is gone and finish them in the background;
        returns how many were claimed (at most one batch)."""
        now = self._clock.now()
        claimed = 0
        for candidate in await self.store.expired(now, self._batch):
            delivery = await self.store.claim(
                candidate.id, owner=self.owner, now=now, until=now + self._lease
            )
            if delivery is None:
                continue  # another replica was quicker
            claimed += 1
            self._resumed.labels(delivery.integration).inc()
            log.info(
                "resuming delivery %s (%s %s) after %d attempts",
                delivery.id,
                delivery.integration,
                delivery.kind,
                delivery.attempts,
            )
            if delivery.endpoint:
                self._dispatch(delivery, resumed=True)
            else:
                self._background(self._run(delivery, resumed=True))
        return claimed

    async def start(self) -> int:
        """Resume what can be claimed now, then keep sweeping for expired leases."""
        claimed = await self.resume()
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep_loop(), name="outbox-sweep")
        return claimed

    async def _sweep_loop(self) -> None:
        while self._sweeper is not None:  # close() clears it and cancels the task
            await self._clock.sleep(self._sweep)
            try:
                await self.resume()
            except SelfhealError as exc:
                log.warning("resuming deliveries failed: %s", exc)

    # -- running --------------------------------------------------------------------------
    async def _save(self, delivery: Delivery) -> bool:
        if await self.store.save(delivery, self.owner):
            return True
        log.warning("delivery %s was taken over by another process; leaving it", delivery.id)
        return False

    async def _finish(self, delivery: Delivery) -> Delivery:
        self._outcomes.labels(delivery.integration, delivery.status).inc()
        if delivery.status == DEAD:
            log.warning(
                "delivery %s (%s %s) dead after %d attempts: %s",
                delivery.id,
                delivery.integration,
                delivery.kind,
                delivery.attempts,
                delivery.error,
            )
        return delivery

    async def _run(self, delivery: Delivery, *, resumed: bool = False) -> Delivery:
        sender = self._senders.get((delivery.integration, delivery.kind))
        if sender is None:
            delivery = replace(
                delivery,
                status=DEAD,
                error=f"no sender for {delivery.kind}",
                updated=self._clock.now(),
                lease_owner=None,
                lease_until=None,
            )
            await self._save(delivery)
            return await self._finish(delivery)
        if resumed and await sender.settled(delivery.args):
            delivery = replace(
                delivery,
                status=SUCCEEDED,
                error=None,
                updated=self._clock.now(),
                lease_owner=None,
                lease_until=None,
            )
            await self._save(delivery)
            return await self._finish(delivery)
        current = delivery
        policy = self._policy_of(delivery)
        try:
            for _ in range(policy.max_attempts):
                current, wait, kept = await self._attempt(sender, current)
                if not kept:
                    return current  # taken over: the other process finishes it
                if wait is None:
                    return await self._finish(current)
                await self._clock.sleep(wait)
                current = replace(current, lease_until=self._clock.now() + self._lease)
                if not await self._save(current):
                    return current
        except asyncio.CancelledError:
            # stopping: the next start (or another replica) may take it over at once
            if current.status == PENDING:
                released = replace(current, lease_owner=None, lease_until=None)
                await self.store.save(released, self.owner)
            raise
        return current

    async def _attempt(
        self, sender: Sender, delivery: Delivery
    ) -> tuple[Delivery, float | None, bool]:
        """One attempt, recorded: (the delivery, seconds to wait or None if final, whether
        the record was ours to write)."""
        n = delivery.round_attempts + 1
        started = time.perf_counter()
        result = await sender.attempt(delivery.args)
        elapsed = time.perf_counter() - started
        self._latency.labels(delivery.integration).observe(elapsed)
        policy = self._policy_of(delivery)
        final = result.ok or not result.retry or n >= policy.max_attempts
        status = SUCCEEDED if result.ok else (DEAD if final else PENDING)
        wait = None if final else policy.delay(n, result.retry_after)
        now = self._clock.now()
        delivery = replace(
            delivery,
            status=status,
            attempts=delivery.attempts + 1,
            round_attempts=n,
            target=result.target or delivery.target,
            http_status=result.status,
            latency_ms=round(elapsed * 1000, 3),
            error=result.error,
            updated=now,
            lease_owner=None if wait is None else self.owner,
            lease_until=None if wait is None else now + wait + self._lease,
        )
        return delivery, wait, await self._save(delivery)

    @property
    def pending(self) -> int:
        """Deliveries running or queued in this process."""
        return (
            len(self._tasks)
            + sum(len(q) for q in self._queues.values())
            + len([w for w in self._workers.values() if not w.done()])
        )

    async def drain(self) -> None:
        """Wait for background deliveries and endpoint queues (bounded: each has bounded
        attempts)."""
        for _ in range(100):
            work: list[asyncio.Task[Any]] = [*self._tasks, *self._workers.values()]
            if not work:
                return
            await asyncio.gather(*work, return_exceptions=True)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        waiting = [d for q in self._queues.values() for d, _ in q]
        self._queues.clear()
        self._queued_ids.clear()
        work: list[asyncio.Task[Any]] = [*self._tasks, *self._workers.values()]
        for task in work:
            task.cancel()
        await asyncio.gather(*work, return_exceptions=True)
        self._workers.clear()
        for delivery in waiting:  # queued, never started: free for the next start at once
            try:
                await self._release(delivery)
            except Exception as exc:
                log.warning("releasing delivery %s failed: %s", delivery.id, exc)
