from __future__ import annotations

import os
import random
from collections.abc import Mapping
from typing import Any

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


async def test_fault_endpoint_sets_and_clears_the_fault_with_the_websites_time() -> None:
    now = [1000.0]
    backend = Backend(rng=random.Random(7), clock=lambda: now[0])
    app = create_website(StaticFlags(), backend, FixedPage(), registry=CollectorRegistry())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        assert (await c.get("/_fault")).json()["changed_at"] is None
        r = await c.post("/_fault", json={"rate": 1.0, "latency_ms": 0})
        assert r.json() == {"rate": 1.0, "latency_ms": 0.0, "changed_at": 1000.0}
        assert (await c.get("/")).status_code == 500
        assert (await c.post("/_fault", json={"rate": 2})).status_code == 400
        now[0] = 1020.5
        assert (await c.delete("/_fault")).json()["changed_at"] == 1020.5
        assert backend.fault == Fault()
        assert (await c.get("/")).status_code == 200


class KillSwitch:
    """Evaluates like the seed's kill switch: on, except for contexts with
    `selfhealProbe: "true"` (the constraint `selfhealProbe NOT_IN ["true"]`)."""

    def __init__(self) -> None:
        self.contexts: list[dict[str, Any]] = []

    def is_enabled(self, name: str, context: Mapping[str, Any] | None = None) -> bool:
        self.contexts.append(dict(context or {}))
        return (context or {}).get("properties", {}).get("selfhealProbe") != "true"

    def ready(self) -> bool:
        return True

    def close(self) -> None:
        return None


def switched_on() -> tuple[httpx.AsyncClient, KillSwitch, CollectorRegistry]:
    flags = KillSwitch()
    registry = CollectorRegistry()
    app = create_website(flags, Backend(), FixedPage(), registry=registry, clock=lambda: 42.5)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://site")
    return client, flags, registry


async def test_probe_header_reaches_the_app_and_stays_out_of_user_metrics() -> None:
    client, flags, registry = switched_on()
    async with client:
        user = await client.get("/", headers={"Cookie": "sessionId=u-1"})
        probe = await client.get("/", headers={"X-Selfheal-Probe": "true"})
    assert (user.headers["x-served-by"], probe.headers["x-served-by"]) == ("cdn", "app")
    assert flags.contexts[1]["properties"] == {"selfhealProbe": "true"}
    assert "set-cookie" not in probe.headers
    users = {"method": "GET", "status": "200"}
    assert registry.get_sample_value("http_requests_total", {**users, "served_by": "cdn"}) == 1
    assert registry.get_sample_value("http_requests_total", {**users, "served_by": "app"}) is None
    assert (
        registry.get_sample_value("http_probe_requests_total", {**users, "served_by": "app"}) == 1
    )


async def test_session_cookie_is_the_unleash_session_id_and_is_set_once() -> None:
    client, flags, _ = switched_on()
    async with client:
        first = await client.get("/")
        session = first.cookies["sessionId"]
        again = await client.get("/")  # the client's cookie jar sends it back
    assert flags.contexts[0]["sessionId"] == session
    assert flags.contexts[1]["sessionId"] == session
    assert "set-cookie" not in again.headers
    assert "selfhealProbe" not in flags.contexts[0]["properties"]


async def test_every_page_says_when_the_website_decided() -> None:
    client, _, _ = switched_on()
    async with client:
        r = await client.get("/")
    assert float(r.headers["x-served-at"]) == 42.5


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
    assert body["pid"] == os.getpid()


async def test_cdn_serves_the_green_page() -> None:
    app = create_cdn(registry=CollectorRegistry())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://cdn"
    ) as c:
        r = await c.get("/")
        assert r.status_code == 200
        assert 'data-served-by="cdn"' in r.text
        assert "served from the CDN" in r.text
        health = await c.get("/healthz")
        assert (health.text, health.headers["x-process-id"]) == ("ok", str(os.getpid()))
        assert "cdn_requests_total 1.0" in (await c.get("/metrics")).text
