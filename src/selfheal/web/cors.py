"""CORS for the APIs browser apps call from their own origin: Unleash's frontend API and OFREP.

Unleash answers its frontend API for every origin by default (`*`) and lets an operator list
origins instead; so does `SELFHEAL_CORS_ORIGINS` (comma-separated). A preflight is answered
here, before routing, for any header the browser asks for (the SDKs send `Authorization`,
`If-None-Match`, `Content-Type` and their `unleash-*` headers); `ETag` is exposed so a browser
SDK can send it back. Other paths (the admin API, the UI) get no CORS headers at all, so a
browser keeps refusing cross-origin reads of them.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

METHODS = b"GET, POST, OPTIONS"
EXPOSE = b"ETag, Content-Type"
DEFAULT_HEADERS = b"Authorization, Content-Type, If-None-Match"


class Cors:
    def __init__(self, app: ASGIApp, origins: Iterable[str], paths: Iterable[str]) -> None:
        self.app = app
        listed = [o.rstrip("/") for o in origins]
        self.any = "*" in listed
        self.origins = frozenset(o.lower() for o in listed if o != "*")
        self.paths = tuple(paths)

    def _applies(self, path: str) -> bool:
        return any(path == p.rstrip("/") or path.startswith(p) for p in self.paths)

    def _allow(self, origin: bytes) -> bytes | None:
        if not origin:
            return None
        if self.any:
            return b"*"
        if origin.decode("latin-1").lower() in self.origins:
            return origin
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._applies(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        allowed = self._allow(headers.get(b"origin", b""))
        wanted = headers.get(b"access-control-request-method")
        if scope.get("method") == "OPTIONS" and wanted is not None:
            await self._preflight(send, allowed, headers)
            return
        if allowed is None:
            await self.app(scope, receive, send)
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [
                    (b"access-control-allow-origin", allowed),
                    (b"access-control-expose-headers", EXPOSE),
                    (b"vary", b"Origin"),
                ]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_cors)

    async def _preflight(
        self, send: Send, allowed: bytes | None, headers: dict[bytes, bytes]
    ) -> None:
        out: list[tuple[bytes, bytes]] = [(b"vary", b"Origin"), (b"content-length", b"0")]
        if allowed is not None:
            asked = headers.get(b"access-control-request-headers", b"")
            out += [
                (b"access-control-allow-origin", allowed),
                (b"access-control-allow-methods", METHODS),
                (b"access-control-allow-headers", asked or DEFAULT_HEADERS),
                (b"access-control-max-age", b"86400"),
            ]
        await send({"type": "http.response.start", "status": 204, "headers": out})
        await send({"type": "http.response.body", "body": b""})
