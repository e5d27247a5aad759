"""Sending with a record: attempts, backoff, Retry-After, the dead-letter list, manual retry.

Every outbound call of every integration goes through `Outbox.deliver`. A sender turns the
delivery's secret-free `args` into one attempt; the outbox records each attempt's status,
latency and (redacted) error, sleeps on the injected clock between attempts, and marks the
delivery dead when attempts run out or the failure is permanent. `spawn` runs a delivery in
the background so a remediation never waits for a notification.
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
    ) -> None:
        self._http = http
        self._build = build
        self._redactor = redactor
        self._check = check
        self._accept = accept

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
    ) -> None:
        self.store = store
        self._clock = clock
        self._policy = policy
        self._senders: dict[tuple[str, str], Sender] = {}
        self._tasks: set[asyncio.Task[Delivery]] = set()
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
        )
        try:
            await self.store.add(delivery)
        except DuplicateDelivery:
            found = await self.store.by_key(dedup_key or "")
            return found or delivery
        return await self._run(delivery)

    def spawn(self, integration: str, kind: str, args: Mapping[str, Any], **kw: Any) -> None:
        """Deliver in the background (for callers that must never wait, like actions)."""
        task = asyncio.create_task(self.deliver(integration, kind, args, **kw))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def retry(self, delivery_id: str) -> Delivery:
        """Send a dead delivery again, with a fresh round of attempts."""
        delivery = await self.store.get(delivery_id)
        if delivery.status != DEAD:
            raise NotRetryable(f"delivery {delivery_id} is {delivery.status}, not dead")
        if (delivery.integration, delivery.kind) not in self._senders:
            raise NotRetryable(f"integration {delivery.integration!r} is not configured any more")
        delivery = replace(delivery, status=PENDING, updated=self._clock.now())
        await self.store.save(delivery)
        return await self._run(delivery)

    async def _run(self, delivery: Delivery) -> Delivery:
        sender = self._senders.get((delivery.integration, delivery.kind))
        if sender is None:
            delivery = replace(
                delivery,
                status=DEAD,
                error=f"no sender for {delivery.kind}",
                updated=self._clock.now(),
            )
            await self.store.save(delivery)
            return delivery
        for round_attempt in range(1, self._policy.max_attempts + 1):
            started = time.perf_counter()
            result = await sender.attempt(delivery.args)
            elapsed = time.perf_counter() - started
            self._latency.labels(delivery.integration).observe(elapsed)
            final = result.ok or not result.retry or round_attempt == self._policy.max_attempts
            status = SUCCEEDED if result.ok else (DEAD if final else PENDING)
            delivery = replace(
                delivery,
                status=status,
                attempts=delivery.attempts + 1,
                target=result.target or delivery.target,
                http_status=result.status,
                latency_ms=round(elapsed * 1000, 3),
                error=result.error,
                updated=self._clock.now(),
            )
            await self.store.save(delivery)
            if final:
                break
            await self._clock.sleep(self._policy.delay(round_attempt, result.retry_after))
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

    async def drain(self) -> None:
        """Wait for background deliveries (bounded: each has bounded attempts)."""
        for _ in range(100):
            if not self._tasks:
                return
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
