"""The demo website: its own page through a backend dependency, or the CDN's copy.

`EnableStaticContent` off: the app renders its page (blue banner) by calling `Backend`, which
is where faults live, including the seed's `?statusCode=500`. On: it fetches the static copy
from the CDN (green banner) and never enters its own code path. Every page answer carries
`X-Served-By: app|cdn` and `X-Served-At` (when the website decided, epoch seconds: the demo
report's "first response served by the CDN" is this server time, not the load generator's),
and `/metrics` counts requests by status and served_by.

The flag is evaluated with an Unleash context: `sessionId` from the `sessionId` cookie (set
on the first answer, and sent by the load generator per virtual user) so a gradual rollout
with stickiness `sessionId` keeps each user on one side; and the custom property
`selfhealProbe` from the `X-Selfheal-Probe` header, so the kill switch's constraint
`selfhealProbe NOT_IN ["true"]` lets selfheal's probes reach the app while users get the
CDN. Probe requests are counted apart (`http_probe_requests_total`), never in the
user-facing `http_requests_total`.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from importlib.resources import files
from string import Template
from typing import Any, Protocol

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
SERVED_AT = "X-Served-At"
PROBE_HEADER = "X-Selfheal-Probe"
PROBE_PROPERTY = "selfhealProbe"
SESSION_COOKIE = "sessionId"
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

        self.probes = Counter(
            "http_probe_requests",
            "Probe requests (X-Selfheal-Probe), kept out of the user-facing counters",
            ["method", "status", "served_by"],
            registry=registry,
        )

    def observe(
        self, method: str, status: int, served_by: str, seconds: float, *, probe: bool = False
    ) -> None:
        if probe:
            self.probes.labels(method, str(status), served_by).inc()
            return
        self.requests.labels(method, str(status), served_by).inc()
        self.latency.labels(served_by).observe(seconds)


def flag_context(request: Request, session: str | None) -> dict[str, Any]:
    """The Unleash context of one page request: its session and whether it is a probe."""
    context: dict[str, Any] = {"properties": {}}
    if session:
        context["sessionId"] = session
    probe = request.headers.get(PROBE_HEADER)
    if probe is not None:
        context["properties"][PROBE_PROPERTY] = probe.strip().lower()
    return context


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
    clock: Callable[[], float] = time.time,
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
        probe = PROBE_HEADER.lower() in request.headers
        session = request.cookies.get(SESSION_COOKIE)
        new_session = None if session or probe else secrets.token_hex(8)
        context = flag_context(request, session or new_session)
        decided_at = clock()
        served_by = "cdn" if flags.is_enabled(flag_name, context) else "app"
        if served_by == "cdn":
            status, body = await serve_cdn()
        else:
            status, body = await serve_app(request)
        metrics.observe(request.method, status, served_by, time.perf_counter() - start, probe=probe)
        response = HTMLResponse(
            body,
            status_code=status,
            headers={
                SERVED_BY: served_by,
                SERVED_AT: f"{decided_at:.6f}",
                "Cache-Control": "no-store",
            },
        )
        if new_session:
            response.set_cookie(SESSION_COOKIE, new_session, httponly=True, samesite="lax")
        return response

    def fault_json() -> dict[str, Any]:
        return {**backend.fault.as_dict(), "changed_at": backend.fault_changed_at}

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
        return JSONResponse(fault_json())

    async def status(request: Request) -> Response:
        return JSONResponse(
            {
                "flags_ready": flags.ready(),
                "flag": flag_name,
                "enabled": flags.is_enabled(flag_name),
                "fault": fault_json(),
                "backend_calls": backend.calls,
                "pid": os.getpid(),
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
