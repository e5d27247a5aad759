"""Bus doubles for outage tests: a bus that accepts nothing and never answers (NATS gone)."""

from __future__ import annotations

import asyncio

from selfheal.bus import Handler, MemoryBus, Subscription
from selfheal.core import CloudEvent


class StalledBus:
    """Publishes hang until `release()` (like a JetStream publish waiting for an ack that does
    not come); subscriptions never receive anything. Counts publishes still hanging."""

    def __init__(self) -> None:
        self._inner = MemoryBus()
        self._released = asyncio.Event()
        self.hanging = 0

    async def publish(self, event: CloudEvent) -> None:
        self.hanging += 1
        try:
            await self._released.wait()
        finally:
            self.hanging -= 1

    def release(self) -> None:
        self._released.set()

    async def subscribe(
        self, pattern: str, handler: Handler, *, group: str | None = None
    ) -> Subscription:
        return await self._inner.subscribe(pattern, handler, group=group)

    async def ping(self) -> bool:
        return False

    async def close(self) -> None:
        self.release()
        await self._inner.close()


class CutOffBus(MemoryBus):
    """An in-process bus that says it lost its server `down` seconds ago (0: connected)."""

    def __init__(self) -> None:
        super().__init__()
        self.down = 0.0

    async def ping(self) -> bool:
        return self.down == 0 and await super().ping()

    def disconnected_for(self) -> float:
        return self.down
