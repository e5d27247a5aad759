"""Detectors: each looks at a service's SLI series at `now` and says breached or not.

- `FailureRateDetector` — fixed threshold or automatic baseline, tested with an exact
  binomial test on several sliding windows at once (short windows catch large faults in a
  second, long ones catch small faults), so random background errors do not cry wolf.
- `ResponseTimeDetector` — a latency percentile above a fixed or learned bar.
- `BurnRateDetector` — the SRE multi-window error-budget burn-rate rule.
The maths and the default settings per sensitivity are explained in docs/monitor.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from selfheal.monitor.services import DetectorSpec, ServiceSpec
from selfheal.monitor.significance import exceeds, wilson_upper
from selfheal.monitor.slis import SliSeries


@dataclass(frozen=True, slots=True)
class Sensitivity:
    alpha: float
    """Per-evaluation false-alarm probability allowed by the binomial test."""
    min_errors: int
    abs_increase: float
    """Auto baseline: absolute failure-rate increase (fraction) needed."""
    rel_increase: float
    """Auto baseline: relative increase (factor) needed."""
    latency_rel: float
    latency_abs_ms: float


SENSITIVITY = {
    "high": Sensitivity(1e-4, 2, 0.0025, 1.25, 1.3, 50.0),
    "medium": Sensitivity(1e-6, 3, 0.005, 1.5, 1.5, 100.0),
    "low": Sensitivity(1e-8, 5, 0.02, 2.0, 2.0, 250.0),
}
DEFAULT_WINDOWS = (1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0)
DEFAULT_FIXED_THRESHOLD = 0.05
BASELINE_WINDOW = 3600.0
BASELINE_GAP = 120.0
MIN_BASELINE_REQUESTS = 2000.0


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: str
    title: str
    severity: str
    breached: bool
    evidence: dict[str, Any] = field(default_factory=dict)


class Detector(Protocol):
    kind: str
    title: str

    def evaluate(self, series: SliSeries, now: float, *, frozen: bool = False) -> Verdict: ...


class _Persistence:
    """`for_seconds`: a breach counts only once it has lasted that long."""

    def __init__(self, for_seconds: float) -> None:
        self.for_seconds = for_seconds
        self.since: float | None = None

    def hold(self, breached: bool, now: float) -> bool:
        if not breached:
            self.since = None
            return False
        if self.since is None:
            self.since = now
        return now - self.since >= self.for_seconds


class FailureRateDetector:
    kind = "failure_rate"
    title = "Failure rate increase"

    def __init__(self, spec: DetectorSpec, sensitivity: Sensitivity) -> None:
        self.spec = spec
        self.sens = sensitivity
        self.windows = spec.windows or DEFAULT_WINDOWS
        self.fixed = (
            spec.threshold / 100.0 if spec.threshold is not None else DEFAULT_FIXED_THRESHOLD
        )
        self.baseline: float | None = None
        self._persist = _Persistence(spec.for_seconds)

    def threshold(self, series: SliSeries, now: float, *, frozen: bool) -> float:
        if self.spec.mode == "fixed":
            return self.fixed
        if not frozen:
            learned = series.between(now - BASELINE_WINDOW, now - BASELINE_GAP)
            if learned is not None and learned.requests >= MIN_BASELINE_REQUESTS:
                self.baseline = wilson_upper(learned.errors, learned.requests)
        if self.baseline is None:
            return self.fixed
        b = self.baseline
        return min(0.99, max(b + self.sens.abs_increase, b * self.sens.rel_increase))

    def evaluate(self, series: SliSeries, now: float, *, frozen: bool = False) -> Verdict:
        bar = self.threshold(series, now, frozen=frozen)
        hit: dict[str, Any] | None = None
        worst: dict[str, Any] = {}
        for seconds in self.windows:
            w = series.last(seconds, now)
            if w is None or w.requests < max(1.0, self.spec.min_requests_per_minute * seconds / 60):
                continue
            rate = w.failure_rate or 0.0
            if self.spec.plain:
                breached, p_value = rate > bar, 1.0 if rate <= bar else 0.0
            else:
                breached, p_value = exceeds(w.errors, w.requests, bar, self.sens.alpha)
                breached = breached and w.errors >= self.sens.min_errors
            evidence = {
                "failure_rate_pct": round(rate * 100, 3),
                "threshold_pct": round(bar * 100, 3),
                "baseline_pct": None if self.baseline is None else round(self.baseline * 100, 3),
                "window_s": round(w.seconds, 3),
                "requests": w.requests,
                "errors": w.errors,
                "p_value": p_value,
            }
            if not worst or p_value < worst["p_value"]:
                worst = evidence
            if breached and hit is None:
                hit = evidence
        ok = self._persist.hold(hit is not None, now)
        return Verdict(self.kind, self.title, "ERROR", ok, hit or worst)


class ResponseTimeDetector:
    kind = "response_time"
    title = "Response time degradation"

    def __init__(self, spec: DetectorSpec, sensitivity: Sensitivity) -> None:
        self.spec = spec
        self.sens = sensitivity
        self.windows = spec.windows or (30.0,)
        self.q = spec.percentile / 100.0
        self.baseline_ms: float | None = None
        self._persist = _Persistence(spec.for_seconds)

    def threshold_ms(self, series: SliSeries, now: float, *, frozen: bool) -> float | None:
        if self.spec.mode == "fixed":
            return self.spec.threshold
        if not frozen:
            learned = series.between(now - BASELINE_WINDOW, now - BASELINE_GAP)
            if learned is not None and learned.requests >= MIN_BASELINE_REQUESTS:
                value = learned.quantile(self.q)
                if value is not None:
                    self.baseline_ms = value * 1000
        if self.baseline_ms is None:
            return self.spec.threshold
        b = self.baseline_ms
        return max(b * self.sens.latency_rel, b + self.sens.latency_abs_ms)

    def evaluate(self, series: SliSeries, now: float, *, frozen: bool = False) -> Verdict:
        bar = self.threshold_ms(series, now, frozen=frozen)
        hit: dict[str, Any] | None = None
        for seconds in self.windows:
            w = series.last(seconds, now)
            if (
                w is None
                or bar is None
                or w.requests < max(20.0, self.spec.min_requests_per_minute * seconds / 60)
            ):
                continue
            value = w.quantile(self.q)
            if value is not None and value * 1000 > bar:
                hit = {
                    f"response_time_p{self.spec.percentile:g}_ms": round(value * 1000, 3),
                    "threshold_ms": round(bar, 3),
                    "baseline_ms": None if self.baseline_ms is None else round(self.baseline_ms, 3),
                    "window_s": round(w.seconds, 3),
                    "requests": w.requests,
                }
                break
        ok = self._persist.hold(hit is not None, now)
        return Verdict(self.kind, self.title, "PERFORMANCE", ok, hit or {})


class BurnRateDetector:
    """Alert when both the long and the short window burn the error budget `burn_rate`
    times faster than allowed (Google SRE workbook, 1h/5m at 14.4x by default)."""

    kind = "burn_rate"
    title = "Error budget burn rate"

    def __init__(self, spec: DetectorSpec, sensitivity: Sensitivity) -> None:
        self.spec = spec
        self.budget = 1.0 - spec.slo / 100.0
        self._persist = _Persistence(spec.for_seconds)

    def evaluate(self, series: SliSeries, now: float, *, frozen: bool = False) -> Verdict:
        bar = self.spec.burn_rate * self.budget
        burns: list[float] = []
        for seconds in (self.spec.long_window, self.spec.short_window):
            w = series.last(seconds, now)
            if w is None or w.requests < max(1.0, self.spec.min_requests_per_minute * seconds / 60):
                self._persist.hold(False, now)
                return Verdict(self.kind, self.title, "ERROR", False, {})
            burns.append((w.failure_rate or 0.0) / self.budget)
        breached = self._persist.hold(all(b * self.budget >= bar for b in burns), now)
        evidence = {
            "burn_rate_long": round(burns[0], 3),
            "burn_rate_short": round(burns[1], 3),
            "burn_rate_threshold": self.spec.burn_rate,
            "slo_pct": self.spec.slo,
        }
        return Verdict(self.kind, self.title, "ERROR", breached, evidence)


def build_detectors(spec: ServiceSpec, default_sensitivity: str = "medium") -> list[Detector]:
    """The service's detectors, or the default set for a web service (failure rate on an
    automatic baseline, and response time when a latency histogram is configured)."""
    specs = spec.detectors or (
        DetectorSpec(kind="failure_rate"),
        *((DetectorSpec(kind="response_time", for_seconds=10.0),) if spec.source.latency else ()),
    )
    out: list[Detector] = []
    for d in specs:
        sens = SENSITIVITY[d.sensitivity or spec.sensitivity or default_sensitivity]
        if d.kind == "failure_rate":
            out.append(FailureRateDetector(d, sens))
        elif d.kind == "response_time":
            out.append(ResponseTimeDetector(d, sens))
        else:
            out.append(BurnRateDetector(d, sens))
    return out
