"""Problem notifications in all the shapes they arrive in, read into one `ProblemNotice`.

`sh.keptn.events.problem` (Dynatrace's template, the monitor, Alertmanager bridges): `State`
OPEN|RESOLVED, `ProblemTitle` or `problemTitle`, scope from `Tags` ("keptn_project:website,
…"), `KeptnProject/Stage/Service` or `project/stage/service`; the legacy
`sh.keptn.event.problem.open`; and the `problem` block of a `<stage>.remediation.triggered`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from selfheal.core import CloudEvent
from selfheal.core.keptn import LEGACY_PROBLEM_OPEN


@dataclass(frozen=True, slots=True)
class ProblemNotice:
    problem_id: str
    state: str
    title: str
    project: str | None
    stage: str | None
    service: str | None
    url: str | None
    root_cause: str | None
    source: str
    data: Mapping[str, Any]
    occurrence: int | None = None
    """The notifier's occurrence number of the problem (the monitor's reopen counter)."""

    @property
    def key(self) -> str:
        """One problem across its notifications (an occurrence adds a counter to it)."""
        return f"{self.project}/{self.stage}/{self.service}/{self.problem_id}"


def _text(data: Mapping[str, Any], *names: str) -> str | None:
    for name in names:
        value = data.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return None


def parse_tags(tags: Any) -> dict[str, str]:
    """`"keptn_project:website, keptn_stage:production"` (or a list of such) as a dict."""
    items: list[str] = []
    if isinstance(tags, str):
        items = tags.split(",")
    elif isinstance(tags, list):
        for tag in tags:
            if isinstance(tag, str):
                items.append(tag)
            elif isinstance(tag, Mapping) and "key" in tag:
                items.append(f"{tag.get('key')}:{tag.get('value', '')}")
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.strip().partition(":")
        if sep and key.strip():
            out[key.strip()] = value.strip()
    return out


def read_notice(event: CloudEvent) -> ProblemNotice | None:
    """The notice in a problem event, or None if it is not one we can act on."""
    data = event.payload()
    if event.type.endswith(".remediation.triggered"):
        inner = data.get("problem")
        problem: Mapping[str, Any] = inner if isinstance(inner, Mapping) else {}
        labels = data.get("labels") if isinstance(data.get("labels"), Mapping) else {}
        merged = {**problem, "project": data.get("project"), "stage": data.get("stage")}
        merged["service"] = data.get("service")
        notice = _notice(merged, event, default_state="OPEN")
        if notice is not None and notice.url is None and isinstance(labels, Mapping):
            url = labels.get("Problem URL")
            if isinstance(url, str):
                notice = ProblemNotice(**{**_fields(notice), "url": url})
        return notice
    default = "OPEN" if event.type == LEGACY_PROBLEM_OPEN else None
    return _notice(data, event, default_state=default)


def _fields(notice: ProblemNotice) -> dict[str, Any]:
    return {name: getattr(notice, name) for name in ProblemNotice.__dataclass_fields__}


def _notice(
    data: Mapping[str, Any], event: CloudEvent, *, default_state: str | None
) -> ProblemNotice | None:
    details = data.get("ProblemDetails")
    details = details if isinstance(details, Mapping) else {}
    state = _text(data, "State", "state", "status") or _text(details, "status") or default_state
    if state is None:
        return None
    state = state.upper()
    if state in ("CLOSED", "RESOLVED", "OK"):
        state = "RESOLVED"
    elif state not in ("OPEN", "RESOLVED"):
        state = "OPEN"
    tags = parse_tags(data.get("Tags") or data.get("tags"))
    project = _text(data, "project", "KeptnProject") or tags.get("keptn_project")
    stage = _text(data, "stage", "KeptnStage") or tags.get("keptn_stage")
    service = _text(data, "service", "KeptnService") or tags.get("keptn_service")
    title = _text(data, "ProblemTitle", "problemTitle", "title") or "Problem"
    problem_id = (
        _text(data, "PID", "pid", "ProblemID", "problemId", "problemID")
        or _text(details, "id")
        or event.shkeptncontext
        or event.id
    )
    return ProblemNotice(
        problem_id=problem_id,
        state=state,
        title=title,
        project=project,
        stage=stage,
        service=service,
        url=_text(data, "ProblemURL", "problemURL", "problemUrl"),
        root_cause=_text(data, "RootCause", "rootCause"),
        source=event.source,
        data=data,
        occurrence=_number(data, "occurrence", "Occurrence") or _number(details, "occurrence"),
    )


def _number(data: Mapping[str, Any], *names: str) -> int | None:
    for name in names:
        value = data.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
        if isinstance(value, str) and value.strip().isdigit() and int(value) > 0:
            return int(value)
    return None


def problem_payload(notice: ProblemNotice) -> dict[str, Any]:
    """The `problem` block carried by every event of the sequence (Keptn's ProblemEventData)."""
    body = {k: v for k, v in notice.data.items() if k not in ("project", "stage", "service")}
    body.setdefault("ProblemTitle", notice.title)
    body.setdefault("State", notice.state)
    body.setdefault("PID", notice.problem_id)
    body.setdefault("ProblemID", body.get("ProblemID") or notice.problem_id)
    if notice.url:
        body.setdefault("ProblemURL", notice.url)
    return body
