"""Request metrics as a plain ASGI middleware (cheap enough for the SDK hot path)."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RequestMetrics:
    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.latency = Histogram(
            "selfheal_http_request_duration_seconds",
            "HTTP request latency by route template",
            ["method", "route"],
            registry=registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
        )
        self.requests = Counter(
            "selfheal_http_requests",
            "HTTP requests by route template and status",
            ["method", "route", "status"],
            registry=registry,
        )
        # labels() takes a lock and builds a tuple on every call: keep the children (one per
        # route template, method and status, so bounded by the routes).
        self._latency: dict[tuple[str, str], Any] = {}
        self._requests: dict[tuple[str, str, int], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route: Any = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "GET")
            latency = self._latency.get((method, path))
            if latency is None:
                latency = self._latency[method, path] = self.latency.labels(method, path)
            latency.observe(time.perf_counter() - start)
            key = (method, path, status[0])
            counter = self._requests.get(key)
            if counter is None:
                counter = self._requests[key] = self.requests.labels(method, path, str(status[0]))
            counter.inc()
