"""Health, readiness and the Prometheus exposition of this process.

`/readyz` answers 503 while starting, when the database is unreachable, or when the bus has
been unreachable for longer than `bus_unready_seconds` (a short NATS blip does not take a
replica out of rotation: flags and tokens converge through the database meanwhile). Being
behind (`flags.behind`: revisions in the database not served yet) is reported, not a 503:
the next poll catches up within a second.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from selfheal import __version__
from selfheal.bus import Disconnectable
from selfheal.runtime import Runtime


def router(runtime: Runtime) -> APIRouter:
    api = APIRouter(tags=["system"])

    @api.get("/healthz")
    async def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @api.get("/readyz")
    async def readyz() -> JSONResponse:
        db_ok = await runtime.database.ping()
        bus_ok = await runtime.bus.ping()
        bus = runtime.bus
        down = bus.disconnected_for() if isinstance(bus, Disconnectable) else 0.0
        bus_tolerable = bus_ok or (0 < down < runtime.bus_unready_seconds)
        ok = db_ok and bus_tolerable and runtime.ready
        body: dict[str, object] = {
            "status": "ready" if ok else "not ready",
            "database": "ok" if db_ok else "unreachable",
            "bus": "ok" if bus_ok else "unreachable",
            "bus_disconnected_seconds": round(down, 3),
            "started": runtime.ready,
            "version": __version__,
        }
        for name, status in runtime.health.items():
            body[name] = status()
        return JSONResponse(body, status_code=200 if ok else 503)

    @api.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(runtime.registry), media_type=CONTENT_TYPE_LATEST)

    return api
