"""Detectors opening problems through the whole system, and the notifications they send."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from selfheal.monitor import WebhookSettings
from selfheal.monitor.detectors import SENSITIVITY, BurnRateDetector
from selfheal.monitor.notifications import DeliveryError, render_body
from selfheal.monitor.problems import new_problem
from selfheal.monitor.services import DetectorSpec
from selfheal.monitor.slis import SliSeries
from selfheal.monitor.sources import Sample
from tests.unit.monitor.conftest import ADMIN, HOOK, URL, System

MakeSystem = Callable[..., Awaitable[tuple[System, Callable[[], Awaitable[None]]]]]


def service(*detectors: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "front-end",
        "tags": {"keptn_project": "website", "keptn_service": "front-end"},
        "source": {"scrape": {"url": URL, "latency": "http_request_duration_seconds"}},
        "detectors": list(detectors),
    }


async def test_monitor_response_time_opens_a_performance_problem(system: System) -> None:
    r = await system.http.post(
        "/api/v1/monitor/services",
        json=service(
            {"kind": "response_time", "mode": "fixed", "threshold": 200, "for_seconds": 5}
        ),
        headers=ADMIN,
    )
    assert r.status_code == 200, r.text
    await system.run(40, 20, 0, latency=0.04)
    assert (await system.container.monitor.service.list_problems())[1] == 0
    await system.run(30, 20, 0, latency=0.8)  # p95 in the 0.5-1 s bucket, no errors
    problems, total = await system.container.monitor.service.list_problems()
    assert total == 1
    p = problems[0]
    assert (p.title, p.severity, p.status) == ("Response time degradation", "PERFORMANCE", "OPEN")
    evidence = p.evidence[0]
    assert evidence["detector"] == "response_time" and evidence["response_time_p95_ms"] > 200
    got = (await system.http.get(f"/api/v2/problems/{p.id}", headers=ADMIN)).json()
    assert got["severityLevel"] == "PERFORMANCE"
    assert got["evidenceDetails"]["details"][0]["unit"] == "MilliSecond"
    # recovers: resolves after the hold time (10 s here)
    await system.run(60, 20, 0, latency=0.04)
    assert (await system.container.monitor.service.get_problem(p.id)).status == "RESOLVED"


async def test_monitor_burn_rate_opens_when_both_windows_burn(system: System) -> None:
    burn = {
        "kind": "burn_rate",
        "slo": 99.0,
        "burn_rate": 10,  # the bar is 10 x 1 % = 10 % errors in both windows
        "long_window": 60,
        "short_window": 10,
    }
    await system.http.post("/api/v1/monitor/services", json=service(burn), headers=ADMIN)
    await system.run(70, 20, 0)
    await system.run(15, 20, 4)  # 20 %: the short window burns, the long one not yet
    assert (await system.container.monitor.service.list_problems())[1] == 0
    await system.run(30, 20, 4)
    problems, total = await system.container.monitor.service.list_problems()
    assert total == 1 and problems[0].title == "Error budget burn rate"
    evidence = problems[0].evidence[0]
    assert evidence["burn_rate_short"] >= 10 and evidence["burn_rate_long"] >= 10


def test_monitor_burn_rate_needs_the_long_window_too() -> None:
    spec = DetectorSpec(kind="burn_rate", slo=99.0, burn_rate=10, long_window=60, short_window=10)
    det = BurnRateDetector(spec, SENSITIVITY["medium"])
    series = SliSeries(1000)
    requests = errors = 0.0
    verdicts = []
    for t in range(1, 121):
        requests += 20
        errors += 4 if t > 60 else 0  # 20 % errors from t = 61
        series.add(Sample(float(t), requests, errors))
        verdicts.append(det.evaluate(series, float(t)).breached)
    first = verdicts.index(True) + 1
    # long window (60 s) reaches 10 % after 30 s of 20 % errors; the short one at once
    assert 85 <= first <= 95 and not any(verdicts[:first - 1])  # fmt: skip
    assert det.evaluate(series, 200.0).breached is False  # no data in the windows


async def test_monitor_update_when_another_detector_joins(system: System) -> None:
    await system.http.post(
        "/api/v1/monitor/services",
        json=service(
            {"kind": "failure_rate", "mode": "fixed", "threshold": 5},
            {"kind": "response_time", "mode": "fixed", "threshold": 200, "for_seconds": 5},
        ),
        headers=ADMIN,
    )
    await system.run(40, 20, 0)
    await system.run(3, 20, 10)  # failure rate opens the problem
    await system.run(20, 20, 10, latency=0.8)  # then the response time breaches too
    problems, total = await system.container.monitor.service.list_problems()
    assert total == 1
    p = problems[0]
    assert [e["detector"] for e in p.evidence] == ["failure_rate", "response_time"]
    await system.delivered()
    deliveries = await system.container.monitor.service.deliveries(p.id)
    assert sorted(d.transition for d in deliveries) == ["OPEN", "UPDATE"]
    assert all(d.status == "delivered" for d in deliveries)
    bodies = [body for url, body in system.sender.posts if url == HOOK]
    update = next(b for b in bodies if len(b["data"]["ProblemDetails"]["evidence"]) == 2)
    assert update["data"]["State"] == "OPEN"  # an update is a still-open problem, as Dynatrace
    # the bus carries transitions only: one OPEN, no UPDATE
    assert [e.data["State"] for e in system.events] == ["OPEN"]


async def test_monitor_custom_jinja_webhook_template(
    make_system: MakeSystem, tmp_path: Path
) -> None:
    template = tmp_path / "hook.json.j2"
    template.write_text(
        '{"text": "{{ state }}: {{ problem.title }} on {{ data.ImpactedEntity }}",'
        ' "pid": {{ data.PID | tojson }}, "tags": {{ problem.tags | tojson }},'
        ' "url": {{ data.ProblemURL | tojson }}}'
    )
    hooks = [WebhookSettings(url="http://chat.test/hook", template=str(template))]
    system, stop = await make_system(webhooks=hooks)
    try:
        await system.http.post(
            "/api/v1/monitor/services",
            json=service({"kind": "failure_rate", "mode": "fixed", "threshold": 5}),
            headers=ADMIN,
        )
        await system.run(20, 20, 0)
        await system.run(3, 20, 10)
        await system.run(40, 20, 0)
        await system.delivered()
        bodies = [body for url, body in system.sender.posts if url == "http://chat.test/hook"]
        problem = (await system.container.monitor.service.list_problems())[0][0]
        # the first answer is a 503, so the OPEN body is posted twice (same text)
        assert [b["text"] for b in bodies[:2]] == ["OPEN: Failure rate increase on front-end"] * 2
        (resolved,) = [b for b in bodies if b["text"].startswith("RESOLVED")]
        assert resolved["text"] == "RESOLVED: Failure rate increase on front-end"
        assert resolved["pid"] == problem.pid and resolved["tags"]["keptn_project"] == "website"
        assert resolved["url"].endswith(f"/problems/{problem.id}")
    finally:
        await stop()


def test_monitor_broken_template_is_a_delivery_error(tmp_path: Path) -> None:
    p = new_problem(title="t", service="s", severity="ERROR", start=1.0, tags={}, evidence=[])
    (tmp_path / "bad.j2").write_text("{{ problem.no_such_field }}")
    for template in (str(tmp_path / "missing.j2"), str(tmp_path / "bad.j2")):
        with pytest.raises(DeliveryError):
            render_body(WebhookSettings(url="http://x.test", template=template), p, "http://h", 1.0)
    body = render_body(WebhookSettings(url="http://x.test"), p, "http://h", 1.0)
    assert json.loads(body)["data"]["ProblemURL"] == f"http://h/problems/{p.id}"
