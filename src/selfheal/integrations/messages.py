"""What a Keptn event means to a human: the notification every notifier receives.

The texts are Keptn's own (its Dynatrace service wrote exactly these as problem comments), so
people who know Keptn recognise them and tools that parse them keep working.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from selfheal.core import CloudEvent, pages, parse_type
from selfheal.core.keptn import LEGACY_PROBLEM_OPEN, PROBLEM

PROBLEM_OPEN = "problem.open"
PROBLEM_RESOLVED = "problem.resolved"
ACTION_TRIGGERED = "action.triggered"
ACTION_STARTED = "action.started"
ACTION_FINISHED = "action.finished"
EVALUATION = "evaluation.finished"
APPROVAL = "approval.triggered"
SEQUENCE_TRIGGERED = "sequence.triggered"
SEQUENCE_FINISHED = "sequence.finished"
ESCALATION = "escalation"
STEPS = (ACTION_TRIGGERED, ACTION_STARTED, ACTION_FINISHED, EVALUATION)


@dataclass(frozen=True, slots=True)
class ProblemRef:
    """The problem a notification is about: `key` is the occurrence (PID, else ProblemID)."""

    key: str
    display_id: str
    title: str = ""
    url: str | None = None
    state: str = "OPEN"
    source: str | None = None
    details: Any = None

    @classmethod
    def from_data(cls, problem: Any, labels: Any = None) -> ProblemRef | None:
        if not isinstance(problem, dict):
            return None
        pid = _s(problem.get("PID")) or _s(problem.get("pid"))
        display = _s(problem.get("ProblemID")) or _s(problem.get("problemId")) or pid
        key = pid or display
        if not key:
            return None
        url = _s(problem.get("ProblemURL")) or _s(problem.get("problemURL"))
        if not url and isinstance(labels, dict):
            url = _s(labels.get("Problem URL"))
        return cls(
            key=key,
            display_id=display or key,
            title=_s(problem.get("ProblemTitle")) or _s(problem.get("problemTitle")) or "",
            url=url or None,
            state=(_s(problem.get("State")) or _s(problem.get("state")) or "OPEN").upper(),
            source=_s(problem.get("source")) or None,
            details=problem.get("ProblemDetails"),
        )


@dataclass(frozen=True, slots=True)
class Notification:
    kind: str
    event: CloudEvent
    message: str
    keptn_context: str | None = None
    project: str = ""
    stage: str = ""
    service: str = ""
    problem: ProblemRef | None = None
    problem_link: str | None = None
    sequence_link: str | None = None
    result: str | None = None
    status: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_step(self) -> bool:
        return self.kind in STEPS


def _s(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _problem_of(event: CloudEvent) -> ProblemRef | None:
    data = event.payload()
    if event.type in (PROBLEM, LEGACY_PROBLEM_OPEN):
        ref = ProblemRef.from_data(data)
        if ref is not None and event.type == LEGACY_PROBLEM_OPEN:
            return ProblemRef(**{**_fields(ref), "state": "OPEN"})
        return ref
    return ProblemRef.from_data(data.get("problem"), data.get("labels"))


def _fields(ref: ProblemRef) -> dict[str, Any]:
    return {name: getattr(ref, name) for name in ProblemRef.__slots__}


def kind_and_message(event: CloudEvent) -> tuple[str, str] | None:
    """Classify an event; None for the many events no human needs to hear about."""
    data = event.payload()
    if event.type in (PROBLEM, LEGACY_PROBLEM_OPEN):
        state = _s(data.get("State") or data.get("state") or "OPEN").upper()
        if event.type == LEGACY_PROBLEM_OPEN:
            state = "OPEN"
        title = _s(data.get("ProblemTitle") or data.get("problemTitle"))
        if state == "RESOLVED":
            return PROBLEM_RESOLVED, f"Problem resolved: {title}"
        return PROBLEM_OPEN, f"Problem opened: {title}"
    parsed = parse_type(event.type)
    if parsed is None:
        return None
    source = event.source
    if parsed.stage is not None:
        if parsed.name != "remediation":
            return None
        if parsed.phase == "triggered":
            return SEQUENCE_TRIGGERED, f"Keptn remediation sequence started in {parsed.stage}"
        if parsed.phase == "finished":
            return SEQUENCE_FINISHED, (
                f"Keptn remediation finished. Result: {_s(data.get('result'))} "
                f"Status: {_s(data.get('status'))}"
                + (f" - {_s(data.get('message'))}" if data.get("message") else "")
            )
        return None
    if parsed.name == "action":
        raw_action = data.get("action")
        action: dict[str, Any] = raw_action if isinstance(raw_action, dict) else {}
        if parsed.phase == "triggered":
            return ACTION_TRIGGERED, (
                f"Keptn triggered action {_s(action.get('action'))}: "
                f"{_s(action.get('description'))}"
            )
        if parsed.phase == "started":
            return ACTION_STARTED, f"Keptn remediation action started execution by: {source}"
        if parsed.phase == "finished":
            return ACTION_FINISHED, (
                f"Keptn finished execution of action by: {source} "
                f"Result: {_s(data.get('result'))} Status: {_s(data.get('status'))}"
            )
    if parsed.name == "evaluation" and parsed.phase == "finished":
        raw_eval = data.get("evaluation")
        evaluation: dict[str, Any] = raw_eval if isinstance(raw_eval, dict) else {}
        result = _s(evaluation.get("result") or data.get("result"))
        score = evaluation.get("score", 0)
        if isinstance(score, float) and score.is_integer():
            score = int(score)
        return EVALUATION, f"Keptn remediation evaluation resulted in {result} ({score}/100)"
    if parsed.name == "approval" and parsed.phase == "triggered":
        return APPROVAL, "Keptn asks for an approval to continue the remediation"
    return None


def notification_of(event: CloudEvent, *, ui_url: str) -> Notification | None:
    classified = kind_and_message(event)
    if classified is None:
        return None
    kind, message = classified
    data = event.payload()
    problem = _problem_of(event)
    context = event.shkeptncontext
    base = ui_url.rstrip("/")
    return Notification(
        kind=kind,
        event=event,
        message=message,
        keptn_context=context,
        project=_s(data.get("project")),
        stage=_s(data.get("stage")),
        service=_s(data.get("service")),
        problem=problem,
        problem_link=pages.absolute(base, pages.problem(problem.key)) if problem else None,
        sequence_link=pages.absolute(base, pages.sequence(context)) if context else None,
        result=_s(data.get("result")) or None,
        status=_s(data.get("status")) or None,
    )


def escalation(
    event: CloudEvent, *, message: str, ui_url: str, extra: dict[str, Any] | None = None
) -> Notification:
    """A notification the `escalate` action sends (the triggering event gives the scope)."""
    data = event.payload()
    problem = _problem_of(event)
    context = event.shkeptncontext
    return Notification(
        kind=ESCALATION,
        event=event,
        message=message,
        keptn_context=context,
        project=_s(data.get("project")),
        stage=_s(data.get("stage")),
        service=_s(data.get("service")),
        problem=problem,
        problem_link=pages.absolute(ui_url, pages.problem(problem.key)) if problem else None,
        sequence_link=pages.absolute(ui_url, pages.sequence(context)) if context else None,
        extra=extra or {},
    )
