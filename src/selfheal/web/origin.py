"""Cross-site request refusal for the web UI's forms (pause, abort, approve, flip …).

The UI's session cookie is `SameSite=Lax`, so browsers already leave it off cross-site
POSTs. This is the second lock, the one OWASP calls verifying the origin with standard
headers: a state-changing request that carries the session cookie must come from a page of
this server. A browser says where a request comes from in `Origin` (and in `Sec-Fetch-Site`);
one whose origin is another site is refused with 403 before any handler runs. The origin
may be this server as the request names it (`Host`), as a proxy in front of it names it
(`X-Forwarded-Host`), or as `SELFHEAL_PUBLIC_URL` names it. Requests without the cookie (API
clients with tokens, SDKs, webhooks) are not touched.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from selfheal.web.sessions import COOKIE

SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


class SameOrigin:
    def __init__(self, app: ASGIApp, public_url: str = "") -> None:
        self.app = app
        self._cookie = f"{COOKIE}=".encode()
        self._public = urlsplit(public_url).netloc.lower() if public_url else ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method", "GET") in SAFE:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        if self._cookie not in headers.get(b"cookie", b"") or self._same_site(headers):
            await self.app(scope, receive, send)
            return
        body = json.dumps(
            {
                "code": 403,
                "message": "cross-site request refused: it carries the UI session "
                "but comes from another site",
                "field": "Origin",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _same_site(self, headers: dict[bytes, bytes]) -> bool:
        site = headers.get(b"sec-fetch-site", b"").decode("latin-1").lower()
        if site and site not in ("same-origin", "none"):
            return False  # cross-site, or same site but another origin
        origin = headers.get(b"origin", b"").decode("latin-1")
        if not origin:
            return True  # not a browser's cross-origin request (those always send Origin)
        if origin == "null":
            return False
        netloc = urlsplit(origin).netloc.lower()
        forwarded = headers.get(b"x-forwarded-host", b"").decode("latin-1").split(",")[0]
        names = {headers.get(b"host", b"").decode("latin-1"), forwarded.strip(), self._public}
        return netloc in {n.lower() for n in names if n}
