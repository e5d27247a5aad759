"""Two replicas on one PostgreSQL database whose NATS is dead: a flip on one answers at once
and the other replica's SDK endpoint serves it after its next revision poll; a revoked token
stops working on both."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from selfheal.bootstrap import Container, build
from selfheal.bus.jetstream import JetStreamBus
from selfheal.settings import Settings
from selfheal.web import create_app
from tests.support.natsserver import NatsServer

pytestmark = pytest.mark.nats

ADMIN = {"Authorization": "*:*.admin-secret"}
SDK = {"Authorization": "default:production.client-secret"}


def _client(c: Container) -> httpx.AsyncClient:
    app = create_app(c, manage_lifecycle=False)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
async def replicas(
    pg_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Container, Container, NatsServer]]:
    nats = NatsServer(tmp_path)
    nats.start()
    settings = Settings(
        database_url=pg_url,
        init_admin_api_tokens=["*:*.admin-secret"],  # type: ignore[list-item]
        init_backend_api_tokens=["default:production.client-secret"],  # type: ignore[list-item]
    )
    built: list[Container] = []
    try:
        for name in ("a", "b"):
            bus = await JetStreamBus.connect(nats.url, consumer_prefix=name, publish_timeout=1.0)
            c = await build(settings, bus=bus)
            await c.start()
            built.append(c)
        yield built[0], built[1], nats
    finally:
        nats.kill()
        for c in reversed(built):
            inner = c.runtime.bus.inner  # type: ignore[attr-defined]
            inner.drain_timeout = 0.5  # nothing to drain into a dead server
            await c.stop()


async def _served(http: httpx.AsyncClient, name: str) -> bool | None:
    body = (await http.get("/api/client/features", headers=SDK)).json()
    return next((f["enabled"] for f in body["features"] if f["name"] == name), None)


async def test_a_flip_with_nats_down_answers_and_reaches_the_other_replica(
    replicas: tuple[Container, Container, NatsServer],
) -> None:
    a, b, nats = replicas
    await a.flags.service.create_flag("kill", actor="test")
    nats.kill()
    async with _client(a) as http_a, _client(b) as http_b:
        r = await asyncio.wait_for(
            http_a.post(
                "/api/admin/projects/default/features/kill/environments/production/on",
                headers=ADMIN,
            ),
            10,
        )
        assert r.status_code == 200, r.text
        assert await _served(http_a, "kill") is True
        deadline = time.monotonic() + 10
        while await _served(http_b, "kill") is not True:
            assert time.monotonic() < deadline, "the other replica never served the flip"
            await asyncio.sleep(0.05)

        issued = await a.flags.tokens.create({"tokenName": "t", "type": "client"})
        token = {"Authorization": issued.secret}
        deadline = time.monotonic() + 10
        while (await http_b.get("/api/client/features", headers=token)).status_code != 200:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        await a.flags.tokens.delete(issued.secret)
        deadline = time.monotonic() + 10
        while (await http_b.get("/api/client/features", headers=token)).status_code == 200:
            assert time.monotonic() < deadline, "a revoked token still works on the other replica"
            await asyncio.sleep(0.05)
