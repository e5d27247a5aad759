"""monitor.yaml refuses typos and keys without an effect, naming the key and its line: in
the loader, in `selfheal monitor validate` (no server) and in the API (400 with the field)."""

from __future__ import annotations

from pathlib import Path
from string import Template

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from selfheal.cli import app
from selfheal.core import SpecError
from selfheal.demo.scenario import seed_file
from selfheal.monitor import load_services
from selfheal.monitor.declarations import parse_service
from selfheal.monitor.detectors import SENSITIVITY, BurnRateDetector
from selfheal.monitor.slis import SliSeries
from selfheal.monitor.sources import Sample
from tests.unit.monitor.conftest import ADMIN, System

HEAD = """services:
  - name: front-end
    source:
      scrape:
        url: http://app.test/metrics
"""


def detector(*lines: str) -> str:
    return HEAD + "    detectors:\n" + "".join(f"      {line}\n" for line in lines)


def refused(text: str) -> SpecError:
    with pytest.raises(SpecError) as caught:
        load_services(text)
    return caught.value


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        (
            detector("- kind: failure_rate", "  treshold: 5"),
            8,
            "services[0].detectors[0].treshold",
            "unknown field (expected one of: for_seconds, kind, min_requests_per_minute, "
            "mode, plain, sensitivity, threshold, windows)",
        ),
        (
            HEAD + "        intervall: 2\n",
            6,
            "services[0].source.scrape.intervall",
            "unknown field (expected one of: interval, latency, match, requests, "
            "status_label, url)",
        ),
        (
            detector("- kind: response_time", "  for_secs: 10"),
            8,
            "services[0].detectors[0].for_secs",
            "unknown field (expected one of: for_seconds, kind, min_requests_per_minute, "
            "mode, percentile, sensitivity, threshold, windows)",
        ),
        (
            "version: 2\n" + HEAD,
            1,
            "version",
            "unknown field (expected one of: services)",
        ),
        (
            detector("- kind: burn_rate", "  for_secs: 10"),
            8,
            "services[0].detectors[0].for_secs",
            "unknown field (expected one of: burn_rate, for_seconds, kind, long_window, "
            "min_requests_per_minute, short_window, slo)",
        ),
        (
            detector("- kind: response_time", "  percentile: 250"),
            8,
            "services[0].detectors[0].percentile",
            "must be less than 100",
        ),
        (
            detector("- kind: failure_rate", "  threshold: 140"),
            8,
            "services[0].detectors[0].threshold",
            "must be less than or equal to 100",
        ),
        (
            detector("- kind: failure_rate", "  percentile: 99"),
            8,
            "services[0].detectors[0].percentile",
            "unknown field (expected one of: for_seconds, kind, min_requests_per_minute, "
            "mode, plain, sensitivity, threshold, windows)",
        ),
        (
            detector("- kind: failure_rate", "  mode: fixed"),
            7,
            "services[0].detectors[0]",
            "a fixed detector needs a threshold",
        ),
        (
            detector("- kind: latency"),
            7,
            "services[0].detectors[0].kind",
            "must be one of 'failure_rate', 'response_time', 'burn_rate'",
        ),
        (
            HEAD.replace("http://app.test/metrics", "ftp://app.test/metrics"),
            5,
            "services[0].source.scrape.url",
            "must be an http(s) URL",
        ),
        (
            HEAD + HEAD.removeprefix("services:\n"),
            6,
            "services[1].name",
            "duplicate service 'front-end'",
        ),
    ],
)
def test_monitor_yaml_errors_name_key_and_line(
    text: str, line: int, field: str, message: str
) -> None:
    error = refused(text)
    assert (error.line, error.field, error.message) == (line, field, message)


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("mode", "fixed", "a burn-rate rule has no modes"),
        ("threshold", "5", "set the bar with slo and burn_rate"),
        ("windows", "[60, 10]", "set long_window and short_window"),
        ("sensitivity", "high", "a burn-rate rule is not a statistical test"),
    ],
)
def test_burn_rate_refuses_keys_it_cannot_honour(key: str, value: str, reason: str) -> None:
    error = refused(detector("- kind: burn_rate", "  burn_rate: 10", f"  {key}: {value}"))
    assert (error.line, error.field) == (9, f"services[0].detectors[0].{key}")
    assert reason in error.message


def test_burn_rate_windows_must_be_ordered() -> None:
    error = refused(detector("- kind: burn_rate", "  long_window: 60", "  short_window: 60"))
    assert error.message == "short_window must be shorter than long_window"


def burning(for_seconds: float) -> list[bool]:
    """20 % errors from t = 61 against a 10 % bar (SLO 99 %, 10x), one evaluation a second."""
    spec = parse_service(
        {
            "name": "s",
            "source": {"scrape": {"url": "http://app.test/metrics"}},
            "detectors": [
                {
                    "kind": "burn_rate",
                    "slo": 99,
                    "burn_rate": 10,
                    "long_window": 60,
                    "short_window": 10,
                    "for_seconds": for_seconds,
                }
            ],
        }
    )
    det = BurnRateDetector(spec.detectors[0], SENSITIVITY["medium"])
    series, requests, errors, out = SliSeries(1000), 0.0, 0.0, []
    for t in range(1, 161):
        requests += 20
        errors += 4 if t > 60 else 0
        series.add(Sample(float(t), requests, errors))
        out.append(det.evaluate(series, float(t)).breached)
    return out


def test_burn_rate_honours_for_seconds() -> None:
    at_once, held = burning(0), burning(20)
    first = at_once.index(True)
    assert all(at_once[first:])
    # the breach must last 20 s before it counts: 20 evaluations later, then it stays
    assert held.index(True) == first + 20 and all(held[first + 20 :])


def test_every_accepted_detector_key_reaches_the_spec() -> None:
    [(spec, raw)] = load_services(
        detector(
            "- kind: failure_rate",
            "  mode: fixed",
            "  threshold: 7",
            "  sensitivity: low",
            "  min_requests_per_minute: 3",
            "  for_seconds: 4",
            "  windows: [5, 10]",
            "  plain: true",
            "- kind: response_time",
            "  percentile: 99",
            "- kind: burn_rate",
            "  slo: 99.9",
            "  burn_rate: 6",
            "  long_window: 600",
            "  short_window: 60",
            "  for_seconds: 30",
        )
    )
    failure, latency, burn = spec.detectors
    assert (failure.mode, failure.threshold, failure.sensitivity, failure.plain) == (
        "fixed",
        7,
        "low",
        True,
    )
    assert (failure.min_requests_per_minute, failure.for_seconds, failure.windows) == (
        3,
        4,
        (5.0, 10.0),
    )
    assert (latency.percentile, latency.for_seconds) == (99, 10)  # response time's default
    assert (burn.slo, burn.burn_rate, burn.long_window, burn.short_window) == (99.9, 6, 600, 60)
    assert burn.for_seconds == 30
    assert raw["detectors"][2]["for_seconds"] == 30  # the declaration is stored as written


def test_the_seed_monitor_yaml_validates() -> None:
    [(spec, _)] = load_services(
        Template(seed_file("monitor.yaml")).substitute(website="http://127.0.0.1:8080")
    )
    assert spec.name == "front-end" and spec.source.url == "http://127.0.0.1:8080/metrics"


def test_monitor_validate_checks_files_without_a_server(tmp_path: Path) -> None:
    good, bad = tmp_path / "monitor.yaml", tmp_path / "typo.yaml"
    good.write_text(HEAD)
    bad.write_text(detector("- kind: failure_rate", "  treshold: 5"))
    runner = CliRunner()
    ok = runner.invoke(app, ["monitor", "validate", str(good)])
    assert ok.exit_code == 0 and f"{good}: ok (front-end)" in ok.output
    failed = runner.invoke(app, ["monitor", "validate", str(good), str(bad)])
    assert failed.exit_code == 1
    assert f"{bad}:8: field 'services[0].detectors[0].treshold': unknown field" in failed.output


async def test_monitor_api_answers_400_naming_the_field(system: System) -> None:
    r = await system.http.put(
        "/api/v1/monitor/services",
        content=detector("- kind: burn_rate", "  for_secs: 5"),
        headers=ADMIN,
    )
    assert r.status_code == 400, r.text
    body = r.json()
    assert (body["field"], body["line"]) == ("services[0].detectors[0].for_secs", 8)
    # JSON bodies and single service objects go through the same models
    r = await system.http.post(
        "/api/v1/monitor/services",
        json={"name": "x", "source": {"scrape": {"url": "http://a.test/m"}}, "tags": {"a": []}},
        headers=ADMIN,
    )
    assert r.status_code == 400 and r.json()["field"] == "tags.a", r.text
    assert not system.container.monitor.service.watchers  # nothing half-applied


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(["failure_rate", "burn_rate", "response_time", "http://a/", "5xx", "fixed"]),
)
_KEYS = st.sampled_from(
    [
        "services", "name", "source", "scrape", "prometheus", "url", "interval", "detectors",
        "kind", "mode", "threshold", "windows", "percentile", "for_seconds", "burn_rate",
        "slo", "tags", "probe", "bypass", "header", "query", "expect_status", "origin_slice",
        "label", "value", "error_statuses", "match",
    ]
)  # fmt: skip
_TREES = st.recursive(
    _SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(_KEYS, children, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_KEYS, _TREES, max_size=6))
def test_random_structures_raise_only_spec_errors(body: dict[str, object]) -> None:
    """Whatever the structure, the answer is a spec or a `SpecError` with a field or a line."""
    try:
        load_services(yaml.safe_dump(body))
    except SpecError as exc:
        assert exc.field or exc.line
