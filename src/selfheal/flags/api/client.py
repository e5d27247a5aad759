"""The Unleash client API that backend SDKs poll and stream (plain Starlette routes: hot path)."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from selfheal.flags.api.guard import ANY, CLIENT, Guard, read_json, spec_at_least
from selfheal.flags.metrics import UsageMetrics
from selfheal.flags.service import FlagsService
from selfheal.flags.streaming import StreamHub

SEGMENTS_SPEC = (4, 2, 0)
_ACCEPTED = Response(status_code=202)


class ClientApi:
    def __init__(
        self, service: FlagsService, guard: Guard, usage: UsageMetrics, hub: StreamHub
    ) -> None:
        self.service = service
        self.guard = guard
        self.usage = usage
        self.hub = hub

    async def features(self, request: Request) -> Response:
        principal = await self.guard.principal(request, CLIENT)
        scope = self.guard.scope(principal, request)
        inline = not spec_at_least(request.headers.get("unleash-client-spec"), SEGMENTS_SPEC)
        body = self.service.snapshot.body(scope, inline)
        if request.headers.get("if-none-match") == body.etag:
            return Response(status_code=304, headers={"etag": body.etag})
        return Response(
            body.content,
            media_type="application/json",
            headers={"etag": body.etag, "cache-control": "public, max-age=1"},
        )

    async def delta(self, request: Request) -> Response:
        principal = await self.guard.principal(request, CLIENT)
        scope = self.guard.scope(principal, request)
        snapshot = self.service.snapshot
        etag = f'"{snapshot.revision}"'
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"etag": etag})
        content = json.dumps(snapshot.hydration(scope), separators=(",", ":")).encode()
        return Response(content, media_type="application/json", headers={"etag": etag})

    async def streaming(self, request: Request) -> Response:
        principal = await self.guard.principal(request, CLIENT)
        scope = self.guard.scope(principal, request)
        return StreamingResponse(
            self.hub.stream(self.service.snapshot, scope, request.headers.get("last-event-id")),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )

    async def register(self, request: Request) -> Response:
        principal = await self.guard.principal(request, ANY)
        self.usage.register(await read_json(request), self.guard.scope(principal).environment)
        return _ACCEPTED

    async def metrics(self, request: Request) -> Response:
        principal = await self.guard.principal(request, ANY)
        await self.usage.record(await read_json(request), self.guard.scope(principal).environment)
        return _ACCEPTED

    def routes(self, prefix: str = "") -> list[Route]:
        base = f"{prefix}/api/client"
        return [
            Route(f"{base}/features", self.features, methods=["GET"]),
            Route(f"{base}/delta", self.delta, methods=["GET"]),
            Route(f"{base}/streaming", self.streaming, methods=["GET"]),
            Route(f"{base}/register", self.register, methods=["POST"]),
            Route(f"{base}/metrics", self.metrics, methods=["POST"]),
        ]
