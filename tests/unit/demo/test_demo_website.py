from __future__ import annotations

import random

import httpx
from prometheus_client import CollectorRegistry

from selfheal.demo import FLAG_NAME, Backend, Fault, StaticFlags, create_cdn, create_website


class FixedPage:
    def __init__(self) -> None:
        self.fetches = 0

    async def fetch(self) -> str:
        self.fetches += 1
        return '<div id="banner" data-served-by="cdn">served from the CDN</div>'


class DeadCdn:
    async def fetch(self) -> str:
        raise httpx.ConnectError("no route")


def make(
    flag: bool = False, rate: float = 0.0
) -> tuple[httpx.AsyncClient, StaticFlags, Backend, FixedPage, CollectorRegistry]:
    flags = StaticFlags({FLAG_NAME: flag})
    backend = Backend(rng=random.Random(7), fault=Fault(rate=rate))
    page = FixedPage()
    registry = CollectorRegistry()
    app = create_website(flags, backend, page, registry=registry)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://site")
    return client, flags, backend, page, registry


async def test_flag_off_serves_the_app_page_through_the_backend() -> None:
    client, _, backend, page, _ = make()
    async with client:
        r = await client.get("/")
    assert r.status_code == 200
    assert r.headers["x-served-by"] == "app"
    assert "served from the app" in r.text
    assert backend.calls == 1
    assert page.fetches == 0


async def test_flag_on_serves_the_cdn_copy_and_skips_the_app() -> None:
    client, _, backend, page, _ = make(flag=True, rate=1.0)
    async with client:
        r = await client.get("/?statusCode=500")
    assert r.status_code == 200
    assert r.headers["x-served-by"] == "cdn"
    assert "served from the CDN" in r.text
    assert backend.calls == 0
    assert page.fetches == 1


async def test_seed_status_code_500_fails_only_on_the_app_path() -> None:
    client, flags, _, _, _ = make()
    async with client:
        assert (await client.get("/?statusCode=500")).status_code == 500
        flags.flags[FLAG_NAME] = True
        assert (await client.get("/?statusCode=500")).status_code == 200


async def test_fault_endpoint_sets_and_clears_the_fault() -> None:
    client, _, backend, _, _ = make()
    async with client:
        r = await client.post("/_fault", json={"rate": 1.0, "latency_ms": 0})
        assert r.json() == {"rate": 1.0, "latency_ms": 0.0}
        assert (await client.get("/")).status_code == 500
        assert (await client.post("/_fault", json={"rate": 2})).status_code == 400
        await client.delete("/_fault")
        assert backend.fault == Fault()
        assert (await client.get("/")).status_code == 200


async def test_partial_fault_rate_fails_some_requests() -> None:
    client, _, _, _, _ = make(rate=0.5)
    async with client:
        codes = [(await client.get("/")).status_code for _ in range(40)]
    assert 0 < codes.count(500) < 40


async def test_metrics_count_requests_by_status_and_served_by() -> None:
    client, flags, _, _, registry = make(rate=1.0)
    async with client:
        await client.get("/")
        flags.flags[FLAG_NAME] = True
        await client.get("/")
        await client.get("/")
        text = (await client.get("/metrics")).text
    assert 'http_requests_total{method="GET",served_by="app",status="500"} 1.0' in text
    assert 'http_requests_total{method="GET",served_by="cdn",status="200"} 2.0' in text
    assert "http_request_duration_seconds_bucket" in text
    assert (
        registry.get_sample_value(
            "http_requests_total", {"method": "GET", "served_by": "cdn", "status": "200"}
        )
        == 2.0
    )


async def test_unreachable_cdn_is_a_502_served_by_cdn() -> None:
    flags = StaticFlags({FLAG_NAME: True})
    app = create_website(flags, Backend(), DeadCdn(), registry=CollectorRegistry())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        r = await c.get("/")
    assert (r.status_code, r.headers["x-served-by"]) == (502, "cdn")


async def test_status_reports_flag_and_fault() -> None:
    client, _, _, _, _ = make(flag=True, rate=0.25)
    async with client:
        body = (await client.get("/_status")).json()
    assert body["enabled"] is True
    assert body["flags_ready"] is True
    assert body["fault"]["rate"] == 0.25


async def test_cdn_serves_the_green_page() -> None:
    app = create_cdn(registry=CollectorRegistry())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://cdn"
    ) as c:
        r = await c.get("/")
        assert r.status_code == 200
        assert 'data-served-by="cdn"' in r.text
        assert "served from the CDN" in r.text
        assert (await c.get("/healthz")).text == "ok"
        assert "cdn_requests_total 1.0" in (await c.get("/metrics")).text
