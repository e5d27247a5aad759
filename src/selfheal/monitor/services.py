"""Monitored services as declared in monitor.yaml or through the API: plain dataclasses.

`selfheal.monitor.declarations` reads them from a file or a request (pydantic models, errors
naming key and line), so a bad file never half-applies.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """Where the counters come from: `scrape` (Prometheus text) or `prometheus` (PromQL)."""

    kind: str
    url: str
    interval: float = 5.0
    requests: str = "http_requests_total"
    errors: str = ""
    status_label: str = "code"
    latency: str = ""
    match: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DetectorSpec:
    """One detector's settings; which fields matter depends on `kind` (see docs/monitor.md)."""

    kind: str
    mode: str = "auto"
    sensitivity: str | None = None
    threshold: float | None = None
    """failure_rate: percent; response_time: milliseconds."""
    min_requests_per_minute: float = 10.0
    for_seconds: float = 0.0
    """How long a breach must last before it counts."""
    windows: tuple[float, ...] = ()
    percentile: float = 95.0
    slo: float = 99.5
    burn_rate: float = 14.4
    long_window: float = 3600.0
    short_window: float = 300.0
    plain: bool = False
    """failure_rate/fixed: compare the plain ratio (Dynatrace-style) instead of testing it."""


@dataclass(frozen=True, slots=True)
class ProbeSpec:
    """One request to the origin that bypasses the kill switch (`probe:` in monitor.yaml)."""

    url: str
    method: str = "GET"
    interval_seconds: float = 5.0
    timeout_seconds: float = 2.0
    expect_status: tuple[int, int] = (200, 399)
    """Inclusive range of statuses that count as success."""
    body_contains: str | None = None
    consecutive: int = 3
    """Successes in a row the caller needs before it trusts the origin."""
    bypass_header: str | None = "X-Selfheal-Probe"
    bypass_query: str | None = None
    bypass_value: str = "true"


@dataclass(frozen=True, slots=True)
class SliceSpec:
    """The series of requests served by the origin: `label=value` of the request counter."""

    label: str
    value: str


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    name: str
    source: SourceSpec
    tags: dict[str, str] = field(default_factory=dict)
    error_statuses: tuple[str, ...] = ("5xx",)
    sensitivity: str | None = None
    detectors: tuple[DetectorSpec, ...] = ()
    probe: ProbeSpec | None = None
    origin_slice: SliceSpec | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["error_statuses"] = list(self.error_statuses)
        out["detectors"] = [{**asdict(d), "windows": list(d.windows)} for d in self.detectors]
        return out

    def is_error(self, status: str) -> bool:
        return status_matches(status, self.error_statuses)


def status_matches(status: str, patterns: tuple[str, ...]) -> bool:
    for pattern in patterns:
        if (
            len(pattern) == 3
            and len(status) == 3
            and all(p in ("x", s) for p, s in zip(pattern, status, strict=True))
        ):
            return True
    return False
