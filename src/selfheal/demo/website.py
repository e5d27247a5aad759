"""The demo website: its own page through a backend dependency, or the CDN's copy.

`EnableStaticContent` off: the app renders its page (blue banner) by calling `Backend`, which
is where faults live, including the seed's `?statusCode=500`. On: it fetches the static copy
from the CDN (green banner) and never enters its own code path. Every page answer carries
`X-Served-By: app|cdn`, and `/metrics` counts requests by status and served_by.
"""

from __future__ import annotations

import time
from importlib.resources import files
from string import Template
from typing import Protocol

import httpx
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from selfheal.demo.backend import Backend, BackendFailure, Fault
from selfheal.demo.flagsource import FlagSource

FLAG_NAME = "EnableStaticContent"
SERVED_BY = "X-Served-By"
ERROR_PAGE = "<!doctype html><title>500 Internal Server Error</title><h1>Internal Server Error</h1>"


class PageSource(Protocol):
    """Where the static copy comes from."""

    async def fetch(self) -> str: ...


class CdnPage:
    """Fetches the CDN's copy on every request, like a thin origin shield would."""

    def __init__(self, url: str, client: httpx.AsyncClient) -> None:
        self.url = url
        self._client = client

    async def fetch(self) -> str:
        response = await self._client.get(self.url)
        response.raise_for_status()
        return response.text


class WebsiteMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "http_requests",
            "Page requests by status and by who served them (app or cdn)",
            ["method", "status", "served_by"],
            registry=registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Page latency by who served it",
            ["served_by"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )

    def observe(self, method: str, status: int, served_by: str, seconds: float) -> None:
        self.requests.labels(method, str(status), served_by).inc()
        self.latency.labels(served_by).observe(seconds)


def app_template() -> Template:
    return Template(
        files("selfheal.demo").joinpath("templates/app.html").read_text(encoding="utf-8")
    )


def create_website(
    flags: FlagSource,
    backend: Backend,
    cdn: PageSource,
    *,
    registry: CollectorRegistry | None = None,
    flag_name: str = FLAG_NAME,
) -> Starlette:
    registry = registry if registry is not None else CollectorRegistry()
    metrics = WebsiteMetrics(registry)
    template = app_template()

    async def serve_app(request: Request) -> tuple[int, str]:
        if request.query_params.get("statusCode") == "500":
            return 500, ERROR_PAGE
        try:
            rendered = await backend.render()
        except BackendFailure:
            return 500, ERROR_PAGE
        body = template.substitute(
            message=rendered.message,
            rendered_at=time.strftime("%H:%M:%S", time.localtime(rendered.rendered_at)),
            took_ms=round(rendered.took * 1000, 1),
        )
        return 200, body

    async def serve_cdn() -> tuple[int, str]:
        try:
            return 200, await cdn.fetch()
        except httpx.HTTPError:
            return 502, "<!doctype html><title>502 Bad Gateway</title><h1>CDN unreachable</h1>"

    async def page(request: Request) -> Response:
        start = time.perf_counter()
        served_by = "cdn" if flags.is_enabled(flag_name) else "app"
        if served_by == "cdn":
            status, body = await serve_cdn()
        else:
            status, body = await serve_app(request)
        metrics.observe(request.method, status, served_by, time.perf_counter() - start)
        return HTMLResponse(
            body, status_code=status, headers={SERVED_BY: served_by, "Cache-Control": "no-store"}
        )

    async def fault(request: Request) -> Response:
        if request.method == "POST":
            try:
                body = await request.json()
                new = Fault(
                    rate=float(body.get("rate", 0.0)),
                    latency=float(body.get("latency_ms", 0.0)) / 1000.0,
                )
            except (ValueError, TypeError, AttributeError) as exc:
                return JSONResponse({"message": f"invalid fault: {exc}"}, status_code=400)
            backend.set_fault(new)
        elif request.method == "DELETE":
            backend.set_fault(Fault())
        return JSONResponse(backend.fault.as_dict())

    async def status(request: Request) -> Response:
        return JSONResponse(
            {
                "flags_ready": flags.ready(),
                "flag": flag_name,
                "enabled": flags.is_enabled(flag_name),
                "fault": backend.fault.as_dict(),
                "backend_calls": backend.calls,
            }
        )

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def metrics_endpoint(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/", page, methods=["GET", "HEAD"]),
            Route("/_fault", fault, methods=["GET", "POST", "DELETE"]),
            Route("/_status", status),
            Route("/healthz", healthz),
            Route("/metrics", metrics_endpoint),
        ]
    )
