from __future__ import annotations

import random

import httpx
import pytest
from prometheus_client import CollectorRegistry

from selfheal.demo import (
    FLAG_NAME,
    Backend,
    Fault,
    LoadGenerator,
    Sample,
    StaticFlags,
    bucketize,
    create_website,
)
from selfheal.demo.loadgen import seed_url
from selfheal.demo.traffic import percentile, totals


class Page:
    async def fetch(self) -> str:
        return "cdn"


def site_client(rate: float) -> httpx.AsyncClient:
    app = create_website(
        StaticFlags({FLAG_NAME: False}),
        Backend(rng=random.Random(1), fault=Fault(rate=rate)),
        Page(),
        registry=CollectorRegistry(),
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://site")


async def test_sends_rate_times_duration_requests_and_stops() -> None:
    async with site_client(0.5) as client:
        gen = LoadGenerator("http://site/", client, rate=400, duration=0.1)
        samples = await gen.run()
    assert len(samples) == 40
    assert {s.served_by for s in samples} == {"app"}
    assert {s.status for s in samples} <= {200, 500}


async def test_each_virtual_user_keeps_its_session_and_samples_carry_server_time() -> None:
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["cookie"])
        return httpx.Response(200, headers={"X-Served-By": "cdn", "X-Served-At": "123.25"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as client:
        gen = LoadGenerator("http://site/", client, rate=400, duration=0.05, users=4)
        samples = await gen.run()
    assert len(samples) == 20
    assert len(set(seen)) == 4
    assert seen[:4] == seen[4:8]
    assert all(c.startswith("sessionId=") for c in seen)
    assert {s.served_at for s in samples} == {123.25}
    assert gen.ended_by == "count"
    assert gen.started_at is not None and gen.stopped_at is not None
    assert all(gen.started_at <= s.sent_at <= gen.stopped_at + 1 for s in samples)


async def test_stop_ends_early() -> None:
    seen: list[Sample] = []
    async with site_client(0.0) as client:
        gen = LoadGenerator("http://site/", client, rate=100, duration=30, on_sample=seen.append)
        gen.stop()
        samples = await gen.run()
    assert samples == seen
    assert len(samples) <= 1
    assert gen.ended_by == "stop"


def test_rejects_unbounded_settings() -> None:
    client = httpx.AsyncClient()
    with pytest.raises(ValueError):
        LoadGenerator("http://x/", client, rate=0)
    with pytest.raises(ValueError):
        LoadGenerator("http://x/", client, duration=10**9)


def test_seed_url_adds_the_status_code() -> None:
    assert seed_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080/?statusCode=500"
    assert seed_url("http://h/?a=1") == "http://h/?a=1&statusCode=500"


def test_buckets_and_totals() -> None:
    samples = [
        Sample(100.0, 0.01, 200, "app"),
        Sample(100.5, 0.02, 500, "app"),
        Sample(102.2, 0.01, 200, "cdn"),
    ]
    buckets = bucketize(samples, width=1.0)
    assert [b.count for b in buckets] == [2, 0, 1]
    assert buckets[0].error_rate == 0.5
    assert buckets[2].share("cdn") == 1.0
    summary = totals(samples)
    assert summary["statuses"] == {"200": 2, "500": 1}
    assert summary["served_by"] == {"app": 2, "cdn": 1}
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0
    assert percentile([], 0.9) == 0.0
