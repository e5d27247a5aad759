"""Health, readiness and the Prometheus exposition of this process."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from selfheal import __version__
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
        ok = db_ok and bus_ok and runtime.ready
        body = {
            "status": "ready" if ok else "not ready",
            "database": "ok" if db_ok else "unreachable",
            "bus": "ok" if bus_ok else "unreachable",
            "started": runtime.ready,
            "version": __version__,
        }
        return JSONResponse(body, status_code=200 if ok else 503)

    @api.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(runtime.registry), media_type=CONTENT_TYPE_LATEST)

    return api
