"""Keptn's event-type vocabulary."""

from __future__ import annotations

import pytest

from selfheal.core import TaskType, parse_type, sequence_event, task_event
from selfheal.core.keptn import LEGACY_PROBLEM_OPEN, PROBLEM


def test_task_and_sequence_events_are_spelled_like_keptn() -> None:
    assert task_event("get-action", "triggered") == "sh.keptn.event.get-action.triggered"
    assert (
        sequence_event("production", "remediation", "finished")
        == "sh.keptn.event.production.remediation.finished"
    )


@pytest.mark.parametrize(
    ("event_type", "parsed"),
    [
        ("sh.keptn.event.action.triggered", TaskType("action", "triggered")),
        ("sh.keptn.event.action.status.changed", TaskType("action", "status.changed")),
        (
            "sh.keptn.event.production.remediation.triggered",
            TaskType("remediation", "triggered", stage="production"),
        ),
        ("sh.keptn.event.evaluation.finished", TaskType("evaluation", "finished")),
    ],
)
def test_parse_type(event_type: str, parsed: TaskType) -> None:
    assert parse_type(event_type) == parsed


@pytest.mark.parametrize(
    "event_type",
    [PROBLEM, "selfheal.flags.changed", "sh.keptn.event.action", "sh.keptn.event.a.b.c.finished"],
)
def test_not_task_events(event_type: str) -> None:
    assert parse_type(event_type) is None


def test_legacy_problem_open_is_not_a_task() -> None:
    # `problem.open` ends in no phase: it is a problem notification, not a task event
    assert parse_type(LEGACY_PROBLEM_OPEN) is None


def test_round_trip() -> None:
    for phase in ("triggered", "started", "status.changed", "finished"):
        assert parse_type(task_event("deployment", phase)) == TaskType("deployment", phase)
        assert parse_type(sequence_event("dev", "delivery", phase)) == TaskType(
            "delivery", phase, stage="dev"
        )
