"""Monitor webhooks through the shared outbox, against real HTTP servers: a receiver that
never answers holds back only its own queue, and a delivery cut off mid-retry by a stop is
finished once by the next process on the same database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from selfheal.bootstrap import Container, build
from selfheal.bus import MemoryBus
from selfheal.core import ManualClock
from selfheal.delivery import DeliveryQuery
from selfheal.integrations.standins import SinkStandIn, free_port, serve
from selfheal.monitor import MonitorSettings, WebhookSettings
from selfheal.monitor.intake import ExternalAlert
from selfheal.monitor.notifications import HttpxSender
from selfheal.settings import Settings


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/selfheal.db"
    return str(request.getfixturevalue("pg_url"))


@asynccontextmanager
async def silent_server() -> AsyncIterator[str]:
    """Accepts connections, reads, never answers (until the test ends)."""
    held: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.read(65536)

    port = free_port()
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


def alert(key: str) -> ExternalAlert:
    return ExternalAlert(
        key=key, firing=True, title="Error rate", service="web", tags={}, start=0.0
    )


async def started(settings: Settings, clock: ManualClock | None = None) -> Container:
    c = await build(settings, bus=MemoryBus(), clock=clock)
    c.monitor.use(sender=HttpxSender(timeout=30.0))
    await c.start()
    return c


async def test_a_hanging_receiver_holds_back_only_itself(
    settings: Settings, database_url: str
) -> None:
    sink = SinkStandIn()
    async with silent_server() as hanging, serve(sink.app) as base:
        good = f"{base}/keptn"
        s = settings.model_copy(
            update={
                "database_url": database_url,
                "monitor": MonitorSettings(
                    run_loops=False,
                    webhooks=[WebhookSettings(url=hanging), WebhookSettings(url=good)],
                ),
            }
        )
        c = await started(s)
        try:
            await c.monitor.service.ingest([alert(f"a{n}") for n in range(3)])
            query = DeliveryQuery(integration="monitor")
            for _ in range(500):  # three OPENs reach the good receiver
                records = await c.monitor.outbox.store.find(query)
                if sum(d.status == "succeeded" for d in records) == 3:
                    break
                await asyncio.sleep(0.01)
            assert [r.path for r in sink.requests] == ["/keptn"] * 3
            by_url = {
                url: sorted(d.status for d in records if d.endpoint == url)
                for url in (hanging, good)
            }
            # the hanging receiver's first delivery is still in hand, its others wait
            assert by_url == {hanging: ["pending"] * 3, good: ["succeeded"] * 3}
            assert c.monitor.outbox.queued == {hanging: 2}
        finally:
            await c.stop()


async def test_a_webhook_cut_off_mid_retry_is_delivered_once_by_the_next_process(
    settings: Settings, database_url: str
) -> None:
    sink = SinkStandIn()
    sink.fail(1, status=503)
    clock = ManualClock()
    async with serve(sink.app) as base:
        s = settings.model_copy(
            update={
                "database_url": database_url,
                "monitor": MonitorSettings(
                    run_loops=False,
                    webhooks=[WebhookSettings(url=f"{base}/keptn")],
                    webhook_retries=3,
                    webhook_backoff=30.0,
                ),
            }
        )
        first = await started(s, clock)
        try:
            [opened] = await first.monitor.service.ingest([alert("cut")])
            for _ in range(500):  # the first attempt fails; then it sleeps 30 s on the clock
                [cut] = await first.monitor.service.deliveries()
                if cut.attempts == 1:
                    break
                await asyncio.sleep(0.01)
            assert (cut.status, cut.response_code) == ("retrying", 503)
        finally:
            await first.stop()  # mid-retry: the row stays pending, its lease released

        second = await started(s, clock)
        try:
            await second.monitor.outbox.drain()
            [done] = await second.monitor.service.deliveries(opened["problemId"])
            assert (done.key, done.status, done.attempts) == (cut.key, "delivered", 2)
            # the same alert again changes nothing and sends nothing
            assert (await second.monitor.service.ingest([alert("cut")]))[0]["action"] == (
                "duplicate"
            )
            await second.monitor.outbox.drain()
        finally:
            await second.stop()
    assert [r.path for r in sink.requests] == ["/keptn", "/keptn"]
