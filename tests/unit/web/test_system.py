from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from selfheal.bootstrap import Container, build
from selfheal.settings import Settings
from selfheal.web import create_app
from tests.support.buses import CutOffBus


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


async def test_readyz_rides_out_a_short_bus_outage_and_reports_lag(settings: Settings) -> None:
    bus = CutOffBus()
    c = await build(settings, bus=bus)
    await c.start()
    try:
        async with client(c) as http:
            body = (await http.get("/readyz")).json()
            assert body["flags"]["behind"] == 0
            assert body["flags"]["revision"] == body["flags"]["database_revision"]
            bus.down = 5.0
            r = await http.get("/readyz")
            assert r.status_code == 200 and r.json()["bus"] == "unreachable"
            assert r.json()["bus_disconnected_seconds"] == 5.0
            bus.down = settings.bus_unready_seconds + 1
            assert (await http.get("/readyz")).status_code == 503
            text = (await http.get("/metrics")).text
            assert "selfheal_bus_disconnected_seconds" in text
            assert "selfheal_flags_revision_lag" in text
    finally:
        await c.stop()
