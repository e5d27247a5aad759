"""The HTTP seam of every integration: one small protocol, an httpx adapter and a fake.

Plugins never hold an httpx client; they describe a request (`HttpRequest`) and the delivery
machinery sends it through an `HttpClient`. Transport failures (refused, timed out) become
`TransportFailure`, so nothing above this module sees httpx's exception tree.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from selfheal.integrations.errors import IntegrationError


class TransportFailure(IntegrationError):
    """The request did not get an HTTP answer (connection refused, timeout, TLS error)."""


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    json: Any = None
    content: bytes | None = None
    timeout: float | None = None
    connect_to: str | None = None
    """The IP address to connect to instead of resolving the URL's host again (set by the
    URL guard: the address it checked). Host header and TLS server name stay the URL's."""

    def body(self) -> bytes:
        """The bytes on the wire (JSON compactly encoded when `json` is set)."""
        if self.content is not None:
            return self.content
        if self.json is None:
            return b""
        return json.dumps(self.json, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes = b""

    def json(self) -> Any:
        try:
            return json.loads(self.content or b"null")
        except ValueError:
            return None

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def header(self, name: str) -> str | None:
        lower = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lower:
                return value
        return None


class HttpClient(Protocol):
    async def send(self, request: HttpRequest) -> HttpResponse: ...

    async def close(self) -> None: ...


class HttpxClient:
    """The real client; `default_timeout` applies when a request names none."""

    def __init__(
        self,
        *,
        default_timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._default_timeout = default_timeout
        self._client = httpx.AsyncClient(transport=transport, follow_redirects=False)

    async def send(self, request: HttpRequest) -> HttpResponse:
        headers = dict(request.headers)
        if request.json is not None and request.content is None:
            headers.setdefault("Content-Type", "application/json")
        url = httpx.URL(request.url)
        extensions: dict[str, Any] = {}
        if request.connect_to is not None:
            headers.setdefault("Host", _host_header(url))
            if url.scheme == "https":
                extensions["sni_hostname"] = url.host  # certificate checked against the name
            url = url.copy_with(host=request.connect_to)
        try:
            response = await self._client.request(
                request.method,
                url,
                headers=headers,
                content=request.body() or None,
                timeout=request.timeout or self._default_timeout,
                extensions=extensions or None,
            )
        except httpx.TimeoutException:
            raise TransportFailure("timed out") from None
        except httpx.HTTPError as exc:
            # the exception text can carry the URL; only its class name goes out
            raise TransportFailure(f"no answer ({exc.__class__.__name__})") from None
        return HttpResponse(response.status_code, dict(response.headers), response.content)

    async def close(self) -> None:
        await self._client.aclose()


def _host_header(url: httpx.URL) -> str:
    host = f"[{url.host}]" if ":" in url.host else url.host
    return host if url.port is None else f"{host}:{url.port}"


Responder = Callable[[HttpRequest], HttpResponse]


class MemoryHttp:
    """Records every request and answers from a script (or 200 `{}`): the test double."""

    def __init__(self, responder: Responder | None = None) -> None:
        self.requests: list[HttpRequest] = []
        self._responder = responder or (lambda _r: HttpResponse(200, {}, b"{}"))
        self._queued: list[HttpResponse | TransportFailure] = []

    def queue(self, *answers: HttpResponse | TransportFailure) -> None:
        """Answer the next requests with these, in order, before falling back to the responder."""
        self._queued.extend(answers)

    async def send(self, request: HttpRequest) -> HttpResponse:
        self.requests.append(request)
        if self._queued:
            answer = self._queued.pop(0)
            if isinstance(answer, TransportFailure):
                raise answer
            return answer
        return self._responder(request)

    async def close(self) -> None:
        return None
