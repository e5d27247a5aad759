"""CORS on the frontend API and OFREP only (issue 12, item 5): preflights answered for the
headers browser SDKs send, ETag exposed, a configured origin list honoured."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from selfheal.bootstrap import build
from selfheal.bus import MemoryBus
from selfheal.settings import Settings
from selfheal.web import create_app

FRONTEND = {"Authorization": "default:production.frontend-secret"}
APP = "https://app.example"


async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    c = await build(settings, bus=MemoryBus())
    await c.start()
    try:
        app = create_app(c, manage_lifecycle=False)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as http:
            yield http
    finally:
        await c.stop()


@pytest.fixture
async def http(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async for c in client(settings):
        yield c


@pytest.fixture
async def listed(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    only = settings.model_copy(update={"cors_origins": [APP]})
    async for c in client(only):
        yield c


def preflight(method: str = "GET") -> dict[str, str]:
    return {
        "Origin": APP,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization,if-none-match,content-type",
    }


@pytest.mark.parametrize(
    "path", ["/api/frontend", "/ofrep/v1/evaluate/flags", "/unleash/api/frontend"]
)
async def test_preflight_answers_the_sdk_headers(http: httpx.AsyncClient, path: str) -> None:
    r = await http.options(path, headers=preflight("POST"))
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "*"
    assert "POST" in r.headers["access-control-allow-methods"]
    allowed = r.headers["access-control-allow-headers"].lower()
    assert {"authorization", "if-none-match", "content-type"} <= set(allowed.split(","))


async def test_answers_expose_etag_on_routed_and_fast_paths(http: httpx.AsyncClient) -> None:
    got = await http.get("/api/frontend", headers={**FRONTEND, "Origin": APP})
    posted = await http.post("/api/frontend", json={}, headers={**FRONTEND, "Origin": APP})
    ofrep = await http.post(
        "/ofrep/v1/evaluate/flags", json={"context": {}}, headers={**FRONTEND, "Origin": APP}
    )
    for r in (got, posted, ofrep):
        assert r.status_code == 200, r.text
        assert r.headers["access-control-allow-origin"] == "*"
        assert "etag" in r.headers["access-control-expose-headers"].lower()


async def test_admin_api_gets_no_cors(http: httpx.AsyncClient) -> None:
    r = await http.options("/api/admin/projects/default/features", headers=preflight())
    assert "access-control-allow-origin" not in r.headers
    r = await http.get("/api/admin/projects/default/features", headers={"Origin": APP})
    assert "access-control-allow-origin" not in r.headers


async def test_configured_origins_only(listed: httpx.AsyncClient) -> None:
    r = await listed.options("/api/frontend", headers=preflight())
    assert r.headers["access-control-allow-origin"] == APP
    other = {**preflight(), "Origin": "https://evil.example"}
    r = await listed.options("/api/frontend", headers=other)
    assert "access-control-allow-origin" not in r.headers
    r = await listed.get("/api/frontend", headers={**FRONTEND, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers
