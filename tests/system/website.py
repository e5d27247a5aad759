"""The demo's front-end reduced to what the monitor sees: a Prometheus text endpoint.

Each simulated second it serves `rate` requests; while the fault is on and the flag it reads
through the client API is off, half of them fail. `/` answers origin probes (503 while the
fault is on). Once the real toggle-feature provider flips
`EnableStaticContent`, the page comes from the "CDN" and every request succeeds, so the loop
is closed by selfheal and not by the test.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

FLAG = "EnableStaticContent"


@dataclass
class Website:
    rate: int = 20
    fault: bool = False
    ok: int = 0
    failed: int = 0
    scrapes: int = 0
    probes: int = 0
    history: list[tuple[bool, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.app = Starlette(
            routes=[
                Route("/metrics", self._metrics, methods=["GET"]),
                Route("/", self._page, methods=["GET"]),
            ]
        )

    def serve_second(self, static_content: bool) -> None:
        """One second of traffic; the static (CDN) page never fails."""
        bad = self.rate // 2 if self.fault and not static_content else 0
        self.ok += self.rate - bad
        self.failed += bad
        self.history.append((static_content, bad))

    async def _page(self, request: Request) -> Response:
        """The origin's page as a probe that bypasses the kill switch gets it (counted in no
        metric, as the demo website leaves probe requests out)."""
        self.probes += 1
        if self.fault:
            return PlainTextResponse("origin failing", 503)
        return PlainTextResponse("origin ok")

    async def _metrics(self, request: Request) -> Response:
        self.scrapes += 1
        body = (
            "# TYPE http_requests_total counter\n"
            f'http_requests_total{{code="200",handler="/"}} {self.ok}\n'
            f'http_requests_total{{code="500",handler="/"}} {self.failed}\n'
        )
        return PlainTextResponse(body, media_type="text/plain; version=0.0.4")
