"""The frontend API (browser SDKs) and OFREP (OpenFeature's remote evaluation protocol).

Both evaluate server-side with the engine of the current snapshot for the token's scope.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from selfheal.core import InvalidInput
from selfheal.flags.api.guard import ANY, FRONTEND, Guard, read_json
from selfheal.flags.service import FlagsService
from selfheal.runtime import Principal

STANDARD = ("userId", "sessionId", "remoteAddress", "environment", "appName", "currentTime")


def context_from_query(request: Request) -> dict[str, Any]:
    ctx: dict[str, Any] = {}
    props: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        if key in STANDARD:
            ctx[key] = value
        elif key.startswith("properties[") and key.endswith("]"):
            props[key[11:-1]] = value
        else:
            props[key] = value
    ctx["properties"] = props
    if "remoteAddress" not in ctx and request.client:
        ctx["remoteAddress"] = request.client.host
    return ctx


def context_from_body(raw: Any, client: str | None, *, ofrep: bool = False) -> dict[str, Any]:
    """The evaluation context from a JSON body; `client` is the caller's address."""
    src = raw.get("context", {}) if isinstance(raw, dict) else None
    if not isinstance(src, dict):
        raise ValueError("context must be a JSON object")
    ctx: dict[str, Any] = {}
    props: dict[str, Any] = (
        dict(src.get("properties") or {}) if isinstance(src.get("properties"), dict) else {}
    )
    for key, value in src.items():
        if key == "properties":
            continue
        if ofrep and key == "targetingKey":
            ctx.setdefault("userId", value)
            continue
        if key in STANDARD:
            ctx[key] = value
        else:
            props[key] = value
    ctx["properties"] = props
    if "remoteAddress" not in ctx and client:
        ctx["remoteAddress"] = client
    return ctx


def _host(request: Request) -> str | None:
    return request.client.host if request.client else None


def ofrep_value(enabled: bool, variant: dict[str, Any]) -> tuple[Any, str]:
    """The OFREP value and variant name: the payload of an enabled variant, else the on/off."""
    if enabled and variant.get("enabled"):
        payload = variant.get("payload")
        if isinstance(payload, dict) and "value" in payload:
            kind, text = payload.get("type"), payload["value"]
            value: Any = text
            if kind == "json":
                value = json.loads(text)
            elif kind == "number":
                number = float(text)
                value = int(number) if number.is_integer() and "." not in text else number
            return value, str(variant.get("name"))
        return True, str(variant.get("name"))
    return enabled, "on" if enabled else "off"


class FrontendApi:
    def __init__(self, service: FlagsService, guard: Guard) -> None:
        self.service = service
        self.guard = guard

    def toggles(self, principal: Principal, ctx: dict[str, Any]) -> bytes:
        """The `{"toggles": […]}` body for a frontend principal (shared with the fast path)."""
        scope = self.guard.scope(principal)
        ctx.setdefault("environment", scope.environment)
        snapshot = self.service.snapshot
        names = snapshot.enabled_names(scope)
        return snapshot.engine(scope).toggles(ctx, names).encode("utf-8")

    async def _toggles(self, request: Request, ctx: dict[str, Any]) -> Response:
        principal = await self.guard.principal(request, FRONTEND)
        return Response(self.toggles(principal, ctx), media_type="application/json")

    async def frontend_get(self, request: Request) -> Response:
        return await self._toggles(request, context_from_query(request))

    async def frontend_post(self, request: Request) -> Response:
        raw = await read_json(request, required=False)
        try:
            ctx = context_from_body(raw, _host(request))
        except ValueError as exc:
            raise InvalidInput(str(exc), field="context") from exc
        return await self._toggles(request, ctx)

    async def frontend_accept(self, request: Request) -> Response:
        await self.guard.principal(request, FRONTEND)
        return Response(status_code=202)

    async def _ofrep_context(self, request: Request, key: str | None) -> dict[str, Any] | Response:
        body = await request.body()
        try:
            raw = json.loads(body) if body.strip() else {}
            return context_from_body(raw, _host(request), ofrep=True)
        except (ValueError, UnicodeDecodeError) as exc:
            err: dict[str, Any] = {"errorCode": "INVALID_CONTEXT", "errorDetails": str(exc)}
            if key is not None:
                err = {"key": key, **err}
            return JSONResponse(err, status_code=400)

    async def ofrep_one(self, request: Request) -> Response:
        key = request.path_params["key"]
        principal = await self.guard.principal(request, ANY)
        scope = self.guard.scope(principal)
        ctx = await self._ofrep_context(request, key)
        if isinstance(ctx, Response):
            return ctx
        ctx.setdefault("environment", scope.environment)
        result = self.service.snapshot.engine(scope).evaluate(key, ctx)
        if not result.exists:
            return JSONResponse(
                {
                    "key": key,
                    "errorCode": "FLAG_NOT_FOUND",
                    "errorDetails": f"flag {key!r} not found",
                },
                status_code=404,
            )
        return JSONResponse(self._ofrep_body(result))

    def _ofrep_body(self, result: Any) -> dict[str, Any]:
        value, variant = ofrep_value(result.enabled, result.variant)
        return {
            "key": result.name,
            "reason": result.reason,
            "variant": variant,
            "value": value,
            "metadata": {"flagType": result.flag_type, "enabled": result.enabled},
        }

    async def ofrep_bulk(self, request: Request) -> Response:
        principal = await self.guard.principal(request, ANY)
        scope = self.guard.scope(principal)
        ctx = await self._ofrep_context(request, None)
        if isinstance(ctx, Response):
            return ctx
        ctx.setdefault("environment", scope.environment)
        snapshot = self.service.snapshot
        digest = hashlib.sha1(json.dumps(ctx, sort_keys=True, default=str).encode()).hexdigest()[
            :12
        ]
        etag = f'"{snapshot.query_hash(scope, False)}:{snapshot.revision}:{digest}"'
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"etag": etag})
        flags = [self._ofrep_body(e) for e in snapshot.engine(scope).evaluate_all(ctx)]
        return JSONResponse({"flags": flags}, headers={"etag": etag})

    def routes(self, prefix: str = "") -> list[Route]:
        fe = f"{prefix}/api/frontend"
        return [
            Route(fe, self.frontend_get, methods=["GET"]),
            Route(fe, self.frontend_post, methods=["POST"]),
            Route(f"{fe}/client/metrics", self.frontend_accept, methods=["POST"]),
            Route(f"{fe}/client/register", self.frontend_accept, methods=["POST"]),
            Route(f"{prefix}/ofrep/v1/evaluate/flags", self.ofrep_bulk, methods=["POST"]),
            Route(f"{prefix}/ofrep/v1/evaluate/flags/{{key}}", self.ofrep_one, methods=["POST"]),
        ]
