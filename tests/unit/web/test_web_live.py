"""The live hub: which stored events refresh the open console pages."""

from __future__ import annotations

import asyncio

from selfheal.bootstrap import Container
from selfheal.core import CloudEvent
from selfheal.web.live import LiveHub


async def test_live_hub_passes_keptn_selfheal_and_flag_events(container: Container) -> None:
    hub = LiveHub(container.runtime)
    await hub.start()
    queue: asyncio.Queue[str] = asyncio.Queue(8)
    hub._clients.add(queue)
    try:
        kinds = (
            "sh.keptn.event.action.triggered",
            "sh.selfheal.restore.step",  # the restore's course: the banner follows it
            "selfheal.flags.feature-environment-disabled",
            "other.event",
        )
        for n, kind in enumerate(kinds):
            await container.runtime.events.publish(
                CloudEvent(type=kind, source="test", id=f"live-{n}", data={})
            )
        seen = [await asyncio.wait_for(queue.get(), 5) for _ in range(3)]
        assert sorted(seen) == sorted(kinds[:3])
        await asyncio.sleep(0.05)
        assert queue.empty()  # nothing outside the three namespaces
    finally:
        await hub.stop()
