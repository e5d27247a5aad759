"""The report builder over crafted server data: milestones are the servers' timestamps, and a
timeline out of causal order (or a run that measured something else) is refused."""

from __future__ import annotations

from typing import Any

import pytest

from selfheal.demo.milestones import ServerRecord, apply, measurement_problems, milestones
from selfheal.demo.report import Report
from selfheal.demo.timeline import CAUSAL, Timeline
from selfheal.demo.traffic import Sample
from tests.support.demoplatform import T0, iso, ms


def steady(start: float, end: float, served_by: str, rate: float = 20.0) -> list[Sample]:
    step = 1.0 / rate
    return [
        Sample(start + i * step, 0.01, 200, served_by, start + i * step + 0.004)
        for i in range(round((end - start) * rate))
    ]


def record(
    *,
    problem_at: float = 1.2,
    action_at: float = 1.3,
    flag_at: float = 1.4,
    resolved_at: float = 6.0,
    samples: list[Sample] | None = None,
    extra_events: tuple[tuple[str, float], ...] = (),
    flag_off_at: float | None = None,
    cleared_at: float | None = None,
) -> ServerRecord:
    """Server data of one run, times in seconds from the fault onset T0."""
    events: list[dict[str, Any]] = [
        {
            "type": "sh.keptn.event.action.triggered",
            "time": iso(T0 + action_at),
            "data": {"action": {"action": "toggle-feature", "value": "EnableStaticContent:on"}},
        },
        {"type": "sh.keptn.event.production.remediation.finished", "time": iso(T0 + 6.1)},
    ]
    events += [{"type": t, "time": iso(T0 + at)} for t, at in extra_events]
    flag_events = [
        {
            "type": "feature-environment-enabled",
            "createdAt": T0 + flag_at,
            "environment": "production",
        }
    ]
    if flag_off_at is not None:
        flag_events.append(
            {
                "type": "feature-environment-disabled",
                "createdAt": T0 + flag_off_at,
                "environment": "production",
            }
        )
    return ServerRecord(
        fault_at=T0,
        fault_cleared_at=None if cleared_at is None else T0 + cleared_at,
        problem={
            "problemId": "P-1",
            "displayId": "P-1",
            "title": "Failure rate increase",
            "status": "CLOSED",
            "startTime": ms(T0 + problem_at),
            "endTime": ms(T0 + resolved_at),
        },
        sequence={
            "name": "remediation",
            "stage": "production",
            "state": "finished",
            "outcome": "remediated",
            "updated": T0 + 6.2,
        },
        events=events,
        flag_events=flag_events,
        samples=(
            samples
            if samples is not None
            else steady(T0 - 2, T0 + 1.5, "app") + steady(T0 + 1.5, T0 + 8, "cdn")
        ),
    )


def built(rec: ServerRecord) -> Report:
    timeline = Timeline()
    apply(rec, timeline)
    report = Report(timeline=timeline, samples=rec.samples)
    report.check("loop closed", True)
    report.assess(rate=20, load_stopped_at=T0 + 8.0, load_ended_by="stop")
    return report


def test_a_causal_run_is_valid_and_reports_the_servers_times() -> None:
    report = built(record())
    assert report.ok and report.valid
    body = report.as_dict()
    assert [body[s] for s in ("problem_opened", "action_triggered", "flag_on")] == [1.2, 1.3, 1.4]
    assert body["first_cdn_response"] == 1.504  # the website's X-Served-At of the first answer
    assert body["problem_resolved"] == 6.0 and body["sequence_finished"] == 6.1
    assert body["causal"] is True and body["invalid"] == []
    assert body["time_to_mitigate"] == 1.504
    for key in ("fault_cleared", "origin_verified", "restore_started", "flag_off"):
        assert body[key] is None
    assert body["time_to_restore"] is None and body["restore_traffic"] is None


def test_the_issue_12_timeline_action_before_problem_is_refused() -> None:
    """The report of issue 12: the action at 1.29 s, the problem it answers at 1.48 s."""
    report = built(record(problem_at=1.48, action_at=1.29))
    assert not report.ok and not report.valid
    assert report.invalid == [
        "timeline out of order: action_triggered came 0.19 s before problem_opened"
    ]
    assert report.as_dict()["causal"] is False


@pytest.mark.parametrize(("earlier", "later"), CAUSAL)
def test_every_causal_pair_is_checked(earlier: str, later: str) -> None:
    timeline = Timeline(fault_at=T0)
    at = T0 + 5.0
    if earlier != "fault":
        timeline.set(earlier, at)
    else:
        at = T0
    timeline.set(later, at - 0.5)
    assert timeline.violations() == [f"{later} came 0.5 s before {earlier}"]


def test_a_cdn_answer_before_the_flag_was_on_makes_the_run_invalid() -> None:
    """Issue 12.7: run 6 saw the CDN 0.043 s after the fault, before its flag was on."""
    samples = steady(T0 - 2, T0 + 8, "cdn")
    report = built(record(samples=samples))
    assert not report.valid
    assert any("served by the CDN before this run's flag was on" in r for r in report.invalid)
    # The first CDN answer after the fault is before flag_on: out of order, too.
    assert any("first_cdn_response came" in r for r in report.invalid)


def test_a_stalled_load_generator_makes_the_run_invalid() -> None:
    samples = steady(T0 - 2, T0 + 1.5, "app") + steady(T0 + 4.0, T0 + 8, "cdn")
    report = built(record(samples=samples))
    assert not report.valid
    assert report.invalid == [
        "the load generator sent nothing for 2.55 s (from +1.45 s): the machine was too busy "
        "to measure"
    ]


def test_no_answer_at_the_end_of_the_load_makes_the_run_invalid() -> None:
    unanswered = [Sample(s.sent_at, 2.0, 0, "-") for s in steady(T0 + 6.0, T0 + 8, "-")]
    samples = steady(T0 - 2, T0 + 1.5, "app") + steady(T0 + 1.5, T0 + 6.0, "cdn") + unanswered
    report = built(record(samples=samples))
    assert report.invalid == [
        "no request was answered in the last 1.5 s of load: nothing to tell who served the "
        "users at the end"
    ]


def test_a_load_generator_that_stopped_by_itself_makes_the_run_invalid() -> None:
    rec = record()
    timeline = Timeline()
    apply(rec, timeline)
    reasons = measurement_problems(
        timeline, rec.samples, rate=20, load_stopped_at=T0 + 8.0, load_ended_by="deadline"
    )
    assert reasons == ["the load generator stopped by itself (deadline) before the run"]


def test_restore_events_become_the_restore_milestones() -> None:
    rec = record(
        extra_events=[
            ("sh.selfheal.problem.mitigated", 2.0),
            ("sh.keptn.event.restore.started", 21.0),
            ("sh.selfheal.origin.verified", 25.0),
        ],
        flag_off_at=38.0,
        cleared_at=20.0,
        resolved_at=38.2,
    )
    found = {step: round(at - T0, 3) for step, (at, _) in milestones(rec).items()}
    assert found["problem_mitigated"] == 2.0
    assert found["fault_cleared"] == 20.0
    assert found["restore_started"] == 21.0
    assert found["origin_verified"] == 25.0
    assert found["flag_off"] == 38.0
    assert found["problem_resolved"] == 38.2


def test_a_flag_switched_on_before_the_fault_is_not_this_runs_flag_on() -> None:
    rec = record()
    rec.flag_events.insert(
        0, {"type": "feature-environment-enabled", "createdAt": T0 - 1, "environment": "production"}
    )
    rec.flag_events.append(
        {"type": "feature-environment-enabled", "createdAt": T0 + 1.4, "environment": "dev"}
    )
    assert round(milestones(rec)["flag_on"][0] - T0, 3) == 1.4


def test_apply_corrects_and_forgets_steps_as_the_servers_say() -> None:
    rec = record()
    timeline = Timeline()
    assert apply(rec, timeline)[:3] == ["problem_opened", "action_triggered", "flag_on"]
    assert apply(rec, timeline) == []
    rec.problem = None
    apply(rec, timeline)
    assert not timeline.reached("problem_opened")


def test_an_event_about_another_problem_is_not_this_runs() -> None:
    rec = record()
    assert rec.problem is not None
    rec.problem["pid"] = "1234"
    rec.events.append(
        {"type": "sh.selfheal.problem.mitigated", "time": iso(T0 + 3), "data": {"problemId": "9"}}
    )
    assert "problem_mitigated" not in milestones(rec)
    rec.events.append(
        {
            "type": "sh.selfheal.problem.mitigated",
            "time": iso(T0 + 4),
            "data": {"problemId": "1234"},
        }
    )
    assert round(milestones(rec)["problem_mitigated"][0] - T0, 3) == 4.0
