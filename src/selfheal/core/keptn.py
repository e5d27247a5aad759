"""Keptn's event-type vocabulary: `sh.keptn.event.<task>.<phase>` and friends."""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "sh.keptn.event."
PROBLEM = "sh.keptn.events.problem"
LEGACY_PROBLEM_OPEN = "sh.keptn.event.problem.open"
PROBLEM_ESCALATED = "sh.selfheal.problem.escalated"
"""selfheal's own event: a remediation ran out of actions (or its breaker opened) and people
take over. Not a Keptn action, so action providers on the bus never see it."""
PHASES = ("triggered", "started", "status.changed", "finished")


@dataclass(frozen=True, slots=True)
class TaskType:
    """A parsed Keptn event type: `stage` is set for sequence events
    (`sh.keptn.event.<stage>.<sequence>.<phase>`), otherwise `name` is the task."""

    name: str
    phase: str
    stage: str | None = None


def task_event(task: str, phase: str) -> str:
    return f"{PREFIX}{task}.{phase}"


def sequence_event(stage: str, sequence: str, phase: str) -> str:
    return f"{PREFIX}{stage}.{sequence}.{phase}"


def parse_type(event_type: str) -> TaskType | None:
    """Split a Keptn event type; None if it is not one."""
    if not event_type.startswith(PREFIX):
        return None
    rest = event_type[len(PREFIX) :]
    for phase in PHASES:
        if rest.endswith("." + phase):
            head = rest[: -len(phase) - 1]
            parts = head.split(".")
            if len(parts) == 1:
                return TaskType(name=parts[0], phase=phase)
            if len(parts) == 2:
                return TaskType(name=parts[1], phase=phase, stage=parts[0])
            return None
    return None
