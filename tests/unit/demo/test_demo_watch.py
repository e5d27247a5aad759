from __future__ import annotations

import json
from typing import Any

from selfheal.core import pages
from selfheal.demo.platform import problem_tags
from selfheal.demo.report import Report
from selfheal.demo.timeline import Timeline
from selfheal.demo.traffic import Sample
from selfheal.demo.watch import Watcher, parse_time
from tests.support.demoplatform import CONTEXT, T0, TAGS, FakePlatform


def make(fake: FakePlatform) -> tuple[Watcher, list[Sample], Timeline]:
    timeline = Timeline()
    samples: list[Sample] = []
    watcher = Watcher(fake.client(), timeline, samples=samples)
    watcher.fault_set(T0)
    return watcher, samples, timeline


def cdn(at: float, served_at: float | None = None) -> Sample:
    return Sample(at, 0.01, 200, "cdn", served_at if served_at is not None else at + 0.005)


def app(at: float, status: int = 200) -> Sample:
    return Sample(at, 0.01, status, "app", at + 0.005)


def steady(start: float, end: float, served_by: str = "cdn") -> list[Sample]:
    """20 requests/s sent in [start, end), all answered 200 by `served_by`."""
    count = round((end - start) * 20)
    return [
        Sample(start + i * 0.05, 0.01, 200, served_by, start + i * 0.05 + 0.005)
        for i in range(count)
    ]


def remediated(fake: FakePlatform) -> None:
    """The servers' records of a closed loop: problem 1.20 s, action 1.30, flag 1.40."""
    fake.problem_start = T0 + 1.2
    fake.event("sh.keptn.event.production.remediation.triggered", T0 + 1.21)
    fake.event(
        "sh.keptn.event.action.triggered",
        T0 + 1.3,
        action={"action": "toggle-feature", "value": {"EnableStaticContent": "on"}},
    )
    fake.flag_changes.append((T0 + 1.4, True))
    fake.sequence_state = "started"


async def test_every_milestone_is_the_servers_time_however_late_the_watcher_looks() -> None:
    fake = FakePlatform()
    watcher, samples, timeline = make(fake)
    remediated(fake)
    samples.extend([app(T0 - 1.0), app(T0 + 0.5, 500), cdn(T0 + 1.41, served_at=T0 + 1.43)])
    fake.problem_end = T0 + 6.0
    fake.sequence_state = "finished"
    fake.sequence_updated = T0 + 6.2
    fake.event("sh.keptn.event.production.remediation.finished", T0 + 6.1)
    fake.comments = ["Keptn triggered action toggle-feature"]
    # One poll, long after everything happened: the poll's own time appears nowhere.
    await watcher.poll()
    reached = {k: v for k, v in timeline.as_dict().items() if v is not None}
    assert reached == {
        "problem_opened": 1.2,
        "action_triggered": 1.3,
        "flag_on": 1.4,
        "first_cdn_response": 1.43,
        "problem_resolved": 6.0,
        "sequence_finished": 6.1,
    }
    assert timeline.violations() == []
    assert [row[0] for row in timeline.rows()] == [
        "problem_opened",
        "action_triggered",
        "flag_on",
        "first_cdn_response",
        "problem_resolved",
        "sequence_finished",
    ]
    assert timeline.notes["action_triggered"] == "toggle-feature {'EnableStaticContent': 'on'}"
    assert watcher.closed and not watcher.restoring


async def test_the_loop_closes_step_by_step_and_the_report_passes() -> None:
    fake = FakePlatform()
    watcher, samples, timeline = make(fake)
    await watcher.poll()
    assert timeline.at == {}
    remediated(fake)
    samples.extend(steady(T0 - 1.0, T0 + 1.5, "app"))
    await watcher.poll()
    assert timeline.seconds("problem_opened") == 1.2
    assert not timeline.reached("first_cdn_response")
    samples.extend(steady(T0 + 1.5, T0 + 7.0))
    fake.problem_end = T0 + 6.0
    fake.sequence_state = "finished"
    fake.sequence_updated = T0 + 6.1
    fake.comments = ["Keptn triggered action toggle-feature"]
    assert not watcher.closed
    await watcher.poll()
    assert watcher.closed
    # Without the sequence's finished event (not stored yet), its `updated` time counts.
    assert timeline.seconds("sequence_finished") == 6.1

    samples.extend(steady(T0 + 7.0, T0 + 8.0))
    report = Report(timeline=timeline, samples=samples)
    await watcher.verify(report, load_stopped_at=T0 + 8.0)
    report.assess(rate=20, load_stopped_at=T0 + 8.0, load_ended_by="stop")
    assert report.ok, (report.checks, report.invalid)
    body = report.as_dict()
    json.dumps(body)
    assert body["problem_opened"] == 1.2
    assert body["fault_cleared"] is None and body["flag_off"] is None


async def test_the_last_responses_are_the_ones_before_the_load_stopped() -> None:
    """A report built seconds after the load ended still sees the last responses."""
    fake = FakePlatform()
    watcher, samples, timeline = make(fake)
    remediated(fake)
    samples.extend(steady(T0 + 2.0, T0 + 4.0))
    await watcher.poll()
    report = Report(timeline=timeline, samples=samples)
    await watcher.verify(report, load_stopped_at=T0 + 4.0)
    check = next(c for c in report.checks if c.name == "traffic served by the CDN")
    assert check.ok and check.detail == "last 30 responses"


async def test_verify_fails_when_the_flag_never_flipped() -> None:
    fake = FakePlatform()
    watcher, samples, timeline = make(fake)
    fake.problem_start = T0 + 1.0
    samples.append(app(T0 + 2.0, 500))
    await watcher.poll()
    report = Report(timeline=timeline, samples=samples)
    await watcher.verify(report, load_stopped_at=T0 + 2.5)
    assert not report.ok
    failed = {c.name for c in report.checks if not c.ok}
    assert {"flag on", "traffic served by the CDN", "problem resolved"} <= failed


async def test_a_problem_open_before_the_fault_is_not_this_runs_and_makes_it_invalid() -> None:
    fake = FakePlatform(earlier_problem=(T0 - 3.0, None))
    watcher, samples, timeline = make(fake)
    remediated(fake)
    await watcher.poll()
    assert watcher.problem is not None and watcher.problem["problemId"] == "P-2"
    report = Report(timeline=timeline, samples=samples)
    await watcher.verify(report, load_stopped_at=T0 + 3.0)
    assert not report.valid and "P-1" in report.invalid[0]


async def test_links_are_the_problem_and_sequence_pages_from_the_link_builder() -> None:
    fake = FakePlatform()
    watcher, _, _ = make(fake)
    assert watcher.links("http://p:4242/") == {}
    remediated(fake)
    await watcher.poll()
    assert watcher.links("http://p:4242/") == {
        "problem": "http://p:4242" + pages.problem("P-2"),
        "sequence": "http://p:4242" + pages.sequence(CONTEXT),
    }
    assert watcher.links("http://p:4242")["sequence"] == f"http://p:4242/bridge/sequence/{CONTEXT}"


async def test_a_restoring_platform_is_watched_until_flag_off_and_resolved() -> None:
    fake = FakePlatform(mitigated_since=T0 + 2.0)
    watcher, samples, timeline = make(fake)
    remediated(fake)
    fake.event("sh.selfheal.problem.mitigated", T0 + 2.0, context=None, problemId="P-2")
    fake.event("sh.selfheal.problem.mitigated", T0 - 50.0, context=None, problemId="P-0")
    fake.comments = ["mitigated"]
    samples.extend(steady(T0 - 1.0, T0 + 1.5, "app") + steady(T0 + 1.5, T0 + 3.5))
    await watcher.poll()
    assert watcher.restoring and watcher.mitigated and not watcher.closed
    assert timeline.seconds("problem_mitigated") == 2.0
    watcher.fault_cleared(T0 + 20.0)
    fake.event("sh.keptn.event.restore.triggered", T0 + 20.5)
    fake.event("sh.keptn.event.restore.started", T0 + 20.6)
    fake.event("sh.selfheal.origin.verified", T0 + 26.0, probes=3)
    fake.flag_changes.append((T0 + 40.0, False))
    fake.event("sh.keptn.event.restore.finished", T0 + 45.0, outcome="restored")
    fake.problem_end = T0 + 40.1
    fake.sequence_state = "finished"
    fake.sequence_updated = T0 + 40.2
    fake.outcome = "restored"
    samples.extend(steady(T0 + 3.5, T0 + 40.2) + steady(T0 + 40.2, T0 + 42.2, "app"))
    await watcher.poll()
    assert watcher.closed
    # Resolved, the problem JSON has no mitigatedSince; the monitor's event still counts.
    assert timeline.seconds("problem_mitigated") == 2.0
    assert {s: timeline.seconds(s) for s in ("fault_cleared", "origin_verified", "flag_off")} == {
        "fault_cleared": 20.0,
        "origin_verified": 26.0,
        "flag_off": 40.0,
    }
    assert timeline.seconds("restore_started") == 20.6
    report = Report(timeline=timeline, samples=samples)
    await watcher.verify(report, load_stopped_at=T0 + 42.2)
    report.assess(rate=20, load_stopped_at=T0 + 42.2, load_ended_by="stop")
    assert report.ok, (report.checks, report.invalid)
    names = {c.name for c in report.checks}
    assert {"flag off after the restore", "traffic back on the app", "origin verified"} <= names
    body = report.as_dict()
    assert body["restoring"] is True
    assert body["time_to_restore"] == 20.0
    traffic = body["restore_traffic"]
    # sent from restore start to its finished event (+20.6 s … +45 s; the load stopped at +42.2)
    assert (traffic["requests"], traffic["errors"], traffic["breaches"]) == (432, 0, 0)


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
    assert [r[0] for r in rows][:2] == ["flag_on", "extra_step"]
    assert rows[2][2] is None  # a main step not reached yet
    assert "fault_cleared" not in [r[0] for r in rows]
    assert t.as_dict()["flag_on"] == 1.25
    assert t.as_dict()["fault_cleared"] is None


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


async def test_a_kept_fault_with_an_attempt_running_at_the_end_still_has_users_on_the_cdn() -> None:
    fake = FakePlatform(mitigated_since=T0 + 2.0)
    watcher, samples, timeline = make(fake)
    remediated(fake)
    fake.event("sh.selfheal.problem.mitigated", T0 + 2.0, context=None, problemId="P-2")
    fake.comments = ["mitigated"]
    fake.event("sh.selfheal.restore.step", T0 + 50.0, step=0, fallbackPercent=90)
    samples.extend([*steady(T0 + 1.5, T0 + 51.0), app(T0 + 51.0, 500), app(T0 + 51.1)])
    samples.extend(steady(T0 + 51.2, T0 + 52.0))
    await watcher.poll()
    report = Report(timeline=timeline, samples=samples)
    await watcher.verify(report, load_stopped_at=T0 + 52.0)
    check = next(c for c in report.checks if c.name == "traffic served by the CDN")
    assert check.ok and "2 of them from the origin during a restore attempt" in check.detail
    # after the attempt breached, an answer from the origin is not "users on the CDN"
    fake.event("sh.selfheal.restore.breached", T0 + 50.8, step=0)
    await watcher.poll()
    report = Report(timeline=timeline, samples=samples)
    await watcher.verify(report, load_stopped_at=T0 + 52.0)
    assert not next(c for c in report.checks if c.name == "traffic served by the CDN").ok
