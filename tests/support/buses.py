"""Bus doubles: a bus that can be switched off (the seam for 'the publish failed after the
commit'), one that hangs (NATS gone, no ack), one that says it lost its server."""

from __future__ import annotations

import asyncio

from selfheal.bus import BusError, EventBus, Handler, MemoryBus, Subscription
from selfheal.core import CloudEvent


class SwitchableBus:
    """Wraps a real bus; while `down`, every publish raises `BusError` (as JetStream's
    adapter does when no ack comes) and nothing reaches the inner bus."""

    def __init__(self, inner: EventBus) -> None:
        self.inner = inner
        self.down = False
        self.refuse_types: set[str] = set()
        """Event types refused even while the bus is up (one step's publish fails)."""
        self.refused = 0

    async def publish(self, event: CloudEvent) -> None:
        if self.down or event.type in self.refuse_types:
            self.refused += 1
            raise BusError("publish not acknowledged (bus switched off by the test)")
        await self.inner.publish(event)

    async def subscribe(
        self, pattern: str, handler: Handler, *, group: str | None = None
    ) -> Subscription:
        return await self.inner.subscribe(pattern, handler, group=group)

    async def close(self) -> None:
        await self.inner.close()

    async def ping(self) -> bool:
        return not self.down and await self.inner.ping()


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
