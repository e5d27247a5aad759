"""Origin verification: `probe:` and `origin_slice:` in monitor.yaml, one probe request with
the kill-switch bypass (an in-process ASGI app, a closed port), and the origin's failure rate
from the scraped samples — on the leader and on a replica that reads them from SQLite."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from selfheal.bootstrap import build
from selfheal.bus import MemoryBus
from selfheal.core import ManualClock, SpecError
from selfheal.monitor import ProbeOutcome, load_services
from selfheal.monitor.errors import ServiceNotFound
from selfheal.monitor.probes import HttpxProber, probe_once
from selfheal.monitor.services import ProbeSpec
from selfheal.monitor.slis import SliSeries
from selfheal.monitor.sources import MemoryFetcher, Sample
from selfheal.settings import Settings
from tests.unit.monitor.conftest import ADMIN, URL, System

SERVICE = f"""services:
  - name: front-end
    tags: {{keptn_project: website, keptn_stage: production, keptn_service: front-end}}
    source:
      scrape: {{url: "{URL}", interval: 1, status_label: status}}
"""
PROBED = (
    SERVICE
    + """    probe:
      url: http://origin.test/health
      interval_seconds: 2
      consecutive: 2
      body_contains: healthy
    origin_slice: {label: served_by, value: app}
"""
)
SCOPE = ("website", "production", "front-end")


class Origin:
    """The app behind the kill switch: records what each probe carried."""

    def __init__(self) -> None:
        self.status = 200
        self.body = "healthy"
        self.hang = asyncio.Event()
        self.hanging = False
        self.seen: list[Request] = []

    async def health(self, request: Request) -> Response:
        self.seen.append(request)
        if self.hanging:
            await self.hang.wait()
        return PlainTextResponse(self.body, status_code=self.status)

    def prober(self) -> HttpxProber:
        app = Starlette(routes=[Route("/health", self.health, methods=["GET", "HEAD", "POST"])])
        return HttpxProber(httpx.AsyncClient(transport=httpx.ASGITransport(app=app)))


def spec(**changes: object) -> ProbeSpec:
    base: dict[str, object] = {"url": "http://origin.test/health"}
    return ProbeSpec(**{**base, **changes})  # type: ignore[arg-type]


async def test_probe_config_defaults_and_every_key() -> None:
    [(plain, _)] = load_services(SERVICE + "    probe: {url: 'http://origin.test/'}\n")
    assert plain.probe == ProbeSpec(url="http://origin.test/")
    assert (plain.probe.method, plain.probe.interval_seconds, plain.probe.timeout_seconds) == (
        "GET",
        5.0,
        2.0,
    )
    assert (plain.probe.expect_status, plain.probe.consecutive) == ((200, 399), 3)
    assert (plain.probe.bypass_header, plain.probe.bypass_value) == ("X-Selfheal-Probe", "true")
    assert plain.origin_slice is None
    [(full, _)] = load_services(
        SERVICE
        + """    probe:
      url: http://origin.test/x
      method: HEAD
      interval_seconds: 2
      timeout_seconds: 1
      expect_status: [200, 299]
      body_contains: ok
      consecutive: 4
      bypass: {query: probe, value: 1}
    origin_slice: {label: served_by, value: app}
"""
    )
    assert full.probe == ProbeSpec(
        url="http://origin.test/x",
        method="HEAD",
        interval_seconds=2,
        timeout_seconds=1,
        expect_status=(200, 299),
        body_contains="ok",
        consecutive=4,
        bypass_header=None,
        bypass_query="probe",
        bypass_value="1",
    )
    assert (full.origin_slice.label, full.origin_slice.value) == ("served_by", "app")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("block", "line", "field", "message"),
    [
        ("    probe: {method: GET}\n", 6, "services[0].probe.url", "required"),
        (
            "    probe: {url: 'http://o/', intervall: 2}\n",
            6,
            "services[0].probe.intervall",
            "unknown field (expected one of: body_contains, bypass, consecutive, "
            "expect_status, interval_seconds, method, timeout_seconds, url)",
        ),
        (
            "    probe: {url: 'http://o/', expect_status: [399, 200]}\n",
            6,
            "services[0].probe.expect_status",
            "an inclusive range [low, high] with low <= high",
        ),
        (
            "    probe: {url: 'http://o/', consecutive: 0}\n",
            6,
            "services[0].probe.consecutive",
            "must be greater than or equal to 1",
        ),
        (
            "    probe:\n      url: http://o/\n      bypass: {header: X-P, query: p}\n",
            8,
            "services[0].probe.bypass",
            "give exactly one of 'header' or 'query'",
        ),
        (
            "    origin_slice: {label: served-by, value: app}\n",
            6,
            "services[0].origin_slice.label",
            "must be a label name",
        ),
    ],
)
def test_probe_and_slice_errors_name_key_and_line(
    block: str, line: int, field: str, message: str
) -> None:
    with pytest.raises(SpecError) as caught:
        load_services(SERVICE + block)
    assert (caught.value.line, caught.value.field, caught.value.message) == (line, field, message)


def test_origin_slice_needs_a_scraped_counter() -> None:
    text = """services:
  - name: x
    source:
      prometheus: {url: 'http://p/', requests: a, errors: b}
    origin_slice: {label: served_by, value: app}
"""
    with pytest.raises(SpecError) as caught:
        load_services(text)
    assert caught.value.field == "services[0]" and "scrape source" in caught.value.message


async def test_probe_sends_one_request_with_the_bypass_header(clock: ManualClock) -> None:
    origin = Origin()
    prober = origin.prober()
    outcome = await probe_once(spec(body_contains="healthy"), prober, clock)
    assert outcome.ok and (outcome.status, outcome.error, outcome.at) == (200, None, clock.now())
    assert outcome.seconds >= 0
    [request] = origin.seen
    assert request.headers["x-selfheal-probe"] == "true"
    assert request.headers["user-agent"] == "selfheal-probe"
    # a query bypass instead, and another method: still exactly one request per call
    await probe_once(
        spec(method="POST", bypass_header=None, bypass_query="probe", bypass_value="yes"),
        prober,
        clock,
    )
    assert len(origin.seen) == 2
    assert origin.seen[1].method == "POST" and origin.seen[1].query_params["probe"] == "yes"
    assert "x-selfheal-probe" not in origin.seen[1].headers


async def test_probe_success_rule(clock: ManualClock) -> None:
    origin = Origin()
    prober = origin.prober()
    origin.status = 503
    bad = await probe_once(spec(), prober, clock)
    assert (bad.ok, bad.status, bad.error) == (False, 503, "HTTP 503, expected 200-399")
    origin.status = 302
    assert (await probe_once(spec(), prober, clock)).ok  # in the default range
    narrow = await probe_once(spec(expect_status=(200, 299)), prober, clock)
    assert (narrow.ok, narrow.status) == (False, 302)
    origin.status, origin.body = 200, "maintenance page"
    served = await probe_once(spec(body_contains="healthy"), prober, clock)
    assert (served.ok, served.status) == (False, 200)
    assert served.error == "HTTP 200 without 'healthy' in the body"


async def test_probe_timeout_and_refused_connection(clock: ManualClock) -> None:
    origin = Origin()
    origin.hanging = True
    slow = await probe_once(spec(timeout_seconds=0.2), origin.prober(), clock)
    assert (slow.ok, slow.status, slow.error) == (False, None, "no answer within 0.2 s")
    origin.hang.set()
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    real = HttpxProber()
    try:
        refused = await probe_once(spec(url=f"http://127.0.0.1:{port}/"), real, clock)
    finally:
        await real.aclose()
    assert (refused.ok, refused.status) == (False, None)
    assert refused.error == "no answer (ConnectError)"


def test_origin_counters_are_reset_corrected() -> None:
    series = SliSeries(100)
    for t, origin in ((1.0, (10.0, 1.0)), (2.0, (20.0, 2.0)), (3.0, (5.0, 1.0))):
        series.add(Sample(t, origin[0] * 2, origin[1], origin=origin))  # t = 3: a restart
    window = series.between(1.0, 3.0)
    assert window is not None and window.origin == (15.0, 2.0)
    series.add(Sample(4.0, 50.0, 3.0))  # a sample without a slice: no origin window
    assert series.between(1.0, 4.0).origin is None  # type: ignore[union-attr]


def exposition(app_ok: int, app_failed: int, cdn_ok: int) -> str:
    return (
        f'http_requests_total{{status="200",served_by="app"}} {app_ok}\n'
        f'http_requests_total{{status="500",served_by="app"}} {app_failed}\n'
        f'http_requests_total{{status="200",served_by="cdn"}} {cdn_ok}\n'
    )


async def test_monitor_service_probes_and_slices_the_origin(
    system: System, settings: Settings, clock: ManualClock
) -> None:
    monitor = system.container.monitor
    svc = monitor.service
    r = await system.http.put("/api/v1/monitor/services", content=SERVICE, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert not svc.probe_configured(*SCOPE)
    assert await svc.origin_failure_rate(*SCOPE, since=0) is None  # no slice configured
    with pytest.raises(ServiceNotFound):
        await svc.probe_origin(*SCOPE)
    r = await system.http.put("/api/v1/monitor/services", content=PROBED, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert svc.probe_configured(*SCOPE) and not svc.probe_configured("website", "dev", "front-end")
    settings_ = svc.probe_settings(*SCOPE)
    assert settings_ is not None and (settings_.interval_seconds, settings_.consecutive) == (2, 2)

    origin = Origin()
    monitor.use(prober=origin.prober())
    outcome = await svc.probe_origin(*SCOPE)
    assert isinstance(outcome, ProbeOutcome) and outcome.ok
    assert len(origin.seen) == 1 and origin.seen[0].headers["x-selfheal-probe"] == "true"

    fetcher = MemoryFetcher()
    monitor.use(fetcher=fetcher)
    app_ok = app_failed = cdn_ok = 0
    for second in range(20):
        await clock.advance(1)
        if second == 10:
            since = clock.now()
        app_ok += 8
        app_failed += 2 if second >= 10 else 0  # the origin fails 2 of 10 after t = 10
        cdn_ok += 90  # the fallback serves most users and never fails
        fetcher.bodies[URL] = (200, exposition(app_ok, app_failed, cdn_ok))
        await svc.tick()
    # 9 scrapes after `since`: 9 x 10 app requests, 9 x 2 failures; the CDN's are not counted
    assert await svc.origin_failure_rate(*SCOPE, since=since) == (90, 18)
    assert await svc.origin_failure_rate(*SCOPE, since=clock.now() + 1) is None
    assert len(origin.seen) == 1  # scraping never probes

    # another replica on the same database reads the slice from the stored samples
    await monitor.recorder.flush()
    other = await build(settings, bus=MemoryBus(), clock=clock)
    await other.start()
    try:
        assert "front-end" not in other.monitor.service.led
        assert await other.monitor.service.origin_failure_rate(*SCOPE, since=since) == (90, 18)
    finally:
        await other.stop()
