"""monitor.yaml at the edge: pydantic models of the file, turned into `ServiceSpec`s.

Every model forbids unknown keys, and every key it accepts changes what the monitor does: a
key that means nothing for a detector's kind is refused with the reason rather than ignored.
Errors go through the one document mechanism (`selfheal.core.documents`), so they name the
key and its line: `line 12, field 'services[0].detectors[1].treshold': unknown field`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from selfheal.core.documents import Node, SpecError, parse_document, validate
from selfheal.monitor.services import (
    DetectorSpec,
    ProbeSpec,
    ServiceSpec,
    SliceSpec,
    SourceSpec,
)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_STATUS = re.compile(r"[1-5]([0-9]{2}|xx|[0-9]x)")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_URL = re.compile(r"https?://\S+")
_HEADER = re.compile(r"[A-Za-z0-9-]+")


def _matching(pattern: re.Pattern[str], message: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(message)
        return value

    return AfterValidator(check)


Name = Annotated[str, _matching(_NAME, "letters, digits, '.', '_' or '-' (max 128)")]
Status = Annotated[str, _matching(_STATUS, "like 500, 5xx or 50x")]
Label = Annotated[str, _matching(_LABEL, "must be a label name")]
Url = Annotated[str, _matching(_URL, "must be an http(s) URL")]
HeaderName = Annotated[str, _matching(_HEADER, "must be a header name")]
Sensitivity = Literal["low", "medium", "high"]
Mode = Literal["auto", "fixed"]
Seconds = Annotated[float, Field(gt=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class ScrapeModel(_Model):
    url: Url
    interval: float = Field(default=1.0, ge=0.1)
    requests: str = Field(default="http_requests_total", min_length=1)
    status_label: Label = "code"
    latency: str = ""
    match: dict[str, str] = Field(default_factory=dict)


class PrometheusModel(_Model):
    url: Url
    interval: float = Field(default=5.0, ge=0.1)
    requests: str = Field(min_length=1)
    errors: str = Field(min_length=1)
    latency_buckets: str = ""


class SourceModel(_Model):
    scrape: ScrapeModel | None = None
    prometheus: PrometheusModel | None = None

    @model_validator(mode="after")
    def _one(self) -> SourceModel:
        if (self.scrape is None) == (self.prometheus is None):
            raise ValueError("give exactly one of 'scrape' or 'prometheus'")
        return self


class _DetectorModel(_Model):
    min_requests_per_minute: float = Field(default=10.0, ge=0)
    for_seconds: float = Field(default=0.0, ge=0)


class FailureRateModel(_DetectorModel):
    kind: Literal["failure_rate"]
    mode: Mode = "auto"
    sensitivity: Sensitivity | None = None
    threshold: float | None = Field(default=None, gt=0, le=100)
    """Percent: the fixed bar, and the auto mode's bar until a baseline is learned."""
    windows: list[Seconds] | None = Field(default=None, min_length=1)
    plain: bool = False

    @model_validator(mode="after")
    def _fixed(self) -> FailureRateModel:
        if self.mode == "fixed" and self.threshold is None:
            raise ValueError("a fixed detector needs a threshold")
        return self


class ResponseTimeModel(_DetectorModel):
    kind: Literal["response_time"]
    mode: Mode = "auto"
    sensitivity: Sensitivity | None = None
    threshold: float | None = Field(default=None, gt=0)
    """Milliseconds."""
    percentile: float = Field(default=95.0, gt=0, lt=100)
    windows: list[Seconds] | None = Field(default=None, min_length=1)
    for_seconds: float = Field(default=10.0, ge=0)

    @model_validator(mode="after")
    def _fixed(self) -> ResponseTimeModel:
        if self.mode == "fixed" and self.threshold is None:
            raise ValueError("a fixed detector needs a threshold")
        return self


_NOT_FOR_BURN_RATE = {
    "mode": "a burn-rate rule has no modes: its bar is burn_rate x (100 - slo) %",
    "threshold": "set the bar with slo and burn_rate (the bar is burn_rate x (100 - slo) %)",
    "windows": "a burn-rate rule has two windows: set long_window and short_window",
    "sensitivity": "a burn-rate rule is not a statistical test: set burn_rate instead",
}


class BurnRateModel(_DetectorModel):
    kind: Literal["burn_rate"]
    slo: float = Field(default=99.5, gt=0, lt=100)
    burn_rate: float = Field(default=14.4, gt=0)
    long_window: float = Field(default=3600.0, ge=1)
    short_window: float = Field(default=300.0, ge=1)
    mode: None = None
    threshold: None = None
    windows: None = None
    sensitivity: None = None

    @field_validator("mode", "threshold", "windows", "sensitivity", mode="before")
    @classmethod
    def _refuse(cls, value: Any, info: Any) -> None:
        raise ValueError(_NOT_FOR_BURN_RATE[info.field_name])

    @model_validator(mode="after")
    def _windows(self) -> BurnRateModel:
        if self.short_window >= self.long_window:
            raise ValueError("short_window must be shorter than long_window")
        return self


Detector = Annotated[
    FailureRateModel | ResponseTimeModel | BurnRateModel, Field(discriminator="kind")
]


class BypassModel(_Model):
    """How a probe passes the kill switch: a header or a query parameter, and its value."""

    header: HeaderName | None = None
    query: str | None = Field(default=None, min_length=1)
    value: str = "true"

    @model_validator(mode="after")
    def _one(self) -> BypassModel:
        if (self.header is None) == (self.query is None):
            raise ValueError("give exactly one of 'header' or 'query'")
        return self


class ProbeModel(_Model):
    url: Url
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    interval_seconds: float = Field(default=5.0, ge=0.1, le=3600)
    timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    expect_status: tuple[
        Annotated[int, Field(ge=100, le=599)], Annotated[int, Field(ge=100, le=599)]
    ] = (200, 399)
    body_contains: str | None = Field(default=None, min_length=1)
    consecutive: int = Field(default=3, ge=1, le=100)
    bypass: BypassModel = BypassModel(header="X-Selfheal-Probe")

    @field_validator("expect_status")
    @classmethod
    def _range(cls, value: tuple[int, int]) -> tuple[int, int]:
        if value[0] > value[1]:
            raise ValueError("an inclusive range [low, high] with low <= high")
        return value


class SliceModel(_Model):
    label: Label
    value: str


class ServiceModel(_Model):
    name: Name
    tags: dict[str, str] = Field(default_factory=dict)
    source: SourceModel
    error_statuses: list[Status] = Field(default=["5xx"], min_length=1)
    sensitivity: Sensitivity | None = None
    detectors: list[Detector] = Field(default_factory=list)
    probe: ProbeModel | None = None
    origin_slice: SliceModel | None = None

    @model_validator(mode="after")
    def _slice(self) -> ServiceModel:
        if self.origin_slice is not None and self.source.scrape is None:
            raise ValueError("origin_slice needs a scrape source (labels of the scraped counter)")
        return self


class MonitorDocument(_Model):
    services: list[ServiceModel] = Field(default_factory=list)


def load_services(text: str) -> list[tuple[ServiceSpec, dict[str, Any]]]:
    """A monitor.yaml (YAML or JSON), or one service object, as (spec, raw declaration) pairs.

    The raw declaration is what the API stores and every replica parses again.
    """
    root = parse_document(text)
    if "services" not in root.mapping() and "name" in root.mapping():
        return [(_spec(validate(ServiceModel, root)), root.plain())]
    document = validate(MonitorDocument, root)
    raw = root.get("services")
    nodes = raw.sequence() if raw is not None and raw.value is not None else []
    seen: set[str] = set()
    for model, node in zip(document.services, nodes, strict=True):
        if model.name in seen:
            raise node.require("name").fail(f"duplicate service {model.name!r}")
        seen.add(model.name)
    return [
        (_spec(model), node.plain()) for model, node in zip(document.services, nodes, strict=True)
    ]


def parse_service(raw: Any, where: str = "service") -> ServiceSpec:
    """One declaration from plain data (a stored row, a decoded JSON body)."""
    return _spec(validate(ServiceModel, Node.of(raw, where)))


def _spec(model: ServiceModel) -> ServiceSpec:
    return ServiceSpec(
        name=model.name,
        source=_source(model.source),
        tags=dict(model.tags),
        error_statuses=tuple(s.lower() for s in model.error_statuses),
        sensitivity=model.sensitivity,
        detectors=tuple(_detector(d) for d in model.detectors),
        probe=None if model.probe is None else _probe(model.probe),
        origin_slice=None
        if model.origin_slice is None
        else SliceSpec(model.origin_slice.label, model.origin_slice.value),
    )


def _source(model: SourceModel) -> SourceSpec:
    if model.prometheus is not None:
        p = model.prometheus
        return SourceSpec(
            kind="prometheus",
            url=p.url.rstrip("/"),
            interval=p.interval,
            requests=p.requests,
            errors=p.errors,
            latency=p.latency_buckets,
        )
    s = model.scrape
    if s is None:  # the model refuses this; kept for the type checker
        raise SpecError("give exactly one of 'scrape' or 'prometheus'", field="source")
    return SourceSpec(
        kind="scrape",
        url=s.url,
        interval=s.interval,
        requests=s.requests,
        status_label=s.status_label,
        latency=s.latency,
        match=dict(s.match),
    )


def _detector(model: FailureRateModel | ResponseTimeModel | BurnRateModel) -> DetectorSpec:
    if isinstance(model, BurnRateModel):
        return DetectorSpec(
            kind=model.kind,
            min_requests_per_minute=model.min_requests_per_minute,
            for_seconds=model.for_seconds,
            slo=model.slo,
            burn_rate=model.burn_rate,
            long_window=model.long_window,
            short_window=model.short_window,
        )
    return DetectorSpec(
        kind=model.kind,
        mode=model.mode,
        sensitivity=model.sensitivity,
        threshold=model.threshold,
        min_requests_per_minute=model.min_requests_per_minute,
        for_seconds=model.for_seconds,
        windows=tuple(model.windows or ()),
        percentile=model.percentile if isinstance(model, ResponseTimeModel) else 95.0,
        plain=model.plain if isinstance(model, FailureRateModel) else False,
    )


def _probe(model: ProbeModel) -> ProbeSpec:
    return ProbeSpec(
        url=model.url,
        method=model.method,
        interval_seconds=model.interval_seconds,
        timeout_seconds=model.timeout_seconds,
        expect_status=model.expect_status,
        body_contains=model.body_contains,
        consecutive=model.consecutive,
        bypass_header=model.bypass.header,
        bypass_query=model.bypass.query,
        bypass_value=model.bypass.value,
    )


__all__ = [
    "MonitorDocument",
    "ServiceModel",
    "load_services",
    "parse_service",
]
