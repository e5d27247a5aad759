"""Server-sent events for the SDKs' streaming mode (`/api/client/streaming`).

On connect a client gets `unleash-connected` with a hydration event (the full state for its
token's scope); every later revision sends `unleash-updated` with just the changed flags
and segments. A reconnect with `Last-Event-ID` (the revision it last saw) gets only what
changed since, as one `unleash-updated`, when that revision is still among the last
`history` ones kept in memory (or nothing, when it is the current one); otherwise it is
hydrated again. Revisions arrive through the service's snapshot listener, which the bus
drives, so a flip on any replica reaches clients connected to every replica.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from selfheal.flags.snapshot import Scope, Snapshot

_QUEUE_LIMIT = 256


def frame(event: str, data: Any, event_id: int) -> bytes:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return f"event: {event}\nid: {event_id}\ndata: {body}\n\n".encode()


KEEPALIVE = b": keep-alive\n\n"


@dataclass(eq=False)
class _Listener:
    scope: Scope
    queue: asyncio.Queue[bytes | None] = field(default_factory=lambda: asyncio.Queue(_QUEUE_LIMIT))


class StreamHub:
    def __init__(
        self,
        *,
        keepalive: float = 2.0,
        history: int = 64,
        registry: CollectorRegistry | None = None,
    ) -> None:
        registry = registry or CollectorRegistry()
        self._opened = Counter(
            "selfheal_flags_streams_opened",
            "SDK streaming connections opened (a rising rate means clients keep reconnecting)",
            registry=registry,
        )
        self._open = Gauge(
            "selfheal_flags_streams_connected",
            "SDK streaming connections open now",
            registry=registry,
        )
        self._open.set_function(lambda: len(self._listeners))
        self._listeners: set[_Listener] = set()
        self._keepalive = keepalive
        self._closed = False
        self._history: OrderedDict[int, Snapshot] = OrderedDict()
        self._history_limit = max(1, history)

    def _remember(self, snapshot: Snapshot) -> None:
        """Keep recent revisions (they share unchanged flags, so this is cheap) to resume from."""
        if snapshot.revision in self._history:
            return
        self._history[snapshot.revision] = snapshot
        while len(self._history) > self._history_limit:
            self._history.popitem(last=False)

    def first_frame(self, snapshot: Snapshot, scope: Scope, last_event_id: str | None) -> bytes:
        """Hydration, or on a resume only the changes since `last_event_id` (maybe none)."""
        self._remember(snapshot)
        seen = None
        if last_event_id is not None and last_event_id.strip().isdigit():
            seen = int(last_event_id.strip())
        if seen is not None and seen == snapshot.revision:
            return b""
        old = self._history.get(seen) if seen is not None and seen < snapshot.revision else None
        if old is None:
            return frame("unleash-connected", snapshot.hydration(scope), snapshot.revision)
        delta = snapshot.delta_since(old, scope)
        return frame("unleash-updated", delta, snapshot.revision) if delta else b""

    @property
    def connected(self) -> int:
        return len(self._listeners)

    async def publish(self, old: Snapshot, new: Snapshot) -> None:
        """Snapshot listener: send each connected scope what changed."""
        self._remember(old)
        self._remember(new)
        if not self._listeners:
            return
        deltas: dict[Scope, bytes | None] = {}
        for listener in list(self._listeners):
            if listener.scope not in deltas:
                delta = new.delta_since(old, listener.scope)
                deltas[listener.scope] = (
                    frame("unleash-updated", delta, new.revision) if delta else None
                )
            message = deltas[listener.scope]
            if message is None:
                continue
            try:
                listener.queue.put_nowait(message)
            except asyncio.QueueFull:
                # Too slow to keep up: drop it; the SDK reconnects and rehydrates.
                self._listeners.discard(listener)
                while not listener.queue.empty():
                    listener.queue.get_nowait()
                listener.queue.put_nowait(None)

    async def stream(
        self, snapshot: Snapshot, scope: Scope, last_event_id: str | None = None
    ) -> AsyncGenerator[bytes, None]:
        listener = _Listener(scope)
        self._listeners.add(listener)
        self._opened.inc()
        try:
            first = self.first_frame(snapshot, scope, last_event_id)
            yield first or KEEPALIVE
            while not self._closed:
                try:
                    message = await asyncio.wait_for(listener.queue.get(), self._keepalive)
                except TimeoutError:
                    yield KEEPALIVE
                    continue
                if message is None:
                    return
                yield message
        finally:
            self._listeners.discard(listener)

    def close(self) -> None:
        """End every stream (server shutdown)."""
        self._closed = True
        for listener in list(self._listeners):
            try:
                listener.queue.put_nowait(None)
            except asyncio.QueueFull:
                continue
        self._listeners.clear()
