"""A bus that can be switched off: the seam for 'the publish failed after the commit'."""

from __future__ import annotations

from selfheal.bus import BusError, EventBus, Handler, Subscription
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
