from __future__ import annotations

import math

import pytest

from selfheal.monitor.declarations import parse_service
from selfheal.monitor.detectors import SENSITIVITY, FailureRateDetector
from selfheal.monitor.errors import ExpositionError, NoData
from selfheal.monitor.exposition import parse
from selfheal.monitor.services import DetectorSpec
from selfheal.monitor.significance import binomial_tail
from selfheal.monitor.slis import SliSeries, histogram_quantile
from selfheal.monitor.sources import Sample, sample_from_exposition

SPEC = parse_service(
    {
        "name": "web",
        "source": {
            "scrape": {
                "url": "http://127.0.0.1:1/metrics",
                "latency": "http_request_duration_seconds",
            }
        },
    }
)


def test_monitor_exposition_parses_labels_and_rejects_html() -> None:
    samples = parse(
        '# HELP x\nhttp_requests_total{code="200",path="/a\\"b"} 10\nhttp_requests_total{code="500"} 2 1700000000\n'
    )
    assert [(s.labels.get("code"), s.value) for s in samples] == [("200", 10.0), ("500", 2.0)]
    assert samples[0].labels["path"] == '/a"b'
    with pytest.raises(ExpositionError):
        parse("<html><body>hello</body></html>")


def test_monitor_sample_counts_errors_by_status_class() -> None:
    text = (
        'http_requests_total{code="200"} 90\nhttp_requests_total{code="503"} 10\n'
        'http_request_duration_seconds_bucket{le="0.1"} 50\n'
        'http_request_duration_seconds_bucket{le="0.5"} 100\n'
        'http_request_duration_seconds_bucket{le="+Inf"} 100\n'
    )
    s = sample_from_exposition(text, SPEC, 1.0)
    assert (s.requests, s.errors) == (100.0, 10.0)
    assert s.buckets[-1] == (math.inf, 100.0)
    with pytest.raises(NoData):
        sample_from_exposition("other_metric 1\n", SPEC, 1.0)


def test_monitor_series_handles_counter_reset_and_gaps() -> None:
    series = SliSeries(100)
    series.add(Sample(0.0, 100, 1))
    series.add(Sample(1.0, 120, 2))
    series.add(Sample(2.0, 10, 5))  # process restarted: 10 new requests, 5 errors
    series.add(Sample(5.0, 70, 5))  # two scrapes missed
    w = series.between(0.0, 5.0)
    assert w is not None
    assert (w.requests, w.errors) == (90.0, 6.0)
    assert series.resets == 1
    last = series.last(3.0, 5.0)
    assert last is not None and last.throughput == pytest.approx(20.0)


def test_monitor_histogram_quantile_interpolates() -> None:
    buckets = ((0.1, 50.0), (0.5, 100.0), (math.inf, 100.0))
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.75, buckets) == pytest.approx(0.3)


def test_monitor_binomial_tail_matches_exact_sum() -> None:
    exact = sum(math.comb(100, i) * 0.02**i * 0.98 ** (100 - i) for i in range(11, 101))
    assert binomial_tail(11, 100, 0.02) == pytest.approx(exact, rel=1e-9)
    assert binomial_tail(0, 10, 0.5) == 1.0


def _feed(
    series: SliSeries, det: FailureRateDetector, t0: int, seconds: int, errors_per_s: list[int]
) -> float | None:
    last = series._points[-1] if len(series) else None
    req = last.requests if last else 0.0
    err = last.errors if last else 0.0
    for i in range(seconds):
        req += 20
        err += errors_per_s[i % len(errors_per_s)]
        t = float(t0 + i + 1)
        series.add(Sample(t, req, err))
        if det.evaluate(series, t).breached:
            return t
    return None


def test_monitor_failure_rate_ignores_background_and_catches_fault() -> None:
    series = SliSeries(5000)
    det = FailureRateDetector(DetectorSpec(kind="failure_rate"), SENSITIVITY["medium"])
    # 1% background: one error every 5 s at 20 req/s, for 20 minutes
    assert _feed(series, det, 0, 1200, [1, 0, 0, 0, 0]) is None
    assert det.baseline is not None and det.baseline < 0.02
    fired = _feed(series, det, 1200, 30, [10])  # 50% errors
    assert fired is not None and fired - 1200 <= 2
