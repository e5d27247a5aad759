"""Monitored services as declared in monitor.yaml or through the API, and their validation.

A spec is a plain dataclass; `parse_service` turns a decoded YAML/JSON mapping into one and
raises `InvalidInput` naming the offending field, so a bad file never half-applies.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import yaml

from selfheal.core import InvalidInput

SENSITIVITIES = ("low", "medium", "high")
DETECTOR_KINDS = ("failure_rate", "response_time", "burn_rate")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_STATUS = re.compile(r"^[1-5]([0-9]{2}|xx|[0-9]x)$")


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
    windows: tuple[float, ...] = ()
    percentile: float = 95.0
    slo: float = 99.5
    burn_rate: float = 14.4
    long_window: float = 3600.0
    short_window: float = 300.0
    plain: bool = False
    """failure_rate/fixed: compare the plain ratio (Dynatrace-style) instead of testing it."""


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    name: str
    source: SourceSpec
    tags: dict[str, str] = field(default_factory=dict)
    error_statuses: tuple[str, ...] = ("5xx",)
    sensitivity: str | None = None
    detectors: tuple[DetectorSpec, ...] = ()

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


def _require(obj: dict[str, Any], key: str, where: str) -> Any:
    if key not in obj or obj[key] in (None, ""):
        raise InvalidInput(f"'{key}' is required", field=f"{where}.{key}")
    return obj[key]


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput("must be a mapping", field=where)
    return value


def _number(obj: dict[str, Any], key: str, where: str, default: float, *, lo: float = 0.0) -> float:
    value = obj.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < lo:
        raise InvalidInput(f"must be a number >= {lo}", field=f"{where}.{key}")
    return float(value)


def _str_map(value: Any, where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in _mapping(value or {}, where).items():
        if not isinstance(v, str | int | float) or isinstance(v, bool):
            raise InvalidInput("values must be strings", field=f"{where}.{k}")
        out[str(k)] = str(v)
    return out


def _parse_source(raw: Any, where: str) -> SourceSpec:
    obj = _mapping(raw, where)
    kinds = [k for k in ("scrape", "prometheus") if k in obj]
    if len(kinds) != 1:
        raise InvalidInput("give exactly one of 'scrape' or 'prometheus'", field=where)
    kind = kinds[0]
    body = _mapping(obj[kind], f"{where}.{kind}")
    here = f"{where}.{kind}"
    url = _require(body, "url", here)
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise InvalidInput("must be an http(s) URL", field=f"{here}.url")
    interval = _number(body, "interval", here, 5.0 if kind == "prometheus" else 1.0, lo=0.1)
    if kind == "prometheus":
        requests = _require(body, "requests", here)
        errors = _require(body, "errors", here)
        latency = body.get("latency_buckets", "")
    else:
        requests = body.get("requests", "http_requests_total")
        errors = ""
        latency = body.get("latency", "")
    for key, value in (("requests", requests), ("errors", errors), ("latency", latency)):
        if not isinstance(value, str):
            raise InvalidInput("must be a string", field=f"{here}.{key}")
    status_label = body.get("status_label", "code")
    if not isinstance(status_label, str) or not status_label:
        raise InvalidInput("must be a label name", field=f"{here}.status_label")
    return SourceSpec(
        kind=kind,
        url=url.rstrip("/") if kind == "prometheus" else url,
        interval=interval,
        requests=requests,
        errors=errors,
        status_label=status_label,
        latency=latency,
        match=_str_map(body.get("match"), f"{here}.match"),
    )


def _parse_detector(raw: Any, where: str) -> DetectorSpec:
    obj = _mapping(raw, where)
    kind = _require(obj, "kind", where)
    if kind not in DETECTOR_KINDS:
        raise InvalidInput(f"must be one of {', '.join(DETECTOR_KINDS)}", field=f"{where}.kind")
    mode = obj.get("mode", "auto")
    if mode not in ("auto", "fixed"):
        raise InvalidInput("must be 'auto' or 'fixed'", field=f"{where}.mode")
    sensitivity = obj.get("sensitivity")
    if sensitivity is not None and sensitivity not in SENSITIVITIES:
        raise InvalidInput("must be low, medium or high", field=f"{where}.sensitivity")
    threshold = obj.get("threshold")
    if threshold is not None:
        threshold = _number(obj, "threshold", where, 0.0)
    if mode == "fixed" and threshold is None and kind != "burn_rate":
        raise InvalidInput("a fixed detector needs a threshold", field=f"{where}.threshold")
    windows_raw = obj.get("windows", [])
    if not isinstance(windows_raw, list) or not all(
        isinstance(w, int | float) and not isinstance(w, bool) and w > 0 for w in windows_raw
    ):
        raise InvalidInput("must be a list of positive seconds", field=f"{where}.windows")
    slo = _number(obj, "slo", where, 99.5)
    if not 0 < slo < 100:
        raise InvalidInput("must be a percentage between 0 and 100", field=f"{where}.slo")
    return DetectorSpec(
        kind=kind,
        mode=mode,
        sensitivity=sensitivity,
        threshold=threshold,
        min_requests_per_minute=_number(obj, "min_requests_per_minute", where, 10.0),
        for_seconds=_number(obj, "for_seconds", where, 0.0),
        windows=tuple(float(w) for w in windows_raw),
        percentile=_number(obj, "percentile", where, 95.0),
        slo=slo,
        burn_rate=_number(obj, "burn_rate", where, 14.4),
        long_window=_number(obj, "long_window", where, 3600.0, lo=1.0),
        short_window=_number(obj, "short_window", where, 300.0, lo=1.0),
        plain=bool(obj.get("plain", False)),
    )


def parse_service(raw: Any, where: str = "service") -> ServiceSpec:
    obj = _mapping(raw, where)
    name = _require(obj, "name", where)
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInput("letters, digits, '.', '_' or '-' (max 128)", field=f"{where}.name")
    statuses = obj.get("error_statuses", ["5xx"])
    if not isinstance(statuses, list) or not statuses:
        raise InvalidInput("must be a non-empty list", field=f"{where}.error_statuses")
    for i, s in enumerate(statuses):
        if not isinstance(s, str | int) or not _STATUS.match(str(s)):
            raise InvalidInput("like 500, 5xx or 50x", field=f"{where}.error_statuses[{i}]")
    sensitivity = obj.get("sensitivity")
    if sensitivity is not None and sensitivity not in SENSITIVITIES:
        raise InvalidInput("must be low, medium or high", field=f"{where}.sensitivity")
    detectors_raw = obj.get("detectors", [])
    if not isinstance(detectors_raw, list):
        raise InvalidInput("must be a list", field=f"{where}.detectors")
    return ServiceSpec(
        name=name,
        source=_parse_source(_require(obj, "source", where), f"{where}.source"),
        tags=_str_map(obj.get("tags"), f"{where}.tags"),
        error_statuses=tuple(str(s).lower() for s in statuses),
        sensitivity=sensitivity,
        detectors=tuple(
            _parse_detector(d, f"{where}.detectors[{i}]") for i, d in enumerate(detectors_raw)
        ),
    )


def parse_document(text: str) -> list[ServiceSpec]:
    """A monitor.yaml: `services: [...]`; errors carry the field and, where known, the line."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise InvalidInput(f"not valid YAML: {exc}", field="body", line=line) from exc
    if raw is None:
        return []
    doc = _mapping(raw, "body")
    services = doc.get("services", [])
    if not isinstance(services, list):
        raise InvalidInput("must be a list", field="services")
    specs = [parse_service(s, f"services[{i}]") for i, s in enumerate(services)]
    names = [s.name for s in specs]
    for i, n in enumerate(names):
        if n in names[:i]:
            raise InvalidInput(f"duplicate service {n!r}", field=f"services[{i}].name")
    return specs
