"""Problem notifications: the `sh.keptn.events.problem` bus event and webhooks.

Every notification has a deterministic id from (problem, transition, occurrence), so the
event store's dedup and the delivery log's unique key make each transition notify once,
even when two code paths (or two replicas) try. Webhooks retry with exponential backoff on
the injected clock; each attempt's outcome lands in the delivery log.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import httpx
from jinja2 import Environment, StrictUndefined, TemplateError

from selfheal.core import Clock, CloudEvent, iso_from_epoch, pages
from selfheal.core.keptn import PROBLEM
from selfheal.monitor.config import WebhookSettings
from selfheal.monitor.dynatrace import dynatrace_status, severity_level
from selfheal.monitor.problems import Delivery, DeliveryLog, Problem

log = logging.getLogger(__name__)
_NS = uuid.UUID("6f1d3c2e-8d7b-4c1e-9a51-5e1f0c0ffee0")
OPEN_T = "OPEN"
UPDATE_T = "UPDATE"
RESOLVED_T = "RESOLVED"


def notification_id(problem: Problem, transition: str) -> str:
    return str(
        uuid.uuid5(
            _NS,
            f"{problem.id}:{transition}:{problem.occurrence}:{len(problem.evidence)}"
            if transition == UPDATE_T
            else f"{problem.id}:{transition}:{problem.occurrence}",
        )
    )


def problem_url(problem: Problem, public_url: str) -> str:
    return pages.absolute(public_url, pages.problem(problem.id))


def problem_details(problem: Problem, public_url: str) -> dict[str, Any]:
    return {
        "id": problem.id,
        "displayName": problem.display_id,
        "title": problem.title,
        "status": dynatrace_status(problem),
        "severityLevel": severity_level(problem),
        "startTime": int(problem.start * 1000),
        "endTime": int(problem.end * 1000) if problem.end else -1,
        "impactedEntity": problem.impacted_entity,
        "tagsOfAffectedEntities": [{"key": k, "value": v} for k, v in problem.tags.items()],
        "evidence": problem.evidence,
        "source": problem.source,
        "url": problem_url(problem, public_url),
    }


def problem_data(problem: Problem, public_url: str) -> dict[str, Any]:
    """The Dynatrace notification shape the control plane consumes (docs/architecture.md)."""
    state = "RESOLVED" if problem.status != "OPEN" else "OPEN"
    data: dict[str, Any] = {
        "State": state,
        "ProblemID": problem.display_id,
        "PID": problem.pid,
        "ProblemTitle": problem.title,
        "ImpactedEntity": problem.impacted_entity,
        "ImpactedEntities": [
            {"type": "SERVICE", "name": problem.impacted_entity, "entity": problem.service}
        ],
        "Tags": problem.tag_string,
        "ProblemDetails": problem_details(problem, public_url),
        "ProblemURL": problem_url(problem, public_url),
    }
    for tag, key in (
        ("keptn_project", "project"),
        ("keptn_stage", "stage"),
        ("keptn_service", "service"),
    ):
        if problem.tags.get(tag):
            data[key] = problem.tags[tag]
    return data


def problem_event(problem: Problem, transition: str, public_url: str, now: float) -> CloudEvent:
    return CloudEvent(
        type=PROBLEM,
        source="selfheal/monitor",
        id=notification_id(problem, transition),
        time=iso_from_epoch(now),
        data=problem_data(problem, public_url),
    )


def dynatrace_body(problem: Problem, public_url: str, now: float) -> dict[str, Any]:
    """The exact Dynatrace→Keptn custom-integration template (seed/formats)."""
    data = problem_data(problem, public_url)
    return {
        "specversion": "1.0",
        "type": PROBLEM,
        "shkeptncontext": problem.pid,
        "source": "dynatrace",
        "id": problem.pid,
        "time": iso_from_epoch(now),
        "contenttype": "application/json",
        "data": {
            "State": data["State"],
            "ProblemID": data["ProblemID"],
            "PID": data["PID"],
            "ProblemTitle": data["ProblemTitle"],
            "ProblemURL": data["ProblemURL"],
            "ProblemDetails": data["ProblemDetails"],
            "Tags": data["Tags"],
            "ImpactedEntities": data["ImpactedEntities"],
            "ImpactedEntity": data["ImpactedEntity"],
            "KeptnProject": problem.tags.get("keptn_project", ""),
        },
    }


class DeliveryError(Exception):
    """A webhook attempt that did not succeed (kept inside the notifier)."""


class Sender(Protocol):
    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int: ...


class HttpxSender:
    """The real webhook client; its pool opens on the first delivery."""

    def __init__(self, client: httpx.AsyncClient | None = None, timeout: float = 5.0) -> None:
        self._client = client
        self._timeout = timeout

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        if self._client is None:
            self._client = httpx.AsyncClient()
        try:
            response = await self._client.post(
                url, content=body, headers=dict(headers), timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(exc.__class__.__name__) from exc
        return response.status_code

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


@dataclass
class RecordingSender:
    """Records every post; answers `codes` in turn (then 200)."""

    codes: list[int] = field(default_factory=list)
    posts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        self.posts.append((url, json.loads(body)))
        return self.codes.pop(0) if self.codes else 200


def render_body(hook: WebhookSettings, problem: Problem, public_url: str, now: float) -> bytes:
    if hook.template == "dynatrace":
        return json.dumps(dynatrace_body(problem, public_url, now)).encode()
    try:
        source = Path(hook.template).read_text()
        env = Environment(autoescape=False, undefined=StrictUndefined)
        env.filters["tojson"] = json.dumps
        text = env.from_string(source).render(
            problem=problem, data=problem_data(problem, public_url), state=problem.status
        )
    except (OSError, TemplateError) as exc:
        raise DeliveryError(f"template {hook.template}: {exc}") from exc
    return text.encode()


class Notifier:
    def __init__(
        self,
        *,
        publish: Any,
        log_store: DeliveryLog,
        sender: Sender,
        clock: Clock,
        public_url: str,
        webhooks: list[WebhookSettings],
        retries: int = 5,
        backoff: float = 1.0,
    ) -> None:
        self._publish = publish
        self._log = log_store
        self.sender = sender
        self._clock = clock
        self.public_url = public_url
        self.webhooks = list(webhooks)
        self.retries = retries
        self.backoff = backoff
        self._tasks: set[asyncio.Task[None]] = set()
        # the last delivery per (webhook, problem): the next one waits for it, so a receiver
        # never sees RESOLVED before an OPEN that was still being retried
        self._last: dict[tuple[str, str], asyncio.Task[None]] = {}

    async def notify(self, problem: Problem, transition: str) -> bool:
        """Publish the bus event (OPEN/RESOLVED) and queue webhook deliveries; False if this
        transition had been notified already."""
        now = self._clock.now()
        new = True
        if transition in (OPEN_T, RESOLVED_T):
            new = bool(
                await self._publish(problem_event(problem, transition, self.public_url, now))
            )
        event_id = notification_id(problem, transition)
        for hook in self.webhooks:
            key = hashlib.sha256(f"{hook.url}|{event_id}".encode()).hexdigest()[:40]
            delivery = Delivery(key, problem.id, transition, hook.url, created=now, updated=now)
            if not await self._log.record(delivery):
                continue
            order = (hook.url, problem.id)
            task = asyncio.create_task(
                self._deliver_after(self._last.get(order), hook, problem, delivery)
            )
            self._last[order] = task
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            task.add_done_callback(partial(self._forget, order))
        return new

    def _forget(self, order: tuple[str, str], task: asyncio.Task[None]) -> None:
        if self._last.get(order) is task:
            del self._last[order]

    async def _deliver_after(
        self,
        previous: asyncio.Task[None] | None,
        hook: WebhookSettings,
        problem: Problem,
        delivery: Delivery,
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        await self._deliver(hook, problem, delivery)

    async def _deliver(self, hook: WebhookSettings, problem: Problem, delivery: Delivery) -> None:
        headers = {"content-type": "application/json", **hook.headers}
        for attempt in range(self.retries + 1):
            code: int | None = None
            error: str | None = None
            try:
                body = render_body(hook, problem, self.public_url, self._clock.now())
                code = await self.sender.post(hook.url, body, headers)
            except DeliveryError as exc:
                error = str(exc)
            ok = code is not None and 200 <= code < 300
            final = (
                ok
                or attempt == self.retries
                or (code is not None and 400 <= code < 500 and code != 429)
            )
            status = "delivered" if ok else ("failed" if final else "retrying")
            delivery = Delivery(
                delivery.key,
                delivery.problem_id,
                delivery.transition,
                delivery.url,
                status,
                attempt + 1,
                code,
                error,
                delivery.created,
                self._clock.now(),
            )
            await self._log.update(delivery)
            if final:
                if not ok:
                    log.warning(
                        "webhook %s for %s failed: %s",
                        hook.url.split("?")[0],
                        problem.display_id,
                        error or code,
                    )
                return
            await self._clock.sleep(self.backoff * 2**attempt)

    @property
    def pending(self) -> int:
        """Deliveries queued or waiting to retry (their backoff sleeps on the clock)."""
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait for queued deliveries (tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        self._tasks.clear()
