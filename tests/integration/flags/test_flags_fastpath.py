"""The ASGI fast path answers exactly like the routes behind it, and declines what it must.

The reference is the same container's flags routers in a bare FastAPI app (no fast path);
the subject is `create_app`. Same status, same headers, same bytes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from selfheal.bootstrap import Container
from selfheal.web import create_app, errors

from .conftest import ADMIN, CLIENT, FRONTEND

P = "/api/admin/projects/default/features"
SPEC = {"Unleash-Client-Spec": "5.1.0"}


def routes_only(container: Container) -> FastAPI:
    app = FastAPI()
    errors.install(app, container.runtime.templates)
    for router in container.flags.routers():
        app.include_router(router)
    return app


@pytest.fixture
async def pair(container: Container) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    admin = {"Authorization": ADMIN}
    async with (
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(container, manage_lifecycle=False)),
            base_url="http://test",
        ) as fast,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=routes_only(container)), base_url="http://test"
        ) as slow,
    ):
        for name in ("alpha", "beta"):
            assert (await fast.post(P, json={"name": name}, headers=admin)).status_code == 201
            await fast.post(
                f"{P}/{name}/environments/production/strategies",
                json={"name": "userWithId", "parameters": {"userIds": "u1"}, "segments": []},
                headers=admin,
            )
        await fast.post(f"{P}/alpha/environments/production/on", headers=admin)
        yield fast, slow


def same(a: httpx.Response, b: httpx.Response) -> None:
    assert a.status_code == b.status_code, (a.text, b.text)
    assert a.headers.multi_items() == b.headers.multi_items()
    assert a.content == b.content


REQUESTS: list[tuple[str, str, dict[str, str], bytes | None]] = [
    ("GET", "/api/client/features", {"Authorization": CLIENT}, None),
    ("GET", "/api/client/features", {"Authorization": CLIENT, **SPEC}, None),
    ("GET", "/unleash/api/client/features", {"Authorization": f"Bearer {CLIENT}"}, None),
    ("GET", "/api/client/features", {"Authorization": ADMIN, **SPEC}, None),
    ("GET", "/api/client/features?namePrefix=al", {"Authorization": CLIENT}, None),
    ("GET", "/api/client/features", {}, None),
    ("GET", "/api/client/features", {"Authorization": "default:production.nope"}, None),
    ("GET", "/api/client/features", {"Authorization": FRONTEND}, None),
    ("POST", "/api/client/register", {"Authorization": CLIENT}, b'{"appName":"web"}'),
    ("POST", "/api/client/register", {"Authorization": CLIENT}, b"[1]"),
    ("POST", "/api/client/register", {"Authorization": CLIENT}, b""),
    (
        "POST",
        "/api/client/metrics",
        {"Authorization": CLIENT},
        b'{"appName":"web","bucket":{"toggles":{"alpha":{"yes":2,"no":1}}}}',
    ),
    (
        "POST",
        "/api/client/metrics",
        {"Authorization": CLIENT},
        b'{"appName":"web","bucket":{"toggles":{"alpha":{"yes":-1}}}}',
    ),
    ("POST", "/api/client/metrics", {"Authorization": CLIENT}, b"{not json"),
    ("POST", "/api/frontend", {"Authorization": FRONTEND}, b'{"context":{"userId":"u1"}}'),
    ("POST", "/api/frontend", {"Authorization": FRONTEND}, b'{"context":{"userId":"u2"}}'),
    ("POST", "/api/frontend", {"Authorization": FRONTEND}, b'{"context":7}'),
    ("POST", "/api/frontend", {"Authorization": FRONTEND}, b""),
    ("POST", "/api/frontend", {"Authorization": CLIENT}, b'{"context":{}}'),
]


@pytest.mark.parametrize(("method", "path", "headers", "body"), REQUESTS)
async def test_same_answer_as_the_routes(
    pair: tuple[httpx.AsyncClient, httpx.AsyncClient],
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes | None,
) -> None:
    fast, slow = pair
    same(
        await fast.request(method, path, headers=headers, content=body),
        await slow.request(method, path, headers=headers, content=body),
    )


async def test_etag_304_and_a_flip_is_seen_at_once(
    pair: tuple[httpx.AsyncClient, httpx.AsyncClient], container: Container
) -> None:
    fast, slow = pair
    sdk = {"Authorization": CLIENT, **SPEC}
    first = await fast.get("/api/client/features", headers=sdk)
    etag = first.headers["etag"]
    cached = await fast.get("/api/client/features", headers={**sdk, "If-None-Match": etag})
    same(cached, await slow.get("/api/client/features", headers={**sdk, "If-None-Match": etag}))
    assert cached.status_code == 304 and cached.content == b""

    await container.flags.service.set_enabled("beta", "production", True, actor="test")
    after = await fast.get("/api/client/features", headers={**sdk, "If-None-Match": etag})
    assert after.status_code == 200 and after.headers["etag"] != etag
    assert {f["name"]: f["enabled"] for f in after.json()["features"]} == {
        "alpha": True,
        "beta": True,
    }


async def test_a_revoked_token_is_refused_at_once(
    pair: tuple[httpx.AsyncClient, httpx.AsyncClient], container: Container
) -> None:
    fast, _ = pair
    assert (await fast.get("/api/client/features", headers={"Authorization": CLIENT})).is_success
    await container.flags.tokens.delete(CLIENT)
    r = await fast.get("/api/client/features", headers={"Authorization": CLIENT})
    assert r.status_code == 401


async def test_metrics_posted_through_the_fast_path_are_counted(
    pair: tuple[httpx.AsyncClient, httpx.AsyncClient], container: Container
) -> None:
    fast, _ = pair
    body = {"appName": "web", "bucket": {"toggles": {"alpha": {"yes": 3, "no": 1}}}}
    r = await fast.post("/api/client/metrics", json=body, headers={"Authorization": CLIENT})
    assert r.status_code == 202
    rows = await container.flags.usage.for_flag("alpha")
    assert [(x.yes, x.no, x.app_name, x.environment) for x in rows] == [(3, 1, "web", "production")]


async def test_request_metrics_name_the_route(
    pair: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    fast, _ = pair
    await fast.get("/api/client/features", headers={"Authorization": CLIENT})
    text = (await fast.get("/metrics")).text
    assert 'route="/api/client/features",status="200"' in text
