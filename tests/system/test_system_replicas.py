"""Two `selfheal up` processes on one PostgreSQL database and one NATS JetStream stream.

The stream, subject prefix and consumer prefix come from the bus URL's query
(`?stream=…&subject_prefix=…&consumer_prefix=…`), unique per run, so the test never sees
another run's events; the stream is deleted afterwards.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import Server, selfheal_up
from tests.system.loop import SEED, TAGS, b64
from tests.system.website import FLAG

pytestmark = [pytest.mark.postgres, pytest.mark.nats, pytest.mark.slow]

COPIES = 200
PID = "-7000000000000000001"


@pytest.fixture
def replicas(tmp_path: Path, pg_url: str, nats_url: str) -> Iterator[tuple[Server, Server]]:
    tag = uuid.uuid4().hex[:10]
    stream = f"SYS_{tag}"
    env = {
        "SELFHEAL_DATABASE_URL": pg_url,
        "SELFHEAL_BUS_URL": f"{nats_url}?stream={stream}&subject_prefix=y{tag}.&consumer_prefix=y{tag}",
    }
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    try:
        with ExitStack() as stack:
            a = stack.enter_context(selfheal_up(tmp_path / "a", **env))
            b = stack.enter_context(selfheal_up(tmp_path / "b", **env))
            yield a, b
    finally:
        from tests.integration.bus.conftest import delete_stream

        asyncio.run(delete_stream(nats_url, stream))


def notification(n: int) -> dict[str, Any]:
    """Copy n of one Dynatrace problem notification (Dynatrace re-sends with new ids)."""
    return {
        "specversion": "1.0",
        "type": "sh.keptn.events.problem",
        "source": "dynatrace",
        "id": f"{PID}-copy-{n}",
        "shkeptncontext": "7f1e2d3c-0000-4000-8000-000000000001",
        "data": {
            "State": "OPEN",
            "PID": PID,
            "ProblemID": "901",
            "ProblemTitle": "Failure rate increase",
            "ImpactedEntity": "front-end",
            "Tags": ", ".join(f"{k}:{v}" for k, v in TAGS.items()),
        },
    }


async def setup_on(http: httpx.AsyncClient) -> None:
    r = await http.post("/api/admin/projects/default/features", json={"name": FLAG})
    assert r.status_code == 201, r.text
    r = await http.post(
        "/api/controlPlane/v1/project",
        json={"projectName": "website", "shipyard": b64((SEED / "shipyard.yaml").read_text())},
    )
    assert r.status_code == 201, r.text
    r = await http.post(
        "/api/controlPlane/v1/project/website/service", json={"serviceName": "front-end"}
    )
    assert r.status_code == 201, r.text
    r = await http.post(
        "/api/configuration-service/v1/project/website/stage/production/service/front-end/resource",
        json={
            "resources": [
                {
                    "resourceURI": "remediation.yaml",
                    "resourceContent": b64((SEED / "remediations.yaml").read_text()),
                }
            ]
        },
    )
    assert r.status_code == 201, r.text


async def events_of(http: httpx.AsyncClient, type_: str) -> list[dict[str, Any]]:
    r = await http.get("/api/v1/events", params={"type": type_, "pageSize": 1000})
    assert r.status_code == 200, r.text
    return list(r.json()["events"])


async def sequences(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    r = await http.get("/api/controlPlane/v1/sequence/website", params={"pageSize": 100})
    assert r.status_code == 200, r.text
    return list(r.json()["states"])


async def flips(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    r = await http.get(f"/api/admin/events/{FLAG}")
    assert r.status_code == 200, r.text
    return [
        e
        for e in r.json()["events"]
        if e["environment"] == "production" and "created" not in e["type"]
    ]


async def eventually(what: str, check: Any, timeout: float = 60.0) -> None:
    """Poll `await check()` (bounded) until it holds."""
    for _ in range(int(timeout / 0.2)):
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {timeout} s")


async def test_replicas_one_sequence_one_toggle_shared_flags(
    replicas: tuple[Server, Server],
) -> None:
    a, b = replicas
    admin = {"Authorization": a.admin_token}
    async with (
        httpx.AsyncClient(base_url=a.url, headers=admin, timeout=30) as on_a,
        httpx.AsyncClient(base_url=b.url, headers=admin, timeout=30) as on_b,
    ):
        for http in (on_a, on_b):
            assert (await http.get("/readyz")).status_code == 200
        await setup_on(on_a)

        # 200 copies, split across both replicas, all at once
        async def send(n: int) -> int:
            http = on_a if n % 2 else on_b
            r = await http.post("/api/v1/event", json=notification(n))
            return r.status_code

        codes = await asyncio.gather(*(send(n) for n in range(COPIES)))
        assert set(codes) == {200}

        async def acted() -> bool:
            return bool(await events_of(on_b, "sh.keptn.event.action.finished"))

        await eventually("the toggle", acted)
        # let every copy reach an intake before counting (the copies are all stored already)
        stored = await events_of(on_a, "sh.keptn.events.problem")
        assert len(stored) == COPIES
        await asyncio.sleep(3)

        for http in (on_a, on_b):
            [seq] = await sequences(http)
            assert seq["state"] == "started" and seq["phase"] == "delayed", seq
            assert (
                len(await events_of(http, "sh.keptn.event.production.remediation.triggered")) == 1
            )
            assert len(await events_of(http, "sh.keptn.event.action.triggered")) == 1
            assert len(await events_of(http, "sh.keptn.event.action.finished")) == 1
        [flip] = await flips(on_a)
        assert flip["type"] == "feature-environment-enabled"
        assert flip["createdBy"] == f"remediation:{seq['shkeptncontext']}"

        # a flip on A reaches B's SDK clients: ETag changes and the SSE stream says so
        client = {"Authorization": b.client_token}
        first = await on_b.get("/api/client/features", headers=client)
        etag = first.headers["etag"]
        assert any(f["name"] == FLAG and f["enabled"] for f in first.json()["features"])
        async with on_b.stream("GET", "/api/client/streaming", headers=client) as sse:
            lines = sse.aiter_lines()
            seen: list[str] = []
            async with asyncio.timeout(30):
                async for line in lines:
                    seen.append(line)
                    if line.startswith("data:"):
                        break  # the hydration
                r = await on_a.post(
                    f"/api/admin/projects/default/features/{FLAG}/environments/production/off"
                )
                assert r.status_code in (200, 202), r.text
                async for line in lines:
                    seen.append(line)
                    if line.startswith("event:") and "updated" in line:
                        break
            update = ""
            async with asyncio.timeout(30):
                async for line in lines:
                    if line.startswith("data:"):
                        update = line
                        break
        assert FLAG in update, seen
        again = await on_b.get("/api/client/features", headers={**client, "If-None-Match": etag})
        assert again.status_code == 200 and again.headers["etag"] != etag
        assert not any(f["name"] == FLAG and f["enabled"] for f in again.json()["features"])

        for http in (on_a, on_b):
            assert (await http.get("/readyz")).status_code == 200
