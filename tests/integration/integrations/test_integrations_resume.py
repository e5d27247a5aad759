"""Deliveries cut off by a restart: the next start (or another replica) finishes them once,
on SQLite and PostgreSQL, through the whole system and at the store's claim."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from selfheal.bootstrap import Container, build
from selfheal.bus import MemoryBus
from selfheal.core import CloudEvent, ManualClock
from selfheal.delivery import Delivery, DeliveryQuery, Outbox, RetryPolicy, SqlDeliveryStore
from selfheal.integrations import IntegrationsSettings
from selfheal.integrations.outbox import HttpSender
from selfheal.integrations.redaction import Redactor
from selfheal.integrations.standins import SinkStandIn, serve
from selfheal.integrations.transport import HttpRequest, MemoryHttp
from selfheal.settings import Settings
from selfheal.storage import Database

YAML = """\
integrations:
  - name: hook
    type: webhook
    config:
      url: {url}/hook
      events: ["sh.keptn.event.note.finished"]
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/selfheal.db"
    return str(request.getfixturevalue("pg_url"))


async def started(settings: Settings, clock: ManualClock) -> Container:
    c = await build(settings, bus=MemoryBus(), clock=clock)
    await c.start()
    return c


async def hook_deliveries(c: Container) -> list[Delivery]:
    return await c.integrations.store.find(DeliveryQuery(integration="hook"))


async def test_stopped_mid_retry_then_a_new_process_delivers_once(
    settings: Settings, tmp_path: Path, database_url: str
) -> None:
    sink = SinkStandIn()
    sink.fail(1, status=500)
    clock = ManualClock()
    async with serve(sink.app) as url:
        path = tmp_path / "integrations.yaml"
        path.write_text(YAML.format(url=url))
        s = settings.model_copy(
            update={
                "database_url": database_url,
                "integrations": IntegrationsSettings(
                    file=str(path), max_attempts=3, backoff_seconds=10.0, timeout_seconds=5.0
                ),
                "admin_password": SecretStr("pw"),
            }
        )
        first = await started(s, clock)
        try:
            note = CloudEvent(
                type="sh.keptn.event.note.finished",
                source="selfheal/test",
                id="note-1",
                data={"project": "website"},
                extensions={"shkeptncontext": "ctx-resume"},
            )
            await first.runtime.events.publish(note)
            for _ in range(500):  # the first attempt fails; then it sleeps 10 s on the clock
                found = await hook_deliveries(first)
                if found and found[0].attempts == 1:
                    break
                await asyncio.sleep(0.01)
            [cut] = await hook_deliveries(first)
            assert (cut.status, cut.http_status) == ("pending", 500)
        finally:
            await first.stop()  # mid-retry: the delivery stays pending, its lease released

        second = await started(s, clock)
        try:
            await second.integrations.outbox.drain()
            [done] = await hook_deliveries(second)
            assert done.id == cut.id
            assert (done.status, done.attempts, done.http_status) == ("succeeded", 2, 200)
            # the event arriving again (a redelivery) is recognised by its dedup key
            assert not await second.runtime.events.publish(note)
            await second.integrations.outbox.drain()
            assert [d.id for d in await hook_deliveries(second)] == [cut.id]
        finally:
            await second.stop()
    assert [r.path for r in sink.requests] == ["/hook", "/hook"]


async def test_replicas_claim_an_expired_delivery_exactly_once(database_url: str) -> None:
    db = Database(database_url)
    await db.migrate()
    try:
        store = SqlDeliveryStore(db)
        for n in range(5):
            await store.add(
                Delivery(
                    id=f"d{n}",
                    integration="hook",
                    kind="notify",
                    created=float(n),
                    updated=float(n),
                    args={"n": n},
                    attempts=1,
                    round_attempts=1,
                    lease_owner="crashed-replica",
                    lease_until=900.0,  # expired: its process died mid-retry
                )
            )
        await store.add(
            Delivery(
                id="live",
                integration="hook",
                kind="notify",
                created=9.0,
                updated=9.0,
                lease_owner="busy-replica",
                lease_until=5000.0,
            )
        )
        clock = ManualClock(start=1000.0)
        https = [MemoryHttp() for _ in range(3)]
        replicas = []
        for http in https:
            outbox = Outbox(
                store, clock, policy=RetryPolicy(3, 1.0, 10.0), registry=CollectorRegistry()
            )

            async def build_request(args: object) -> HttpRequest:
                return HttpRequest("POST", "http://127.0.0.1:9/hook", json=args)

            outbox.register("hook", "notify", HttpSender(http, build_request, redactor=Redactor()))
            replicas.append(outbox)
        claimed = await asyncio.gather(*(r.resume() for r in replicas))
        assert sum(claimed) == 5
        for r in replicas:
            await r.drain()
        sent = sorted(req.json["n"] for http in https for req in http.requests)
        assert sent == [0, 1, 2, 3, 4]
        rows = {d.id: d for d in await store.find(DeliveryQuery())}
        assert all(rows[f"d{n}"].status == "succeeded" for n in range(5))
        assert all(rows[f"d{n}"].attempts == 2 for n in range(5))
        assert rows["live"].status == "pending" and rows["live"].lease_owner == "busy-replica"
        for r in replicas:
            await r.close()
    finally:
        await db.dispose()
