from __future__ import annotations

import json
import time
from typing import Any

import httpx

from selfheal.demo.platform import Platform, problem_tags
from selfheal.demo.report import Report
from selfheal.demo.timeline import Timeline
from selfheal.demo.traffic import Sample
from selfheal.demo.watch import Watcher, parse_time

TAGS = [
    {"key": "keptn_project", "value": "website"},
    {"key": "keptn_stage", "value": "production"},
    {"key": "keptn_service", "value": "front-end"},
]


class FakePlatform:
    """The subset of the platform's HTTP APIs the watcher reads, with a state tests move."""

    def __init__(self) -> None:
        self.problem_status: str | None = None
        self.flag = False
        self.sequence_state: str | None = None
        self.comments: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/v2/problems":
            problems = []
            if self.problem_status:
                problems.append(
                    {
                        "problemId": "P-1",
                        "displayId": "P-1",
                        "title": "Failure rate increase",
                        "status": self.problem_status,
                        "startTime": int(time.time() * 1000),
                        "entityTags": TAGS,
                    }
                )
            return httpx.Response(200, json={"problems": problems})
        if path == "/api/v2/problems/P-1/comments":
            return httpx.Response(200, json={"comments": [{"message": m} for m in self.comments]})
        if path == "/api/admin/projects/default/features/EnableStaticContent":
            return httpx.Response(
                200, json={"environments": [{"name": "production", "enabled": self.flag}]}
            )
        if path == "/api/controlPlane/v1/sequence/website":
            states = []
            if self.sequence_state:
                outcome = "remediated" if self.sequence_state == "finished" else None
                states.append(
                    {
                        "name": "remediation",
                        "state": self.sequence_state,
                        "shkeptncontext": "ctx-1",
                        "outcome": outcome,
                    }
                )
            return httpx.Response(200, json={"states": states})
        if path == "/api/mongodb-datastore/event":
            assert request.url.params["keptnContext"] == "ctx-1"
            event = {
                "type": "sh.keptn.event.action.triggered",
                "time": "2030-01-01T00:00:00.500Z",
                "data": {"action": {"action": "featuretoggle", "value": "EnableStaticContent:on"}},
            }
            return httpx.Response(200, json={"events": [event]})
        return httpx.Response(404, json={"message": "no"})


def make() -> tuple[FakePlatform, Watcher, list[Sample], Timeline]:
    fake = FakePlatform()
    client = httpx.AsyncClient(transport=httpx.MockTransport(fake.handle), base_url="http://p")
    timeline = Timeline(fault_at=time.time() - 1.0)
    samples: list[Sample] = []
    return fake, Watcher(Platform(client), timeline, samples=samples), samples, timeline


async def test_marks_each_milestone_once_as_the_loop_closes() -> None:
    fake, watcher, samples, timeline = make()
    await watcher.poll()
    assert timeline.at == {}
    fake.problem_status = "OPEN"
    await watcher.poll()
    assert timeline.reached("problem_opened")
    first = timeline.at["problem_opened"]
    fake.sequence_state = "started"
    fake.flag = True
    now = time.time()
    samples.append(Sample(now, 0.01, 200, "cdn"))
    await watcher.poll()
    assert timeline.at["problem_opened"] == first
    assert timeline.reached("flag_on")
    assert timeline.at["first_cdn_response"] == now + 0.01
    assert timeline.at["action_triggered"] == parse_time("2030-01-01T00:00:00.500Z")
    assert timeline.notes["action_triggered"] == "featuretoggle EnableStaticContent:on"
    assert not watcher.closed
    fake.problem_status = "CLOSED"
    fake.sequence_state = "finished"
    fake.comments = ["Keptn triggered action featuretoggle"]
    await watcher.poll()
    assert watcher.closed

    samples.append(Sample(time.time(), 0.01, 200, "cdn"))
    report = Report(timeline=timeline, samples=samples)
    await watcher.verify(report)
    assert report.ok, report.checks
    body = report.as_dict()
    assert body["ok"] is True
    for step in ("problem_opened", "action_triggered", "flag_on", "first_cdn_response"):
        assert isinstance(body[step], float)
    json.dumps(body)


async def test_verify_fails_when_the_flag_never_flipped() -> None:
    fake, watcher, samples, timeline = make()
    fake.problem_status = "OPEN"
    samples.append(Sample(time.time(), 0.01, 500, "app"))
    await watcher.poll()
    report = Report(timeline=timeline, samples=samples)
    await watcher.verify(report)
    assert not report.ok
    failed = {c.name for c in report.checks if not c.ok}
    assert {"flag on", "traffic served by the CDN", "problem resolved"} <= failed


def test_parse_time_and_tags() -> None:
    assert parse_time(1_700_000_000_000) == 1_700_000_000.0
    assert parse_time(1_700_000_000.5) == 1_700_000_000.5
    assert parse_time("1970-01-01T00:00:10Z") == 10.0
    assert parse_time("nonsense") is None
    assert parse_time(None) is None
    assert problem_tags({"entityTags": TAGS})["keptn_stage"] == "production"
    assert problem_tags({"Tags": "keptn_project:website, keptn_service:front-end"}) == {
        "keptn_project": "website",
        "keptn_service": "front-end",
    }


def test_timeline_seconds_and_rows() -> None:
    t = Timeline()
    assert t.seconds("flag_on") is None
    t.fault_at = 100.0
    assert t.mark("flag_on", 101.25)
    assert not t.mark("flag_on", 105.0)
    assert t.seconds("flag_on") == 1.25
    t.mark("extra_step", 102.0)
    rows = t.rows()
    assert rows[-1][0] == "extra_step"
    assert t.as_dict()["flag_on"] == 1.25


def test_report_writes_json_and_plot(tmp_path: Any) -> None:
    t = Timeline(fault_at=100.0)
    t.mark("problem_opened", 101.0)
    t.mark("first_cdn_response", 102.0)
    samples = [
        Sample(98.0 + i * 0.1, 0.01, 500 if 20 <= i < 40 else 200, "cdn" if i >= 40 else "app")
        for i in range(60)
    ]
    report = Report(timeline=t, samples=samples, started_at=97.0, finished_at=105.0)
    report.check("something", True)
    path = report.write(tmp_path)
    body = json.loads(path.read_text())
    assert body["ok"] is True
    assert body["first_cdn_response"] == 2.0
    assert body["series"][0]["t"] == -2.0
    assert (tmp_path / "timeline.png").stat().st_size > 1000
    assert json.loads(report.json_line())["fault_at"] == 100.0
