"""Security headers on every console page (a page with a one-click production kill switch).

- `X-Frame-Options: DENY` and CSP `frame-ancestors 'none'`: no other site can frame the
  console and trick a click onto a switch.
- a CSP that runs only the app's own script file (`script-src 'self'`, nothing inline).
- `Cache-Control: no-store`: a shared or back-button cache never keeps a logged-in page.
- the one-shot flash cookie (`selfheal.flashes`) is cleared by the page that showed it.

API paths are left alone: SDK polls are the hot path, and JSON is not framed or cached
by browsers in a way that matters here.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from selfheal import flashes

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'; object-src 'none'"
)
HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", CSP.encode()),
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]
CLEAR_FLASH = (
    b"set-cookie",
    f"{flashes.COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=lax".encode(),
)


class SecurityHeaders:
    def __init__(self, app: ASGIApp, roots: frozenset[str]) -> None:
        self.app = app
        self._roots = roots

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].split("/", 2)[1] not in self._roots:
            await self.app(scope, receive, send)
            return
        cookies = b"".join(v for k, v in scope.get("headers") or () if k == b"cookie")
        had_flash = f"{flashes.COOKIE}=".encode() in cookies

        async def add(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in {h for h, _ in HEADERS}
                ]
                headers += HEADERS
                status = int(message["status"])
                sets_flash = any(
                    k.lower() == b"set-cookie" and v.startswith(f"{flashes.COOKIE}=".encode())
                    for k, v in headers
                )
                if had_flash and not sets_flash and not 300 <= status < 400:
                    headers.append(CLEAR_FLASH)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, add)
