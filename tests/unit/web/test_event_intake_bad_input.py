"""POST /api/v1/event: a malformed CloudEvent is a 400 naming the problem, and is not stored."""

from __future__ import annotations

import httpx
import pytest

from selfheal.bootstrap import Container
from selfheal.storage import EventQuery
from selfheal.web import create_app

ADMIN = {"x-token": "*:*.admin-secret"}
GOOD = {
    "specversion": "1.0",
    "id": "e-1",
    "source": "test",
    "type": "sh.keptn.event.hello.triggered",
    "data": {"project": "p", "stage": "s", "service": "x"},
}


@pytest.mark.parametrize(
    ("body", "headers", "field"),
    [
        ({k: v for k, v in GOOD.items() if k != "type"}, {}, "type"),
        (b"{not json", {"content-type": "application/cloudevents+json"}, "body"),
        (b"type=x", {"content-type": "text/plain"}, "content-type"),
        ({**GOOD, "type": 42}, {}, "type"),
        ({**GOOD, "time": "yesterday"}, {}, "time"),
        ({**GOOD, "shkeptncontext": 7}, {}, "shkeptncontext"),
        ({**GOOD, "specversion": "9.9"}, {}, "specversion"),
    ],
)
async def test_malformed_cloudevent_is_rejected_and_not_stored(
    container: Container, body: object, headers: dict[str, str], field: str
) -> None:
    app = create_app(container, manage_lifecycle=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        if isinstance(body, bytes):
            r = await c.post("/api/v1/event", content=body, headers={**ADMIN, **headers})
        else:
            r = await c.post("/api/v1/event", json=body, headers=ADMIN)
        assert r.status_code == 400, r.text
        assert r.json()["field"] == field
        assert r.json()["message"]
        ok = await c.post("/api/v1/event", json=GOOD, headers=ADMIN)
        assert ok.status_code in (200, 202), ok.text
    page = await container.runtime.events.query(EventQuery(page_size=100))
    assert [e.id for e in page.events if e.source == "test"] == ["e-1"]
