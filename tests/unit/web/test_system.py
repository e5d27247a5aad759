from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from selfheal.bootstrap import Container
from selfheal.web import create_app


def client(container: Container) -> httpx.AsyncClient:
    app = create_app(container, manage_lifecycle=False)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_ready_and_health(container: Container) -> None:
    async with client(container) as c:
        assert (await c.get("/healthz")).text == "ok"
        r = await c.get("/readyz")
        assert r.status_code == 200
        assert r.json()["database"] == "ok"


async def test_not_ready_before_start(container: Container) -> None:
    container.runtime.ready = False
    async with client(container) as c:
        assert (await c.get("/readyz")).status_code == 503


async def test_metrics_parse_with_prometheus_parser(container: Container) -> None:
    async with client(container) as c:
        await c.get("/healthz")
        text = (await c.get("/metrics")).text
    names = {f.name for f in text_string_to_metric_families(text)}
    assert "selfheal_http_requests" in names
    assert "selfheal_events_published" in names
