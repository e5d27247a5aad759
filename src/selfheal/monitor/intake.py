"""Problems raised elsewhere: Alertmanager webhook v4 and Dynatrace problem notifications.

Both are parsed into `ExternalAlert`s; malformed payloads raise `InvalidInput` naming the
field (→ 400) before anything is stored. Alertmanager re-sends firing alerts on every group
interval, so an alert's key is its fingerprint plus `startsAt`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from selfheal.core import InvalidInput, epoch_from_iso, limits


@dataclass(frozen=True, slots=True)
class ExternalAlert:
    key: str
    firing: bool
    title: str
    service: str
    tags: dict[str, str]
    start: float
    severity: str = "ERROR"
    evidence: dict[str, Any] = field(default_factory=dict)
    source: str = "alertmanager"
    pid: str | None = None


def _str_dict(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidInput("must be an object of strings", field=where)
    return {str(k): v for k, v in value.items()}


def _time(value: Any, where: str, default: float) -> float:
    if value in (None, "", "0001-01-01T00:00:00Z"):
        return default
    if not isinstance(value, str):
        raise InvalidInput("must be an RFC 3339 time", field=where)
    try:
        return epoch_from_iso(value)
    except ValueError as exc:
        raise InvalidInput("must be an RFC 3339 time", field=where) from exc


def _service(tags: dict[str, str], fallback: str) -> str:
    return tags.get("keptn_service") or tags.get("service") or tags.get("job") or fallback


def _bounded(alert: ExternalAlert, where: str) -> ExternalAlert:
    """The fields that become keys, labels and (through the control plane) NATS subjects."""
    limits.bounded(alert.key, f"{where}key", limits.MAX_ID)
    limits.bounded(alert.title, f"{where}title", limits.MAX_TITLE)
    limits.name(alert.service, f"{where}service")
    for tag in ("keptn_project", "keptn_stage", "keptn_service"):
        if tag in alert.tags:
            limits.name(alert.tags[tag], f"{where}{tag}")
    return alert


def parse_alertmanager(body: Any, now: float) -> list[ExternalAlert]:
    if not isinstance(body, dict):
        raise InvalidInput("an Alertmanager webhook must be a JSON object", field="body")
    if str(body.get("version", "4")) != "4":
        raise InvalidInput("only webhook version 4 is supported", field="version")
    alerts = body.get("alerts")
    if not isinstance(alerts, list):
        raise InvalidInput("'alerts' must be a list", field="alerts")
    common = _str_dict(body.get("commonAnnotations"), "commonAnnotations")
    out: list[ExternalAlert] = []
    for i, alert in enumerate(alerts):
        where = f"alerts[{i}]"
        if not isinstance(alert, dict):
            raise InvalidInput("must be an object", field=where)
        status = alert.get("status")
        if status not in ("firing", "resolved"):
            raise InvalidInput("must be 'firing' or 'resolved'", field=f"{where}.status")
        labels = _str_dict(alert.get("labels"), f"{where}.labels")
        if "alertname" not in labels:
            raise InvalidInput("'alertname' is required", field=f"{where}.labels.alertname")
        annotations = _str_dict(alert.get("annotations"), f"{where}.annotations")
        fingerprint = alert.get("fingerprint")
        if not isinstance(fingerprint, str) or not fingerprint:
            raise InvalidInput("is required", field=f"{where}.fingerprint")
        starts = alert.get("startsAt")
        if not isinstance(starts, str):
            raise InvalidInput("is required", field=f"{where}.startsAt")
        start = _time(starts, f"{where}.startsAt", now)
        title = annotations.get("summary") or common.get("summary") or labels["alertname"]
        severity = labels.get("severity", "ERROR").upper()
        out.append(
            _bounded(
                ExternalAlert(
                    key=f"alertmanager:{fingerprint}:{starts}",
                    firing=status == "firing",
                    title=title,
                    service=_service(labels, labels["alertname"]),
                    tags={k: v for k, v in labels.items()},
                    start=start,
                    severity=severity,
                    evidence={
                        "alertname": labels["alertname"],
                        **annotations,
                        "generatorURL": str(alert.get("generatorURL", "")),
                    },
                ),
                f"{where}.labels.",
            )
        )
    return out


def parse_tags(text: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            continue
        key, _, value = part.partition(":")
        tags[key.strip()] = value.strip()
    return tags


def parse_dynatrace(body: Any, now: float) -> ExternalAlert:
    """The Dynatrace custom-integration payload, bare or wrapped in a CloudEvent."""
    if not isinstance(body, dict):
        raise InvalidInput("a Dynatrace notification must be a JSON object", field="body")
    inner = body.get("data")
    data: dict[str, Any] = inner if isinstance(inner, dict) else body
    prefix = "data." if data is not body else ""
    state = data.get("State") or data.get("state")
    if state not in ("OPEN", "RESOLVED", "MERGED"):
        raise InvalidInput("must be OPEN or RESOLVED", field=f"{prefix}State")
    pid = data.get("PID") or data.get("pid")
    if not isinstance(pid, str | int) or isinstance(pid, bool) or str(pid) == "":
        raise InvalidInput("is required", field=f"{prefix}PID")
    title = data.get("ProblemTitle") or data.get("problemTitle")
    if not isinstance(title, str) or not title:
        raise InvalidInput("is required", field=f"{prefix}ProblemTitle")
    tags_raw = data.get("Tags", "")
    if not isinstance(tags_raw, str):
        raise InvalidInput("must be a 'key:value, key:value' string", field=f"{prefix}Tags")
    tags = parse_tags(tags_raw)
    entity = data.get("ImpactedEntity")
    details = data.get("ProblemDetails")
    if isinstance(details, str):
        try:
            details = json.loads(details)
        except ValueError:
            details = {"text": details}
    limits.bounded(str(pid), f"{prefix}PID", limits.MAX_ID)
    limits.bounded(title, f"{prefix}ProblemTitle", limits.MAX_TITLE)
    alert = ExternalAlert(
        key=f"dynatrace:{pid}",
        firing=state == "OPEN",
        title=title,
        service=_service(tags, entity if isinstance(entity, str) and entity else title),
        tags=tags,
        start=now,
        evidence={
            "ProblemID": str(data.get("ProblemID", "")),
            "ProblemURL": str(data.get("ProblemURL", "")),
            "ProblemDetails": details if isinstance(details, dict) else {},
        },
        source="dynatrace",
        pid=str(pid),
    )
    return _bounded(alert, f"{prefix}Tags.")
