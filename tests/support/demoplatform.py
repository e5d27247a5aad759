"""The subset of the platform's HTTP APIs the demo's watcher reads, with server timestamps a
test sets by hand (through `httpx.MockTransport`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import httpx

from selfheal.demo.platform import Platform

T0 = 1_800_000_000.0
"""The fault onset in these tests (epoch seconds)."""

TAGS = [
    {"key": "keptn_project", "value": "website"},
    {"key": "keptn_stage", "value": "production"},
    {"key": "keptn_service", "value": "front-end"},
]
CONTEXT = "ctx-1"


def iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).isoformat(timespec="milliseconds")


def ms(epoch: float | None) -> int:
    return round(epoch * 1000) if epoch is not None else -1


@dataclass
class FakePlatform:
    problem_start: float | None = None
    problem_end: float | None = None
    mitigated_since: float | None = None
    """Set: the problem JSON has `mitigated`/`mitigatedSince` (a restoring platform)."""
    earlier_problem: tuple[float, float | None] | None = None
    """(start, end) of a problem of ours opened before the fault."""
    flag_changes: list[tuple[float, bool]] = field(default_factory=list)
    sequence_state: str | None = None
    sequence_created: float = T0 + 0.1
    sequence_updated: float = T0 + 0.1
    outcome: str = "remediated"
    events: list[tuple[str, float, str | None, dict[str, Any]]] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    requests: int = 0

    def client(self) -> Platform:
        transport = httpx.MockTransport(self.handle)
        return Platform(httpx.AsyncClient(transport=transport, base_url="http://p"))

    def event(self, type_: str, at: float, context: str | None = CONTEXT, **data: Any) -> None:
        """Store an event; `context=None` as the monitor's mitigated event has none."""
        self.events.append((type_, at, context, data))

    def _problem(self, pid: str, start: float, end: float | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "problemId": pid,
            "displayId": pid,
            "title": "Failure rate increase",
            "status": "CLOSED" if end is not None else "OPEN",
            "startTime": ms(start),
            "endTime": ms(end),
            "entityTags": TAGS,
        }
        if self.mitigated_since is not None:
            # As selfheal's monitor: null again once the problem is resolved.
            body["mitigated"] = end is None
            body["mitigatedSince"] = ms(self.mitigated_since) if end is None else None
        return body

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        path = request.url.path
        if path == "/api/v2/problems":
            problems = []
            if self.problem_start is not None:
                problems.append(self._problem("P-2", self.problem_start, self.problem_end))
            if self.earlier_problem is not None:
                problems.append(self._problem("P-1", *self.earlier_problem))
            return httpx.Response(200, json={"problems": problems})
        if path == "/api/v2/problems/P-2/comments":
            return httpx.Response(200, json={"comments": [{"message": m} for m in self.comments]})
        if path == "/api/admin/events":
            assert request.url.params["feature"] == "EnableStaticContent"
            events = [
                {
                    "type": "feature-environment-" + ("enabled" if on else "disabled"),
                    "createdAt": at,
                    "environment": "production",
                    "featureName": "EnableStaticContent",
                }
                for at, on in reversed(self.flag_changes)
            ]
            events.append({"type": "feature-created", "createdAt": T0 - 10})
            return httpx.Response(200, json={"events": events})
        if path == "/api/admin/projects/default/features/EnableStaticContent":
            on = bool(self.flag_changes) and self.flag_changes[-1][1]
            return httpx.Response(
                200, json={"environments": [{"name": "production", "enabled": on}]}
            )
        if path == "/api/controlPlane/v1/sequence/website":
            states = []
            if self.sequence_state:
                states.append(
                    {
                        "name": "remediation",
                        "stage": "production",
                        "state": self.sequence_state,
                        "shkeptncontext": CONTEXT,
                        "outcome": self.outcome if self.sequence_state == "finished" else None,
                        "problemURL": "http://p/problems/P-2",
                        "created": self.sequence_created,
                        "updated": self.sequence_updated,
                    }
                )
            return httpx.Response(200, json={"states": states})
        if path == "/api/mongodb-datastore/event":
            params = request.url.params
            assert params.get("project") == "website"
            events = [
                {"type": t, "time": iso(at), "shkeptncontext": ctx, "data": data}
                for t, at, ctx, data in sorted(self.events, key=lambda e: -e[1])
                if ("type" in params and t == params["type"])
                or ("keptnContext" in params and ctx == params["keptnContext"])
            ]
            return httpx.Response(200, json={"events": events, "nextPageKey": None})
        return httpx.Response(404, json={"message": "no"})
