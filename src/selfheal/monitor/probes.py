"""Probes: one request to a service's origin that passes its kill switch, to verify the origin
while users are still served by the fallback.

The request carries the bypass (`X-Selfheal-Probe: true` by default, or a query parameter)
that the app maps into its flag context, so the kill switch evaluates off for the probe alone
and the app answers as it would for users once restored. A probe is never a user request: it
goes to the app directly and selfheal records it in no SLI; an app whose own /metrics would
count it should leave requests carrying the bypass out (the demo website does).

The URL is the operator's own (monitor.yaml needs the admin token, like the scrape URLs it
sits beside, and is usually on loopback or a private network), so it is not put through the
webhook URL guard that protects against project-written webhook.yaml files. Counting
consecutive successes is the caller's (the restore state machine owns the timing).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import httpx

from selfheal.core import Clock
from selfheal.monitor.errors import ProbeFailed
from selfheal.monitor.services import ProbeSpec

MAX_BODY = 1 << 20
"""Bytes of the answer read at most (enough for `body_contains` on any page)."""
USER_AGENT = "selfheal-probe"


@dataclass(frozen=True)
class ProbeOutcome:
    ok: bool
    """Matched the success rule (status in `expect_status`, body contains `body_contains`)."""
    status: int | None
    """HTTP status; None on a connection error or a timeout."""
    seconds: float
    """Latency (wall time) of the request."""
    error: str | None
    """Short reason when not ok."""
    at: float
    """Clock time of the probe."""


class Prober(Protocol):
    """Send one request; return (status, up to `MAX_BODY` characters of the body)."""

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str],
        timeout: float,
    ) -> tuple[int, str]: ...


class HttpxProber:
    """The real client; tests give it an `httpx.AsyncClient` over `ASGITransport`."""

    def __init__(self, client: httpx.AsyncClient | None = None) -> None:
        self._client = client

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str],
        timeout: float,
    ) -> tuple[int, str]:
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False)
        try:
            async with self._client.stream(
                method, url, headers=dict(headers), params=dict(params), timeout=timeout
            ) as response:
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) >= MAX_BODY:
                        break
                return response.status_code, body[:MAX_BODY].decode("utf-8", "replace")
        except httpx.TimeoutException:
            raise TimeoutError from None
        except httpx.HTTPError as exc:
            raise ProbeFailed(f"no answer ({exc.__class__.__name__})") from None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


async def probe_once(spec: ProbeSpec, prober: Prober, clock: Clock) -> ProbeOutcome:
    """One request per `spec`; never raises for what the origin does (that is the outcome)."""
    headers = {"User-Agent": USER_AGENT}
    params: dict[str, str] = {}
    if spec.bypass_header is not None:
        headers[spec.bypass_header] = spec.bypass_value
    if spec.bypass_query is not None:
        params[spec.bypass_query] = spec.bypass_value
    at = clock.now()
    started = time.perf_counter()
    status: int | None = None
    body = ""
    error: str | None = None
    try:
        # the overall bound also holds for transports that ignore httpx's own timeouts
        async with asyncio.timeout(spec.timeout_seconds):
            status, body = await prober.request(
                spec.method, spec.url, headers=headers, params=params, timeout=spec.timeout_seconds
            )
    except TimeoutError:
        error = f"no answer within {spec.timeout_seconds:g} s"
    except ProbeFailed as exc:
        error = exc.message
    seconds = time.perf_counter() - started
    if status is not None:
        low, high = spec.expect_status
        if not low <= status <= high:
            error = f"HTTP {status}, expected {low}-{high}"
        elif spec.body_contains is not None and spec.body_contains not in body:
            error = f"HTTP {status} without {spec.body_contains!r} in the body"
    return ProbeOutcome(error is None, status, seconds, error, at)


__all__ = ["HttpxProber", "ProbeOutcome", "Prober", "probe_once"]
