"""What a Keptn event means to a human: the notification every notifier receives.

The texts are Keptn's own (its Dynatrace service wrote exactly these as problem comments), so
people who know Keptn recognise them and tools that parse them keep working.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator

from selfheal.core import CloudEvent, pages, parse_type
from selfheal.core.keptn import LEGACY_PROBLEM_OPEN, PROBLEM
from selfheal.integrations import restores
from selfheal.integrations.placeholders import MissingValue, names, render

log = logging.getLogger(__name__)

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
COURSE = restores.COURSE
"""The restore's course (docs/restore.md): mitigated, origin verified, steps … restored."""

Kind = Literal[
    "problem.open",
    "problem.resolved",
    "sequence.triggered",
    "action.triggered",
    "action.started",
    "action.finished",
    "evaluation.finished",
    "approval.triggered",
    "sequence.finished",
    "escalation",
    "problem.mitigated",
    "restore.triggered",
    "origin.verified",
    "restore.started",
    "restore.step",
    "restore.breached",
    "restore.held",
    "restore.resumed",
    "restore.decided",
    "restore.finished",
]
KINDS: tuple[str, ...] = get_args(Kind)
"""Every notification kind: what `events:` filters on and `messages:` may reword."""


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
    if event.type in restores.EVENT_TYPES or restores.approval_words(data) is not None:
        # the restore contract names the problem by its `problemId` (the ticket's key)
        pid = _s(data.get("problemId"))
        if not pid:
            return None
        url = _s(data.get("ProblemURL"))
        return ProblemRef(key=pid, display_id=_s(data.get("displayId")) or pid, url=url or None)
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
    told = restores.course(event.type, data)
    if told is not None:
        return told
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
        question = restores.approval_words(data)
        return APPROVAL, question or "Keptn asks for an approval to continue the remediation"
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


# -- wording people configure (`messages:` of a Jira or Slack integration) ---------------
TEMPLATE_ROOTS = frozenset(
    {"data", "message", "kind", "type", "id", "source", "time", "shkeptncontext", "problem"}
)
"""What a message template may name: the CloudEvent's fields, `message` (selfheal's own
text), `kind`, and `problem` (`id`, `key`, `title`, `url`, `link`, `sequence`)."""


def check_template(template: str) -> str:
    """Refuse a template that names anything outside TEMPLATE_ROOTS (the kinds it is for
    are checked by the `Kind` keys)."""
    for path in names(template):
        if path.split(".", 1)[0] not in TEMPLATE_ROOTS:
            roots = ", .".join(sorted(TEMPLATE_ROOTS))
            raise ValueError(f"'{{{{.{path}}}}}' is none of .{roots}")
    return template


Templates = dict[Kind, Annotated[str, AfterValidator(check_template)]]
"""`messages:` of an integration: kind -> template; an unknown kind is a config error."""


def worded(n: Notification, templates: Mapping[Any, str]) -> str:
    """The text people read: the integration's template for this kind, else selfheal's own
    words. A template naming a field this event lacks falls back to the own words."""
    template = templates.get(n.kind)
    if not template:
        return n.message
    values = n.event.to_dict()
    values.update(message=n.message, kind=n.kind)
    p = n.problem
    values["problem"] = {
        "id": p.display_id if p else "",
        "key": p.key if p else "",
        "title": p.title if p else "",
        "url": (p.url or "") if p else "",
        "link": n.problem_link or "",
        "sequence": n.sequence_link or "",
    }
    try:
        return render(template, values)
    except MissingValue as exc:
        log.warning("message template for %s: %s; using selfheal's words", n.kind, exc)
        return n.message
