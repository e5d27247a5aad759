"""The SDK hot paths as plain ASGI, in front of FastAPI's routing.

Every SDK polls `GET /api/client/features` and posts metrics; browsers post `/api/frontend`.
For those exact paths (both prefixes) this answers the ordinary case itself: a known token of
the right kind, a ready server, no query string, a well-formed body. Responses are the bytes
the routes in `client.py`/`frontend.py` would send, with the same headers. Anything else (no
token, unknown token, wrong kind, starting up, a query string, a bad body, HEAD) goes to the
routes unchanged, so errors and rare cases keep one implementation. A body read here is
replayed to the route when it declines.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from selfheal.core import SelfhealError
from selfheal.flags.api.client import SEGMENTS_SPEC
from selfheal.flags.api.frontend import FrontendApi, context_from_body
from selfheal.flags.api.guard import ANY, CLIENT, FRONTEND, Guard, spec_at_least
from selfheal.flags.metrics import UsageMetrics
from selfheal.flags.service import FlagsService
from selfheal.flags.snapshot import Body, Snapshot
from selfheal.flags.tokens import digest, strip
from selfheal.runtime import Principal

_CACHE_LIMIT = 10_000
_BODY_LIMIT = 1 << 20
_JSON = (b"content-type", b"application/json")
_CACHE_CONTROL = (b"cache-control", b"public, max-age=1")
_ACCEPTED = {
    "type": "http.response.start",
    "status": 202,
    "headers": [(b"content-length", b"0")],
}
_EMPTY = {"type": "http.response.body", "body": b""}

Handler = Callable[[Scope, Receive, Send], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class RouteLabel:
    """What `scope["route"]` carries for the request-metrics middleware."""

    path: str


@dataclass(frozen=True, slots=True)
class _Rendered:
    """One features body with its prepared 200 and 304 response starts."""

    snapshot: Snapshot
    content: bytes
    etag: bytes
    full: dict[str, Any]
    not_modified: dict[str, Any]

    @classmethod
    def of(cls, snapshot: Snapshot, body: Body) -> _Rendered:
        etag = body.etag.encode("latin-1")
        full = {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"etag", etag),
                _CACHE_CONTROL,
                (b"content-length", str(len(body.content)).encode()),
                _JSON,
            ],
        }
        not_modified = {"type": "http.response.start", "status": 304, "headers": [(b"etag", etag)]}
        return cls(snapshot, body.content, etag, full, not_modified)


def _headers(scope: Scope) -> tuple[bytes | None, bytes | None, bytes | None]:
    """Authorization, If-None-Match and Unleash-Client-Spec (first of each, as Starlette)."""
    auth = match = spec = None
    for key, value in scope["headers"]:
        if key == b"authorization":
            if auth is None:
                auth = value
        elif key == b"if-none-match":
            if match is None:
                match = value
        elif key == b"unleash-client-spec" and spec is None:
            spec = value
    return auth, match, spec


class _Replay:
    """A `receive` that gives back the body already read, then defers to the real one."""

    def __init__(self, messages: list[Message], receive: Receive) -> None:
        self._messages = messages
        self._receive = receive

    async def __call__(self) -> Message:
        if self._messages:
            return self._messages.pop(0)
        return await self._receive()


class FastPath:
    def __init__(
        self,
        app: ASGIApp,
        *,
        service: FlagsService,
        guard: Guard,
        usage: UsageMetrics,
        frontend: FrontendApi,
        prefixes: tuple[str, ...],
    ) -> None:
        self.app = app
        self.service = service
        self.guard = guard
        self.usage = usage
        self.frontend = frontend
        self._digests: dict[bytes, str] = {}
        self._specs: dict[bytes | None, bool] = {}
        self._rendered: dict[tuple[Principal, bool], _Rendered] = {}
        self._routes: dict[str, tuple[str, Handler, RouteLabel]] = {}
        for prefix in prefixes:
            for method, path, handler in (
                ("GET", "/api/client/features", self._features),
                ("POST", "/api/client/metrics", self._metrics),
                ("POST", "/api/client/register", self._register),
                ("POST", "/api/frontend", self._frontend),
            ):
                full = prefix + path
                self._routes[full] = (method, handler, RouteLabel(full))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            found = self._routes.get(scope["path"])
            if found is not None and found[0] == scope["method"] and not scope["query_string"]:
                scope["route"] = found[2]
                if await found[1](scope, receive, send):
                    return
        await self.app(scope, receive, send)

    def _principal(self, auth: bytes | None, kinds: frozenset[str]) -> Principal | None:
        """The cached principal for an ordinary token header; None sends it to the route."""
        if auth is None or not self.guard.runtime.ready:
            return None
        key = self._digests.get(auth)
        if key is None:
            text = auth.decode("latin-1")
            if text[:6].lower() == "basic ":
                return None
            if len(self._digests) >= _CACHE_LIMIT:
                self._digests.clear()
            key = self._digests[auth] = digest(strip(text))
        found = self.guard.auth.known(key)  # revocation shows at once: no copy kept here
        if found is None or found.kind not in kinds:
            return None
        return found

    def _inline(self, spec: bytes | None) -> bool:
        inline = self._specs.get(spec)
        if inline is None:
            text = spec.decode("latin-1") if spec is not None else None
            inline = not spec_at_least(text, SEGMENTS_SPEC)
            if len(self._specs) >= 256:
                self._specs.clear()
            self._specs[spec] = inline
        return inline

    async def _features(self, scope: Scope, receive: Receive, send: Send) -> bool:
        auth, match, spec = _headers(scope)
        principal = self._principal(auth, CLIENT)
        if principal is None:
            return False
        inline = self._inline(spec)
        snapshot = self.service.snapshot
        key = (principal, inline)
        rendered = self._rendered.get(key)
        if rendered is None or rendered.snapshot is not snapshot:
            if len(self._rendered) >= _CACHE_LIMIT:
                self._rendered.clear()
            body = snapshot.body(self.guard.scope(principal), inline)
            rendered = self._rendered[key] = _Rendered.of(snapshot, body)
        if match == rendered.etag:
            await send(rendered.not_modified)
            await send(_EMPTY)
        else:
            await send(rendered.full)
            await send({"type": "http.response.body", "body": rendered.content})
        return True

    async def _read(self, receive: Receive) -> tuple[bytes, list[Message]] | None:
        """The whole body and the messages it came in; None when it is too big to hold."""
        messages: list[Message] = []
        size = 0
        while size <= _BODY_LIMIT:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return None
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(m.get("body", b"") for m in messages), messages
        return None

    async def _with_body(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        kinds: frozenset[str],
        answer: Callable[[Principal, Any], Awaitable[bytes | None]],
    ) -> bool:
        principal = self._principal(_headers(scope)[0], kinds)
        if principal is None:
            return False
        read = await self._read(receive)
        done = False
        if read is not None and read[0].strip():
            try:
                content = await answer(principal, json.loads(read[0]))
            except (ValueError, UnicodeDecodeError, SelfhealError):
                content = None  # the route gives the same input its proper error
            if content is not None:
                done = True
                if content:
                    start = {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [(b"content-length", str(len(content)).encode()), _JSON],
                    }
                    await send(start)
                    await send({"type": "http.response.body", "body": content})
                else:
                    await send(_ACCEPTED)
                    await send(_EMPTY)
        if not done:
            messages = read[1] if read is not None else []
            await self.app(scope, _Replay(messages, receive), send)
        return True

    async def _metrics(self, scope: Scope, receive: Receive, send: Send) -> bool:
        async def answer(principal: Principal, raw: Any) -> bytes:
            await self.usage.record(raw, self.guard.scope(principal).environment)
            return b""

        return await self._with_body(scope, receive, send, ANY, answer)

    async def _register(self, scope: Scope, receive: Receive, send: Send) -> bool:
        async def answer(principal: Principal, raw: Any) -> bytes:
            self.usage.register(raw, self.guard.scope(principal).environment)
            return b""

        return await self._with_body(scope, receive, send, ANY, answer)

    async def _frontend(self, scope: Scope, receive: Receive, send: Send) -> bool:
        client = scope.get("client")
        host = client[0] if client else None

        async def answer(principal: Principal, raw: Any) -> bytes | None:
            try:
                ctx = context_from_body(raw, host)
            except ValueError:
                return None
            return self.frontend.toggles(principal, ctx)

        return await self._with_body(scope, receive, send, FRONTEND, answer)
