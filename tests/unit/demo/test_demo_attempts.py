"""The never-clearing run's figures: restore attempts, breaches, completed restores and the
errors users got, counted from the event store's restore events and the website's answers."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from selfheal.cli import app
from selfheal.demo.attempts import kept_fault_goal, kept_fault_window, restore_attempts
from selfheal.demo.milestones import ServerRecord, milestones
from selfheal.demo.mttr import restore_goal, run_never_clear
from selfheal.demo.traffic import Sample
from tests.support.demoplatform import T0, iso


def step(at: float, index: int, fallback: int) -> dict[str, Any]:
    return {
        "type": "sh.selfheal.restore.step",
        "time": iso(T0 + at),
        "data": {"step": index, "fallbackPercent": fallback, "steps": 3},
    }


def breach(at: float, requests: int = 6, failures: int = 3) -> dict[str, Any]:
    return {
        "type": "sh.selfheal.restore.breached",
        "time": iso(T0 + at),
        "data": {"step": 0, "requests": requests, "failures": failures},
    }


def finished(at: float, outcome: str) -> dict[str, Any]:
    return {
        "type": "sh.keptn.event.restore.finished",
        "time": iso(T0 + at),
        "data": {"outcome": outcome, "result": "pass" if outcome == "restored" else "fail"},
    }


EVENTS = [
    {"type": "sh.keptn.event.restore.started", "time": iso(T0 + 100.0)},
    step(100.0, 0, 90),
    breach(102.0),
    step(300.0, 0, 90),
    step(305.0, 1, 50),
    breach(306.5, 20, 9),
]


def sample(at: float, served_by: str, status: int = 200) -> Sample:
    return Sample(T0 + at, 0.01, status, served_by, T0 + at + 0.002)


def test_each_first_step_opens_an_attempt_and_its_steps_and_breach_belong_to_it() -> None:
    first, second = restore_attempts(EVENTS)
    assert (first.started, first.steps, first.lowest_fallback) == (T0 + 100.0, 1, 90)
    assert first.breached_at == T0 + 102.0
    assert first.breach == {"step": 0, "requests": 6, "failures": 3}
    assert (second.steps, second.lowest_fallback, second.breached_at) == (2, 50, T0 + 306.5)
    assert restore_attempts([step(5.0, 1, 50)]) == []


def test_origin_errors_in_the_window_are_counted_and_attributed_to_their_attempt() -> None:
    samples = [sample(t, "cdn") for t in range(10, 600)]
    samples += [
        sample(100.5, "app", 500),
        sample(101.0, "app"),
        sample(102.1, "app", 500),  # the SDK had not yet seen the breach: attempt 1's
        sample(301.0, "app", 500),
        sample(50.0, "app", 500),  # before any attempt
        sample(20.0, "-", 0),  # no answer: an error, not the origin's
        sample(5.0, "app", 500),  # before the window
        sample(700.0, "app", 500),  # after it
    ]
    events = [*EVENTS, finished(650.0, "restored")]
    window = kept_fault_window(events, samples, T0 + 10.0, T0 + 610.0)
    assert window["attempts"] == 2
    assert (window["steps"], window["breaches"], window["restore_started_events"]) == (3, 2, 1)
    assert window["completed_restores"] == 0  # the one at +650 s is outside the window
    assert window["requests"] == 590 + 6
    assert window["served_by"] == {"app": 5, "cdn": 590, "-": 1}
    assert window["errors"] == 5
    assert window["origin_errors"] == 4
    assert window["errors_by_attempts"] == 3
    assert window["origin_errors_outside_attempts"] == 1
    assert window["errors_by_attempts_share"] == round(3 / 596, 6)
    assert [a["errors"] for a in window["attempt_list"]] == [2, 1]
    assert window["attempt_list"][0]["started"] == 90.0
    assert window["attempt_list"][0]["breached_after"] == 2.0
    # every origin error in the window counts toward the goal, attributed or not
    assert kept_fault_goal(window)[1] == ["4 of 596 requests failed at the origin (> 0.5%)"]


def test_a_completed_restore_or_too_many_origin_errors_misses_the_goal() -> None:
    samples = [sample(t / 10, "cdn") for t in range(100, 1100)]
    samples += [sample(100.5 + i / 100, "app", 500) for i in range(6)]
    window = kept_fault_window([*EVENTS[:3], finished(104.0, "restored")], samples, T0, T0 + 200)
    met, why = kept_fault_goal(window)
    assert not met
    assert why == [
        "1 restores completed while the fault was kept",
        "6 of 1006 requests failed at the origin (> 0.5%)",
    ]
    closed = kept_fault_window([finished(104.0, "closed")], samples[:1000], T0, T0 + 200)
    assert closed["completed_restores"] == 0
    assert kept_fault_goal(closed) == (True, [])
    assert kept_fault_goal(None)[0] is False
    assert kept_fault_goal(kept_fault_window([], [], T0, T0 + 1))[1] == [
        "no request was sent in the window"
    ]


def flag_event(kind: str, at: float) -> dict[str, Any]:
    return {
        "type": f"feature-environment-{kind}",
        "createdAt": T0 + at,
        "environment": "production",
    }


def test_flag_off_is_the_switch_off_that_lasted() -> None:
    record = ServerRecord(
        fault_at=T0,
        flag_events=[
            flag_event("enabled", 1.0),
            flag_event("disabled", 30.0),  # the last step, then breached: on again
            flag_event("enabled", 31.0),
            flag_event("disabled", 50.0),
        ],
    )
    assert milestones(record)["flag_off"][0] == T0 + 50.0
    record.flag_events.append(flag_event("enabled", 55.0))
    assert "flag_off" not in milestones(record)


def run(time_to_restore: float | None, *, valid: bool = True) -> dict[str, Any]:
    return {
        "valid": valid,
        "restoring": True,
        "fault_cleared": 20.0,
        "time_to_restore": time_to_restore,
    }


def test_the_restore_goal_counts_a_run_that_never_restored_against_it() -> None:
    reports = [run(17.5), run(18.0), run(19.0), run(90.0, valid=False)]
    goal = restore_goal(reports)
    assert goal is not None
    assert (goal["runs"], goal["restored"], goal["median"], goal["p95"]) == (3, 3, 18.0, 19.0)
    assert goal["met"] is True
    missing = restore_goal([run(17.5), run(None)])
    assert missing is not None and (missing["restored"], missing["met"]) == (1, False)
    slow = restore_goal([run(17.0), run(29.0), run(46.0)])
    assert slow is not None and (slow["median"], slow["met"]) == (29.0, False)
    assert restore_goal([{"valid": True, "restoring": False, "fault_cleared": 20.0}]) is None


async def test_the_never_clearing_run_reports_its_window_and_its_verdict(tmp_path: Path) -> None:
    samples = [sample(t / 20, "cdn") for t in range(0, 12000)]
    window = kept_fault_window(EVENTS, samples, T0, T0 + 600)
    asked: list[tuple[float, float]] = []

    async def demo(seconds: float, fault_rate: float) -> dict[str, Any]:
        asked.append((seconds, fault_rate))
        return {"ok": True, "valid": True, "invalid": [], "kept_fault": window, "checks": []}

    out = io.StringIO()
    met = await run_never_clear(
        Console(file=out, width=200), minutes=10, out=tmp_path / "b.json", demo=demo
    )
    assert met is True and asked == [(600.0, 0.5)]
    text = out.getvalue()
    assert "restore attempts: 2 (3 steps), breaches: 2, completed restores: 0" in text
    assert "attempt 2 at +300 s: 2 step(s), lowest 50 % on the fallback" in text
    saved = json.loads((tmp_path / "b.json").read_text())
    assert saved["goal_met"] is True and saved["kept_fault"]["requests"] == 12000

    async def invalid(seconds: float, fault_rate: float) -> dict[str, Any]:
        return {"ok": False, "valid": False, "invalid": ["stalled"], "kept_fault": window}

    assert await run_never_clear(Console(file=io.StringIO()), minutes=1, demo=invalid) is False
    with pytest.raises(ValueError, match="minutes"):
        await run_never_clear(Console(file=io.StringIO()), minutes=0, demo=demo)
    with pytest.raises(ValueError, match="fault_rate"):
        await run_never_clear(Console(file=io.StringIO()), minutes=1, fault_rate=0, demo=demo)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--never-clear-minutes", "0"),
        ("--never-clear-minutes", "-1"),
        ("--never-clear-minutes", "121"),
        ("--never-clear-minutes", "ten"),
        ("--fault-rate", "0"),
        ("--fault-rate", "1.5"),
        ("--runs", "0"),
    ],
)
def test_the_bench_options_are_validated(option: str, value: str) -> None:
    result = CliRunner().invoke(app, ["bench", "mttr", option, value])
    assert result.exit_code == 2
    assert option in result.output
