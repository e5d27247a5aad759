"""The in-process bus: the embedded default and the test double.

Queues are bounded (`queue_limit` events per consumer). A publisher that finds a queue full
waits until its handler has made room (back-pressure; nothing is dropped). A publish made
from inside one of this bus's handlers does not wait: that handler may be the only one able
to make room, so waiting could deadlock the bus; such a queue may briefly exceed its limit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field

from selfheal.bus.protocol import Handler
from selfheal.bus.subjects import matches, validate_pattern
from selfheal.core import CloudEvent

log = logging.getLogger(__name__)


@dataclass
class _Delivery:
    event: CloudEvent
    attempt: int = 1


@dataclass
class _Consumer:
    """One queue; for a group, shared by all its members."""

    pattern: str
    group: str | None
    queue: deque[_Delivery] = field(default_factory=deque)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    room: asyncio.Event = field(default_factory=asyncio.Event)
    members: int = 0
    in_flight: int = 0


class _MemorySubscription:
    def __init__(self, bus: MemoryBus, consumer: _Consumer, task: asyncio.Task[None]) -> None:
        self._bus = bus
        self._consumer = consumer
        self._task = task

    async def unsubscribe(self) -> None:
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        if self not in self._bus._subscriptions:
            return
        self._bus._subscriptions.discard(self)
        self._consumer.members -= 1
        if self._consumer.group is None:
            self._bus._consumers.remove(self._consumer)
            self._bus._routes.clear()
            self._consumer.room.set()  # publishers waiting on it give up


class MemoryBus:
    """Queues in memory; handlers run as asyncio tasks in this process.

    `redelivery_delay` is the pause before a failed event is offered again; `max_deliver`
    bounds the attempts, as JetStream's consumer setting of the same name does.
    """

    def __init__(
        self, *, max_deliver: int = 5, redelivery_delay: float = 0.05, queue_limit: int = 10_000
    ) -> None:
        self.queue_limit = max(1, queue_limit)
        self._handlers: set[asyncio.Task[None]] = set()
        self._consumers: list[_Consumer] = []
        self._groups: dict[tuple[str, str], _Consumer] = {}
        self._max_deliver = max_deliver
        self._redelivery_delay = redelivery_delay
        self._closed = False
        self._timers: set[asyncio.Task[None]] = set()
        self._subscriptions: set[_MemorySubscription] = set()
        self._routes: dict[str, list[_Consumer]] = {}
        """Event type → the consumers whose pattern matches it (cleared when they change)."""

    async def publish(self, event: CloudEvent) -> None:
        if self._closed:
            from selfheal.bus.protocol import BusError

            raise BusError("bus is closed")
        route = self._routes.get(event.type)
        if route is None:
            route = [c for c in self._consumers if matches(c.pattern, event.type)]
            if len(self._routes) >= 10_000:
                self._routes.clear()
            self._routes[event.type] = route
        for consumer in route:
            if len(consumer.queue) >= self.queue_limit:
                await self._wait_for_room(consumer)
            consumer.queue.append(_Delivery(event))
            consumer.ready.set()

    async def _wait_for_room(self, consumer: _Consumer) -> None:
        if asyncio.current_task() in self._handlers:
            return  # see the module docstring
        while len(consumer.queue) >= self.queue_limit and consumer in self._consumers:
            consumer.room.clear()
            await consumer.room.wait()

    async def subscribe(
        self, pattern: str, handler: Handler, *, group: str | None = None
    ) -> _MemorySubscription:
        validate_pattern(pattern)
        if group is not None:
            consumer = self._groups.get((group, pattern))
            if consumer is None:
                consumer = _Consumer(pattern=pattern, group=group)
                self._groups[(group, pattern)] = consumer
                self._consumers.append(consumer)
                self._routes.clear()
        else:
            consumer = _Consumer(pattern=pattern, group=None)
            self._consumers.append(consumer)
            self._routes.clear()
        consumer.members += 1
        task = asyncio.create_task(self._run(consumer, handler), name=f"bus:{group or pattern}")
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)
        sub = _MemorySubscription(self, consumer, task)
        self._subscriptions.add(sub)
        return sub

    async def _run(self, consumer: _Consumer, handler: Handler) -> None:
        while True:
            if not consumer.queue:
                consumer.ready.clear()
                await consumer.ready.wait()
                continue
            delivery = consumer.queue.popleft()
            consumer.room.set()
            consumer.in_flight += 1
            try:
                await handler(delivery.event)
            except asyncio.CancelledError:
                consumer.queue.appendleft(delivery)
                raise
            except Exception:
                self._retry(consumer, delivery)
            finally:
                consumer.in_flight -= 1
            if consumer.members > 1:
                # let the other members of a group take the next event
                await asyncio.sleep(0)

    def _retry(self, consumer: _Consumer, delivery: _Delivery) -> None:
        if delivery.attempt >= self._max_deliver:
            log.error(
                "event %s (%s) dropped after %d failed deliveries",
                delivery.event.id,
                delivery.event.type,
                delivery.attempt,
                exc_info=True,
            )
            return
        log.warning(
            "handler failed for event %s (%s), attempt %d; redelivering",
            delivery.event.id,
            delivery.event.type,
            delivery.attempt,
            exc_info=True,
        )
        again = _Delivery(delivery.event, delivery.attempt + 1)

        async def later() -> None:
            await asyncio.sleep(self._redelivery_delay * delivery.attempt)
            consumer.queue.append(again)
            consumer.ready.set()

        timer = asyncio.create_task(later())
        self._timers.add(timer)
        timer.add_done_callback(self._timers.discard)

    def pending(self) -> int:
        """Events queued, in flight or waiting for redelivery."""
        return sum(len(c.queue) + c.in_flight for c in self._consumers) + len(self._timers)

    async def drain(self, timeout: float = 5.0) -> bool:
        """Wait until every queue is empty and no handler runs; False on timeout."""
        deadline = time.monotonic() + timeout
        idle_rounds = 0
        while time.monotonic() < deadline:
            if self.pending() == 0:
                idle_rounds += 1
                if idle_rounds >= 3:
                    return True
            else:
                idle_rounds = 0
            await asyncio.sleep(0.001 if idle_rounds else 0.002)
        return False

    async def ping(self) -> bool:
        return not self._closed

    async def close(self) -> None:
        if self._closed:
            return
        await self.drain(timeout=5.0)
        self._closed = True
        for timer in list(self._timers):
            timer.cancel()
        for sub in list(self._subscriptions):
            await sub.unsubscribe()
