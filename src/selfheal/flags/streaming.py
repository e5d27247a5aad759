"""Server-sent events for the SDKs' streaming mode (`/api/client/streaming`).

On connect a client gets `unleash-connected` with a hydration event (the full state for its
token's scope); every later revision sends `unleash-updated` with just the changed flags
and segments. Revisions arrive through the service's snapshot listener, which the bus
drives, so a flip on any replica reaches clients connected to every replica.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

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
    def __init__(self, *, keepalive: float = 15.0) -> None:
        self._listeners: set[_Listener] = set()
        self._keepalive = keepalive
        self._closed = False

    @property
    def connected(self) -> int:
        return len(self._listeners)

    async def publish(self, old: Snapshot, new: Snapshot) -> None:
        """Snapshot listener: send each connected scope what changed."""
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

    async def stream(self, snapshot: Snapshot, scope: Scope) -> AsyncIterator[bytes]:
        listener = _Listener(scope)
        self._listeners.add(listener)
        try:
            yield frame("unleash-connected", snapshot.hydration(scope), snapshot.revision)
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
