"""toggle-feature against the real unleash-server 8 (npm, Node 22, PostgreSQL): the current
project-scoped admin route with an admin token, and the legacy toggle route with Basic auth."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import psycopg
import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from selfheal.control import Action, ActionRequest
from selfheal.delivery import MemoryDeliveryStore, Outbox, RetryPolicy
from selfheal.integrations.redaction import Redactor
from selfheal.integrations.toggles import ToggleProvider
from selfheal.integrations.transport import HttpxClient
from selfheal.integrations.unleash import UnleashAdmin
from tests.conftest import PG_ADMIN_URL, free_port, port_open, unavailable
from tests.support import node
from tests.unit.integrations.fakes import RecordingClock

pytestmark = [pytest.mark.external, pytest.mark.slow]


class NoResources:
    async def read(self, uri: str) -> str | None:
        return None


def req(value: str, index: int) -> ActionRequest:
    return ActionRequest(
        keptn_context=f"ctx-{uuid.uuid4()}",
        action_index=index,
        action=Action(name="flip", action="toggle-feature", value=value),
        project="website",
        stage="development",
        service="front-end",
        problem={},
        labels={},
        dry_run=False,
        resources=NoResources(),
    )


def enabled(server: node.UnleashServer, flag: str) -> bool:
    r = httpx.get(
        f"{server.url}/api/admin/projects/default/features/{flag}",
        headers={"Authorization": server.admin_token},
        timeout=10,
    )
    r.raise_for_status()
    return bool(next(e for e in r.json()["environments"] if e["name"] == "development")["enabled"])


async def test_toggle_against_unleash_server() -> None:
    if not port_open("127.0.0.1", 5432):
        unavailable("PostgreSQL is not running on 127.0.0.1:5432")
    try:
        await asyncio.to_thread(node.ensure)
    except node.NodeUnavailable as exc:
        unavailable(f"unleash-server from npm: {exc}")
    database = f"unleash_int_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    server = None
    try:
        try:
            server = await asyncio.to_thread(node.start_unleash, free_port(), database)
        except node.NodeUnavailable as exc:
            unavailable(str(exc))
        assert server is not None
        r = httpx.post(
            f"{server.url}/api/admin/projects/default/features",
            json={"name": "EnableStaticContent", "type": "kill-switch"},
            headers={"Authorization": server.admin_token},
            timeout=10,
        )
        assert r.status_code in (200, 201), r.text
        http = HttpxClient()
        try:
            for legacy, value, expected in (
                (False, "EnableStaticContent:on", True),
                (True, "EnableStaticContent:off", False),
            ):
                box = Outbox(
                    MemoryDeliveryStore(),
                    RecordingClock(),
                    policy=RetryPolicy(2, 0, 0),
                    registry=CollectorRegistry(),
                )
                remote = UnleashAdmin(
                    server.url,
                    SecretStr(server.admin_token),
                    outbox=box,
                    http=http,
                    redactor=Redactor(),
                    legacy=legacy,
                )
                result = await ToggleProvider(local=None, remote=remote).execute(req(value, 0))
                if legacy and result.status != "succeeded":
                    # unleash-server 8 no longer takes Basic auth on the legacy route (Keptn's
                    # unleash-service era): the refusal must be a clean, redacted errored result
                    assert "401" in result.message
                    assert server.admin_token not in result.message
                    continue
                assert result.status == "succeeded", result.message
                assert enabled(server, "EnableStaticContent") is expected
        finally:
            await http.close()
    finally:
        if server is not None:
            server.stop()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
