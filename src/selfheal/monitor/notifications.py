"""Problem notifications: the `sh.keptn.events.problem` bus event and webhooks.

Every notification has a deterministic id from (problem, transition, occurrence), so the
event store's dedup and the outbox's dedup key make each transition notify once, even when
two code paths (or two replicas) try. Webhooks are deliveries of the shared outbox
(`selfheal.delivery`): leased rows, retried with exponential backoff on the injected clock,
resumed after a crash by any replica, one queue per hook URL.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
from jinja2 import Environment, StrictUndefined, TemplateError

from selfheal.core import Clock, CloudEvent, iso_from_epoch, pages
from selfheal.core.keptn import PROBLEM
from selfheal.delivery import DEAD, SUCCEEDED, Attempt, DeliveryQuery, Outbox, RetryPolicy
from selfheal.delivery import Delivery as DeliveryRecord
from selfheal.monitor.config import WebhookSettings
from selfheal.monitor.dynatrace import dynatrace_status, severity_level
from selfheal.monitor.problems import Delivery, Problem

log = logging.getLogger(__name__)
_NS = uuid.UUID("6f1d3c2e-8d7b-4c1e-9a51-5e1f0c0ffee0")
INTEGRATION = "monitor"
"""The monitor's deliveries in the shared outbox (`integration` column)."""
WEBHOOK = "webhook"
OPEN_T = "OPEN"
UPDATE_T = "UPDATE"
RESOLVED_T = "RESOLVED"
MITIGATED_T = "MITIGATED"
"""Not a Dynatrace transition: the status stays OPEN; only `sh.selfheal.problem.mitigated`
goes out (no webhook)."""
MITIGATED_EVENT = "sh.selfheal.problem.mitigated"


def notification_id(problem: Problem, transition: str) -> str:
    return str(
        uuid.uuid5(
            _NS,
            f"{problem.id}:{transition}:{problem.occurrence}:{len(problem.evidence)}"
            if transition == UPDATE_T
            else f"{problem.id}:{transition}:{problem.occurrence}:{problem.mitigated_since}"
            if transition == MITIGATED_T
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
        "occurrence": problem.occurrence,
        "mitigated": problem.mitigated,
    }


def mitigated_event(problem: Problem, public_url: str, now: float) -> CloudEvent:
    """`sh.selfheal.problem.mitigated`: the fallback serves the users, the origin is not yet
    verified (the restore contract's event, in the problem's Keptn context)."""
    data: dict[str, Any] = {
        "problemId": problem.pid,
        "displayId": problem.display_id,
        "flag": problem.masked_by or "",
        "since": iso_from_epoch(problem.mitigated_since or now),
        "ProblemURL": problem_url(problem, public_url),
    }
    for tag, key in (
        ("keptn_project", "project"),
        ("keptn_stage", "stage"),
        ("keptn_service", "service"),
    ):
        data[key] = problem.tags.get(tag, "")
    event = CloudEvent(
        type=MITIGATED_EVENT,
        source="selfheal/monitor",
        id=notification_id(problem, MITIGATED_T),
        time=iso_from_epoch(now),
        data=data,
    )
    if problem.masked_context:
        event = event.with_extensions(shkeptncontext=problem.masked_context)
    return event


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


def _status(record: DeliveryRecord) -> str:
    """The monitor's words for a delivery record's state."""
    if record.status == SUCCEEDED:
        return "delivered"
    if record.status == DEAD:
        return "failed"
    return "retrying" if record.attempts else "pending"


class WebhookSender:
    """Sends one rendered notification; the hook's headers (which may carry a token) come
    from the settings at send time, never from the stored delivery."""

    def __init__(self, notifier: Notifier) -> None:
        self._notifier = notifier

    async def settled(self, args: Mapping[str, Any]) -> bool:
        return False

    async def attempt(self, args: Mapping[str, Any]) -> Attempt:
        url = str(args.get("url", ""))
        target = f"POST {url.split('?', maxsplit=1)[0]}"
        if args.get("error"):
            return Attempt(False, target, error=str(args["error"]), retry=False)
        hook = next((h for h in self._notifier.webhooks if h.url == url), None)
        headers = {"content-type": "application/json", **(hook.headers if hook else {})}
        try:
            code = await self._notifier.sender.post(url, str(args["body"]).encode(), headers)
        except DeliveryError as exc:
            return Attempt(False, target, error=str(exc))
        if 200 <= code < 300:
            return Attempt(True, target, code)
        return Attempt(
            False, target, code, f"HTTP {code}", retry=not (400 <= code < 500 and code != 429)
        )


class Notifier:
    """A problem transition's bus event (written with the change, see `events`) and its
    webhooks: one delivery per hook through the shared outbox (`selfheal.delivery`), in the
    hook URL's own queue, so a crash mid-retry is resumed by whichever replica takes the
    lease and a slow receiver holds back only itself."""

    def __init__(
        self,
        *,
        publish: Any,
        outbox: Outbox,
        sender: Sender,
        clock: Clock,
        public_url: str,
        webhooks: list[WebhookSettings],
        retries: int = 5,
        backoff: float = 1.0,
    ) -> None:
        self._publish = publish
        self.outbox = outbox
        self.sender = sender
        self._clock = clock
        self.public_url = public_url
        self.webhooks = list(webhooks)
        outbox.register(
            INTEGRATION,
            WEBHOOK,
            WebhookSender(self),
            RetryPolicy(max_attempts=retries + 1, backoff=backoff),
        )

    def events(self, problem: Problem, transition: str) -> list[CloudEvent]:
        """The bus event of a transition (OPEN and RESOLVED; an UPDATE has none), to be
        written in the same transaction as the problem's change."""
        if transition == MITIGATED_T:
            return [mitigated_event(problem, self.public_url, self._clock.now())]
        if transition not in (OPEN_T, RESOLVED_T):
            return []
        return [problem_event(problem, transition, self.public_url, self._clock.now())]

    async def notify(self, problem: Problem, transition: str) -> bool:
        """Publish the bus event on its own and queue the webhooks (for a change that was
        not written with its events); False if this transition had been notified already."""
        new = True
        for event in self.events(problem, transition):
            new = bool(await self._publish(event))
        await self.deliver(problem, transition)
        return new

    async def deliver(self, problem: Problem, transition: str) -> None:
        """Queue the webhook deliveries of a committed transition (each once per hook)."""
        if transition == MITIGATED_T:
            return  # Dynatrace has no such transition: the webhooks' status stays OPEN
        now = self._clock.now()
        event_id = notification_id(problem, transition)
        for hook in self.webhooks:
            key = hashlib.sha256(f"{hook.url}|{event_id}".encode()).hexdigest()[:40]
            args: dict[str, Any] = {"url": hook.url}
            try:
                args["body"] = render_body(hook, problem, self.public_url, now).decode()
            except DeliveryError as exc:
                args["error"] = str(exc)
            await self.outbox.enqueue(
                INTEGRATION,
                WEBHOOK,
                args,
                endpoint=hook.url,
                dedup_key=f"{INTEGRATION}:{key}",
                problem=problem.id,
                event_type=transition,
            )

    async def deliveries(self, problem_id: str | None = None, limit: int = 100) -> list[Delivery]:
        """The webhook deliveries (newest first), from the outbox's records."""
        records = await self.outbox.store.find(
            DeliveryQuery(problem=problem_id, integration=INTEGRATION, limit=limit)
        )
        return [
            Delivery(
                key=r.dedup_key or r.id,
                problem_id=r.problem or "",
                transition=r.event_type or "",
                url=str(r.args.get("url", "")),
                status=_status(r),
                attempts=r.attempts,
                response_code=r.http_status,
                error=r.error,
                created=r.created,
                updated=r.updated,
            )
            for r in records
        ]

    @property
    def pending(self) -> int:
        """Deliveries queued or waiting to retry in this process."""
        return self.outbox.pending

    async def drain(self) -> None:
        """Wait for queued deliveries (tests)."""
        await self.outbox.drain()
