"""Sending with a record: attempts, backoff, Retry-After, the dead-letter list, manual retry.

Every outbound call of every integration goes through `Outbox.deliver`. A sender turns the
delivery's secret-free `args` into one attempt; the outbox records each attempt's status,
latency and (redacted) error, sleeps on the injected clock between attempts, and marks the
delivery dead when attempts run out or the failure is permanent. `spawn` runs a delivery in
the background so a remediation never waits for a notification.

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
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram

from selfheal.core import Clock, SelfhealError, new_id
from selfheal.integrations.deliveries import (
    DEAD,
    PENDING,
    SUCCEEDED,
    Delivery,
    DeliveryStore,
    DuplicateDelivery,
)
from selfheal.integrations.errors import NotRetryable
from selfheal.integrations.redaction import Redactor
from selfheal.integrations.transport import HttpClient, HttpRequest, HttpResponse, TransportFailure

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Attempt:
    """The outcome of one try. `retry` False means permanent (straight to the dead letters)."""

    ok: bool
    target: str = ""
    status: int | None = None
    error: str | None = None
    retry: bool = True
    retry_after: float | None = None
    response: HttpResponse | None = None


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


def retry_after(response: HttpResponse) -> float | None:
    value = response.header("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


Builder = Callable[[Mapping[str, Any]], Awaitable[HttpRequest]]
Checker = Callable[[HttpResponse], str | None]
Accepter = Callable[[Mapping[str, Any], HttpResponse], Awaitable[None]]
Settled = Callable[[Mapping[str, Any]], Awaitable[bool]]


class HttpSender:
    """A sender that builds an `HttpRequest` from args (secrets resolved now) and sends it.

    `check` may veto a 2xx answer (Slack answers 200 with `ok: false`); `accept` sees the
    successful response (Jira's new issue key, Slack's thread ts).
    """

    def __init__(
        self,
        http: HttpClient,
        build: Builder,
        *,
        redactor: Redactor,
        check: Checker | None = None,
        accept: Accepter | None = None,
        settled: Settled | None = None,
    ) -> None:
        self._http = http
        self._build = build
        self._redactor = redactor
        self._check = check
        self._accept = accept
        self._settled = settled

    async def settled(self, args: Mapping[str, Any]) -> bool:
        return await self._settled(args) if self._settled is not None else False

    async def attempt(self, args: Mapping[str, Any]) -> Attempt:
        try:
            request = await self._build(args)
        except SelfhealError as exc:  # a missing secret, a blocked URL, no ticket yet
            return Attempt(False, error=self._redactor.text(str(exc)), retry=False)
        target = f"{request.method} {self._redactor.url(request.url)}"
        try:
            response = await self._http.send(request)
        except TransportFailure as exc:
            return Attempt(False, target, error=self._redactor.text(str(exc)))
        status = response.status
        if 200 <= status < 300:
            problem = self._check(response) if self._check else None
            if problem is not None:
                transient = problem in ("ratelimited", "rate_limited", "service_unavailable")
                return Attempt(False, target, status, self._redactor.text(problem), retry=transient)
            if self._accept is not None:
                await self._accept(args, response)
            return Attempt(True, target, status, response=response)
        error = f"HTTP {status}: {self._redactor.text(response.text[:300])}".strip()
        transient = status in (408, 425, 429) or status >= 500
        return Attempt(
            False,
            target,
            status,
            error,
            retry=transient,
            retry_after=retry_after(response),
            response=response,
        )


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
        self._tasks: set[asyncio.Task[Delivery]] = set()
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

    def register(self, integration: str, kind: str, sender: Sender) -> None:
        self._senders[(integration, kind)] = sender

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
        if dedup_key is not None:
            existing = await self.store.by_key(dedup_key)
            if existing is not None:
                return existing
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
        )
        try:
            await self.store.add(delivery)
        except DuplicateDelivery:
            found = await self.store.by_key(dedup_key or "")
            return found or delivery
        return await self._run(delivery)

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
        try:
            for _ in range(self._policy.max_attempts):
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
        final = result.ok or not result.retry or n >= self._policy.max_attempts
        status = SUCCEEDED if result.ok else (DEAD if final else PENDING)
        wait = None if final else self._policy.delay(n, result.retry_after)
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

    async def drain(self) -> None:
        """Wait for background deliveries (bounded: each has bounded attempts)."""
        for _ in range(100):
            if not self._tasks:
                return
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
