"""Where counters come from: a Prometheus text endpoint, or a Prometheus server via PromQL.

Both produce the same `Sample` (cumulative request and error counters and histogram buckets
at one instant), so the SLI arithmetic does not care which source fed it. The HTTP client is
a small Protocol; `HttpxFetcher` is the real one and `MemoryFetcher` serves canned bodies.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from selfheal.monitor import exposition
from selfheal.monitor.errors import NoData
from selfheal.monitor.services import ServiceSpec, status_matches


@dataclass(frozen=True, slots=True)
class Sample:
    """Cumulative counters read at `time` (epoch seconds of our clock)."""

    time: float
    requests: float
    errors: float
    buckets: tuple[tuple[float, float], ...] = ()
    """Cumulative histogram buckets as (upper bound in seconds, count), sorted by bound."""
    origin: tuple[float, float] | None = None
    """(requests, errors) of the origin's slice (`origin_slice`), when one is configured."""


class Fetcher(Protocol):
    """GET a URL and return (status, body); raises NoData when nothing answers."""

    async def get(
        self, url: str, *, params: Mapping[str, str] | None = None, timeout: float
    ) -> tuple[int, str]: ...


class HttpxFetcher:
    """The real client; its connection pool opens on first use, so an unused one costs nothing."""

    def __init__(self, client: httpx.AsyncClient | None = None) -> None:
        self._client = client

    async def get(
        self, url: str, *, params: Mapping[str, str] | None = None, timeout: float
    ) -> tuple[int, str]:
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False)
        try:
            response = await self._client.get(url, params=params, timeout=timeout)
        except httpx.HTTPError as exc:
            raise NoData(f"{url} is unreachable: {exc.__class__.__name__}") from exc
        return response.status_code, response.text

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


@dataclass
class MemoryFetcher:
    """Canned bodies by URL (a missing URL behaves like a refused connection)."""

    bodies: dict[str, tuple[int, str]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    async def get(
        self, url: str, *, params: Mapping[str, str] | None = None, timeout: float
    ) -> tuple[int, str]:
        self.calls.append(url)
        if url not in self.bodies:
            raise NoData(f"{url} is unreachable: ConnectError")
        return self.bodies[url]


def _le(value: str) -> float:
    return math.inf if value in ("+Inf", "Inf", "inf") else float(value)


def sample_from_exposition(text: str, spec: ServiceSpec, now: float) -> Sample:
    """Sum the request counter by status class, and the latency histogram's buckets."""
    src = spec.source
    samples = exposition.parse(text)
    names = {src.requests, src.requests + "_total"}
    requests = errors = 0.0
    origin_requests = origin_errors = 0.0
    cut = spec.origin_slice
    seen = False
    buckets: dict[float, float] = {}
    bucket_name = f"{src.latency}_bucket" if src.latency else ""
    for s in samples:
        if any(s.labels.get(k) != v for k, v in src.match.items()):
            continue
        if s.name in names:
            seen = True
            requests += s.value
            status = s.labels.get(src.status_label, "")
            failed = status_matches(status, spec.error_statuses)
            if failed:
                errors += s.value
            if cut is not None and s.labels.get(cut.label) == cut.value:
                origin_requests += s.value
                origin_errors += s.value if failed else 0.0
        elif bucket_name and s.name == bucket_name and "le" in s.labels:
            try:
                le = _le(s.labels["le"])
            except ValueError:
                continue
            buckets[le] = buckets.get(le, 0.0) + s.value
    if not seen:
        raise NoData(f"no '{src.requests}' counter at {src.url}")
    origin = (origin_requests, origin_errors) if cut is not None else None
    return Sample(now, requests, errors, tuple(sorted(buckets.items())), origin)


class ScrapeSource:
    def __init__(self, spec: ServiceSpec, fetcher: Fetcher, *, timeout: float) -> None:
        self.spec = spec
        self._fetcher = fetcher
        self._timeout = timeout

    async def read(self, now: float) -> Sample:
        status, body = await self._fetcher.get(self.spec.source.url, timeout=self._timeout)
        if status != 200:
            raise NoData(f"{self.spec.source.url} answered HTTP {status}")
        return sample_from_exposition(body, self.spec, now)


class PromqlSource:
    """Instant queries against `/api/v1/query`; each expression must return one counter sum
    (the buckets one, a vector by `le`)."""

    def __init__(self, spec: ServiceSpec, fetcher: Fetcher, *, timeout: float) -> None:
        self.spec = spec
        self._fetcher = fetcher
        self._timeout = timeout

    async def _query(self, expr: str) -> list[tuple[dict[str, str], float]]:
        url = f"{self.spec.source.url}/api/v1/query"
        status, body = await self._fetcher.get(url, params={"query": expr}, timeout=self._timeout)
        try:
            doc = json.loads(body)
        except ValueError as exc:
            raise NoData(f"{url} did not answer JSON (HTTP {status})") from exc
        if not isinstance(doc, dict) or doc.get("status") != "success":
            error = doc.get("error") if isinstance(doc, dict) else None
            raise NoData(f"PromQL query failed: {error or f'HTTP {status}'}")
        data = doc.get("data") or {}
        result = data.get("result") if isinstance(data, dict) else None
        if data.get("resultType") == "scalar" and isinstance(result, list):
            return [({}, float(result[1]))]
        if not isinstance(result, list):
            raise NoData("PromQL answer has no result vector")
        out: list[tuple[dict[str, str], float]] = []
        for item in result:
            try:
                out.append((dict(item.get("metric") or {}), float(item["value"][1])))
            except (KeyError, TypeError, ValueError, IndexError) as exc:
                raise NoData("PromQL answer has a malformed sample") from exc
        return out

    async def read(self, now: float) -> Sample:
        src = self.spec.source
        total = await self._query(src.requests)
        if not total:
            raise NoData(f"PromQL {src.requests!r} returned no series")
        errors = await self._query(src.errors)
        buckets: dict[float, float] = {}
        if src.latency:
            for labels, value in await self._query(src.latency):
                if "le" in labels:
                    le = _le(labels["le"])
                    buckets[le] = buckets.get(le, 0.0) + value
        return Sample(
            now,
            sum(v for _, v in total),
            sum(v for _, v in errors),
            tuple(sorted(buckets.items())),
        )


class Source(Protocol):
    async def read(self, now: float) -> Sample: ...


def open_source(spec: ServiceSpec, fetcher: Fetcher, *, timeout: float) -> Source:
    if spec.source.kind == "prometheus":
        return PromqlSource(spec, fetcher, timeout=timeout)
    return ScrapeSource(spec, fetcher, timeout=timeout)
