"""The event bus seam: publish, subscribe by type pattern, close.

Delivery contract (every adapter honours it; `tests/integration/bus/test_bus_contract.py`
checks it):
- Subjects are event types; patterns use NATS wildcards (`*` one token, `>` the rest).
- A handler that returns acknowledges the event; one that raises gets it again later
  (at-least-once, up to a redelivery limit, then the event is dropped and logged).
- Subscribers without a group each get every event published after they subscribed.
- Subscribers sharing a `group` form one durable consumer: each event goes to one of them,
  and events published while no member is connected wait for the next one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from selfheal.core import CloudEvent, SelfhealError

Handler = Callable[[CloudEvent], Awaitable[None]]


class BusError(SelfhealError):
    """The bus could not do what was asked (not connected, publish not acknowledged)."""


class Subscription(Protocol):
    async def unsubscribe(self) -> None: ...


class EventBus(Protocol):
    async def publish(self, event: CloudEvent) -> None: ...

    async def subscribe(
        self, pattern: str, handler: Handler, *, group: str | None = None
    ) -> Subscription: ...

    async def close(self) -> None: ...

    async def ping(self) -> bool: ...
