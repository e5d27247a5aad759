"""The demo CDN: a static file server for the green copy of the page (the seed used GitHub)."""

from __future__ import annotations

import os
from importlib.resources import as_file, files
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send


def static_dir() -> Path:
    """The packaged static site (a real directory for an installed or editable package)."""
    with as_file(files("selfheal.demo").joinpath("static")) as path:
        return Path(path)


class _Counted:
    def __init__(self, app: ASGIApp, counter: Counter) -> None:
        self.app = app
        self.counter = counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.counter.inc()
        await self.app(scope, receive, send)


def create_cdn(
    directory: Path | None = None, *, registry: CollectorRegistry | None = None
) -> Starlette:
    registry = registry if registry is not None else CollectorRegistry()
    served = Counter("cdn_requests", "Files requested from the CDN", registry=registry)
    site = StaticFiles(directory=directory or static_dir(), html=True)

    async def healthz(request: Request) -> Response:
        # The pid lets the demo check that the process answering is the one it started.
        return PlainTextResponse("ok", headers={"X-Process-Id": str(os.getpid())})

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/metrics", metrics),
            Mount("/", app=_Counted(site, served)),
        ]
    )
