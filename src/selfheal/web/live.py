"""Live console pages: one Server-Sent Events stream that says "something changed".

The browser (plain `EventSource` in /static/selfheal.js, no build chain) then fetches its
own page again and swaps the regions marked `data-live` (the state line, the timeline, the
switches), so a flip or a new step shows without a reload and without losing what the
user is typing. The stream carries only event types, never data: the page fetch goes
through the normal, session-checked route.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from selfheal.bus import Subscription
from selfheal.core import CloudEvent, Unavailable
from selfheal.runtime import Runtime

PATTERNS = ("sh.keptn.>", "sh.selfheal.>", "selfheal.>")
"""Keptn's events, selfheal's own in the Keptn namespace (mitigated, the restore's course)
and the flags' changes: each one refreshes what the open pages show."""
QUEUE = 64  # per browser; a slow one loses updates (it refetches on the next), never memory
KEEPALIVE = 15.0
MAX_CLIENTS = 200


class LiveHub:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._clients: set[asyncio.Queue[str]] = set()
        self._subs: list[Subscription] = []

    async def start(self) -> None:
        if not self._subs:
            for pattern in PATTERNS:
                self._subs.append(await self._runtime.events.subscribe(pattern, self._on_event))

    async def stop(self) -> None:
        for sub in self._subs:
            await sub.unsubscribe()
        self._subs = []
        for q in list(self._clients):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait("")  # wake the stream so it ends

    async def _on_event(self, event: CloudEvent) -> None:
        for q in list(self._clients):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(event.type)

    @property
    def clients(self) -> int:
        return len(self._clients)

    async def stream(self, request: Request) -> AsyncIterator[bytes]:
        q: asyncio.Queue[str] = asyncio.Queue(QUEUE)
        self._clients.add(q)
        try:
            yield b"retry: 2000\n\n"
            while not await request.is_disconnected():
                try:
                    kind = await asyncio.wait_for(q.get(), KEEPALIVE)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                if not kind:
                    return
                yield f"event: changed\ndata: {kind}\n\n".encode()
        finally:
            self._clients.discard(q)


def router(runtime: Runtime, hub: LiveHub) -> APIRouter:
    ui = APIRouter(include_in_schema=False)

    @ui.get("/live")
    async def live(request: Request) -> StreamingResponse:
        await runtime.ui_user(request)
        await hub.start()
        if hub.clients >= MAX_CLIENTS:
            raise Unavailable("too many live pages open")
        return StreamingResponse(
            hub.stream(request),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return ui
