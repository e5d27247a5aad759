"""Plugins wired to real HTTP (httpx over a socket) and in-memory state, plus Keptn events."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

from selfheal.core import CloudEvent
from selfheal.delivery import MemoryDeliveryStore, Outbox, RetryPolicy
from selfheal.integrations.links import MemoryLinks
from selfheal.integrations.messages import Notification, notification_of
from selfheal.integrations.plugins import PluginContext, PluginHttp
from selfheal.integrations.redaction import Redactor
from selfheal.integrations.secrets import MemorySecrets
from selfheal.integrations.transport import HttpxClient
from tests.unit.integrations.fakes import RecordingClock

CTX = "2b9c1a4e-1111-4222-8333-944455556666"
PID = "-3418468213212981296_1700000000000V2"
UI = "http://selfheal.test"


@dataclass
class Harness:
    secrets: dict[str, str]
    attempts: int = 3
    timeout: float = 5.0
    clock: RecordingClock = field(default_factory=RecordingClock)
    store: MemoryDeliveryStore = field(default_factory=MemoryDeliveryStore)
    links: MemoryLinks = field(default_factory=MemoryLinks)
    emitted: list[CloudEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.redactor = Redactor()
        self.http = HttpxClient(default_timeout=self.timeout)
        self.outbox = Outbox(
            self.store,
            self.clock,
            policy=RetryPolicy(self.attempts, 1.0, 10.0),
            registry=CollectorRegistry(),
        )

    async def emit(self, event: CloudEvent) -> bool:
        self.emitted.append(event)
        return True

    def context(self, name: str) -> PluginContext:
        return PluginContext(
            name=name,
            emit=self.emit,
            http=PluginHttp(name, self.outbox, self.http, self.redactor),
            secrets=MemorySecrets(self.secrets, redactor=self.redactor),
            log=logging.getLogger(f"test.{name}"),
            links=self.links,
            clock=self.clock,
            ui_url=UI,
        )


def problem(state: str = "OPEN", url: str = "http://selfheal.test/problems/P-1") -> dict[str, Any]:
    return {
        "State": state,
        "PID": PID,
        "ProblemID": "P-1",
        "ProblemTitle": "Failure rate increase",
        "ProblemURL": url,
        "ProblemDetails": {"failure_rate": 0.42},
        "project": "website",
        "stage": "production",
        "service": "front-end",
    }


def scope(
    extra: dict[str, Any] | None = None, *, url: str = "http://selfheal.test/problems/P-1"
) -> dict[str, Any]:
    return {
        "project": "website",
        "stage": "production",
        "service": "front-end",
        "problem": problem(url=url),
        "labels": {"Problem URL": url},
        **(extra or {}),
    }


def ev(
    type_: str, data: dict[str, Any], *, source: str = "selfheal/control", id_: str | None = None
) -> CloudEvent:
    kw: dict[str, Any] = {"id": id_} if id_ else {}
    return CloudEvent(
        type=type_, source=source, data=data, extensions={"shkeptncontext": CTX}, **kw
    )


def story(url: str = "http://selfheal.test/problems/P-1") -> list[Notification]:
    """The notifications of one remediation: open, one action, evaluation, finished, resolved."""
    action = {
        "name": "flip",
        "action": "toggle-feature",
        "description": "serve static content",
        "value": {"EnableStaticContent": "on"},
    }
    events = [
        ev("sh.keptn.events.problem", problem(url=url), source="selfheal/monitor"),
        ev("sh.keptn.event.action.triggered", scope({"action": action}, url=url)),
        ev("sh.keptn.event.action.started", scope(url=url), source="selfheal/integrations"),
        ev(
            "sh.keptn.event.action.finished",
            scope({"result": "pass", "status": "succeeded"}, url=url),
            source="selfheal/integrations",
        ),
        ev(
            "sh.keptn.event.evaluation.finished",
            scope(
                {
                    "result": "pass",
                    "status": "succeeded",
                    "evaluation": {"score": 100.0, "result": "pass"},
                },
                url=url,
            ),
        ),
        ev(
            "sh.keptn.event.production.remediation.finished",
            scope({"result": "pass", "status": "succeeded"}, url=url),
        ),
        ev("sh.keptn.events.problem", problem("RESOLVED", url=url), source="selfheal/monitor"),
    ]
    out = [notification_of(e, ui_url=UI) for e in events]
    assert all(n is not None for n in out)
    return [n for n in out if n is not None]
