"""Bounded input (issue 12, item 12): every field that becomes a NATS subject, an index key or
a label is capped on every intake with a 400 naming it, and every body is capped (413)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from selfheal.bootstrap import Container
from selfheal.storage import EventQuery
from selfheal.web import create_app

ADMIN = {"x-token": "*:*.admin-secret", "Authorization": "*:*.admin-secret"}
GOOD = {
    "specversion": "1.0",
    "id": "e-1",
    "source": "test",
    "type": "sh.keptn.event.hello.triggered",
    "data": {"project": "p", "stage": "s", "service": "x"},
}
LONG = "a" * 100_000


@pytest.fixture
async def http(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(container, manage_lifecycle=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t", headers=ADMIN
    ) as c:
        yield c


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({**GOOD, "type": "sh.keptn.event." + LONG}, "type"),
        ({**GOOD, "type": "sh.keptn.event.a$b.triggered"}, "type"),
        ({**GOOD, "type": "sh.keptn.event.a\u00e9.triggered"}, "type"),
        ({**GOOD, "source": LONG}, "source"),
        ({**GOOD, "id": LONG}, "id"),
        ({**GOOD, "shkeptncontext": LONG}, "shkeptncontext"),
        ({**GOOD, "triggeredid": LONG}, "triggeredid"),
        ({**GOOD, "data": {**GOOD["data"], "project": LONG}}, "data.project"),  # type: ignore[dict-item]
        ({**GOOD, "data": {**GOOD["data"], "stage": "a" * 101}}, "data.stage"),  # type: ignore[dict-item]
        ({**GOOD, "data": {**GOOD["data"], "service": "a/b"}}, "data.service"),  # type: ignore[dict-item]
    ],
)
async def test_event_api_bounds_every_key_field(
    http: httpx.AsyncClient, container: Container, event: dict[str, object], field: str
) -> None:
    r = await http.post("/api/v1/event", json=event)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field
    page = await container.runtime.events.query(EventQuery(page_size=10))
    assert [e for e in page.events if e.source != "selfheal/flags"] == []


async def test_dynatrace_and_alertmanager_bound_their_keys(http: httpx.AsyncClient) -> None:
    dt = {
        "State": "OPEN",
        "PID": "1",
        "ProblemTitle": "t",
        "Tags": f"keptn_project:{LONG}, keptn_service:x",
    }
    r = await http.post("/api/v1/dynatrace/problem", json=dt)
    assert r.status_code == 400 and r.json()["field"] == "Tags.keptn_project", r.text
    r = await http.post("/api/v1/dynatrace/problem", json={**dt, "Tags": "", "PID": LONG})
    assert r.status_code == 400 and r.json()["field"] == "PID", r.text
    am = {
        "version": "4",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "x", "keptn_service": LONG},
                "annotations": {},
                "fingerprint": "f",
                "startsAt": "2024-01-01T00:00:00Z",
            }
        ],
    }
    r = await http.post("/api/v1/alertmanager", json=am)
    assert r.status_code == 400, r.text
    assert r.json()["field"].startswith("alerts[0].labels."), r.text


async def test_keptn_api_and_flags_admin_bound_names(http: httpx.AsyncClient) -> None:
    r = await http.post(
        "/api/controlPlane/v1/project", json={"projectName": LONG[:500], "shipyard": "eA=="}
    )
    assert r.status_code == 400 and r.json()["field"] == "projectName", r.text
    r = await http.post(
        "/api/admin/projects/default/features", json={"name": "f" * 101, "type": "release"}
    )
    assert r.status_code == 400 and r.json()["field"] == "name", r.text


async def test_body_over_the_cap_is_413_declared_or_streamed(http: httpx.AsyncClient) -> None:
    big = b'{"pad": "' + b"x" * 2_000_000 + b'"}'
    r = await http.post("/api/v1/event", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413, r.text
    assert r.json()["field"] == "body"

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b"x" * 65536

    r = await http.post(
        "/api/v1/event", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413, r.text
    ok = await http.post("/api/v1/event", json=GOOD)
    assert ok.status_code == 200, ok.text
