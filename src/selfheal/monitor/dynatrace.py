"""Our problems and comments in the shapes of Dynatrace's Problems API v2.

Dynatrace reports a problem's `status` as OPEN or CLOSED. We keep a richer `state` next to
it: RESOLVED (the signal recovered, or the source said so) or CLOSED (closed by hand, never
reopened); both are `status` CLOSED. `problemSelector=status("closed")` selects both.
Fields Dynatrace has and we have no data for are present and empty (`managementZones`,
`problemFilters`), so clients that index them keep working. Our own extras (`pid`, `state`,
`source`, `occurrence`, `url`) ride along; Dynatrace clients ignore unknown fields.
"""

from __future__ import annotations

import re
from typing import Any

from selfheal.core import InvalidInput
from selfheal.monitor.problems import CLOSED, OPEN, RESOLVED, Comment, Problem

SEVERITIES = frozenset(
    {
        "AVAILABILITY",
        "CUSTOM_ALERT",
        "ERROR",
        "INFO",
        "MONITORING_UNAVAILABLE",
        "PERFORMANCE",
        "RESOURCE_CONTENTION",
    }
)
OPTIONAL_FIELDS = ("evidenceDetails", "impactAnalysis", "recentComments")
_CRITERION = re.compile(
    r'\s*([A-Za-z]+)\s*\(\s*("(?:[^"\\]|\\.)*"(?:\s*,\s*"(?:[^"\\]|\\.)*")*)\s*\)\s*'
)
_UNITS = {"_pct": "Percent", "_ms": "MilliSecond"}


def dynatrace_status(problem: Problem) -> str:
    return OPEN if problem.status == OPEN else "CLOSED"


def severity_level(problem: Problem) -> str:
    """One of Dynatrace's severity levels; an Alertmanager `severity: critical` label (kept
    in the tags) becomes CUSTOM_ALERT, as alerts from outside are in Dynatrace."""
    return problem.severity if problem.severity in SEVERITIES else "CUSTOM_ALERT"


def _ms(t: float | None) -> int:
    return int(t * 1000) if t else -1


def entity(problem: Problem) -> dict[str, Any]:
    return {"entityId": {"id": problem.service, "type": "SERVICE"}, "name": problem.impacted_entity}


def _evidence(problem: Problem, item: dict[str, Any]) -> dict[str, Any]:
    detector = str(item.get("detector", ""))
    start = item.get("time")
    out: dict[str, Any] = {
        "displayName": str(item.get("title") or problem.title),
        "entity": entity(problem),
        "groupingEntity": None,
        "rootCauseRelevant": True,
        "startTime": _ms(start if isinstance(start, int | float) else problem.start),
        "endTime": _ms(problem.end),
    }
    if problem.source != "selfheal":
        out["evidenceType"] = "EVENT"
        out["eventId"] = problem.external_key or problem.pid
        out["eventType"] = "CUSTOM_ALERT"
    else:
        out["evidenceType"] = "TRANSACTIONAL"
        # The measured value and the bar it crossed, in the detector's own unit.
        observed = next(
            (k for k in item if k.startswith(("failure_rate", "response_time"))),
            None,
        )
        bar = next((k for k in item if k.startswith("threshold")), None)
        if observed is not None:
            out["valueAfterChangePoint"] = item[observed]
            out["valueBeforeChangePoint"] = item.get(bar) if bar else None
            out["unit"] = next((u for s, u in _UNITS.items() if observed.endswith(s)), "Count")
        elif detector == "burn_rate":
            out["valueAfterChangePoint"] = item.get("burn_rate_short")
            out["valueBeforeChangePoint"] = item.get("burn_rate_threshold")
            out["unit"] = "Ratio"
    out["data"] = item
    return out


def problem_json(
    problem: Problem,
    public_url: str,
    *,
    comments: list[Comment] | None = None,
    fields: tuple[str, ...] = ("evidenceDetails",),
) -> dict[str, Any]:
    """A v2 Problem; `fields` picks the optional parts (as Dynatrace's `fields` does),
    `recentComments` only when `comments` are given."""
    stub = entity(problem)
    detected = problem.source == "selfheal"
    out: dict[str, Any] = {
        "problemId": problem.id,
        "displayId": problem.display_id,
        "title": problem.title,
        "impactLevel": "SERVICES",
        "severityLevel": severity_level(problem),
        "status": dynatrace_status(problem),
        "affectedEntities": [stub],
        "impactedEntities": [stub],
        "rootCauseEntity": stub if detected else None,
        "managementZones": [],
        "entityTags": [
            {
                "context": "CONTEXTLESS",
                "key": k,
                "value": v,
                "stringRepresentation": f"{k}:{v}" if v else k,
            }
            for k, v in problem.tags.items()
        ],
        "problemFilters": [],
        "startTime": _ms(problem.start),
        "endTime": _ms(problem.end),
        # ours
        "pid": problem.pid,
        "state": problem.status,
        "source": problem.source,
        "occurrence": problem.occurrence,
        "url": f"{public_url.rstrip('/')}/problems/{problem.id}",
    }
    if "evidenceDetails" in fields:
        details = [_evidence(problem, e) for e in problem.evidence]
        out["evidenceDetails"] = {"totalCount": len(details), "details": details}
    if "impactAnalysis" in fields:
        out["impactAnalysis"] = {
            "impacts": [
                {"impactType": "SERVICE", "impactedEntity": stub, "estimatedAffectedUsers": 0}
            ]
        }
    if comments is not None and "recentComments" in fields:
        out["recentComments"] = {
            "totalCount": len(comments),
            "pageSize": len(comments),
            "nextPageKey": None,
            "comments": [comment_json(c) for c in comments],
        }
    return out


def comment_json(c: Comment) -> dict[str, Any]:
    return {
        "id": c.id,
        "createdAtTimestamp": int(c.created * 1000),
        "content": c.message,
        "authorName": c.author,
        "context": c.context,
    }


def parse_fields(raw: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """Dynatrace's `fields=+evidenceDetails,recentComments` (the `+` is optional)."""
    if not raw:
        return default
    wanted = [f.strip().lstrip("+") for f in raw.split(",") if f.strip()]
    for name in wanted:
        if name not in OPTIONAL_FIELDS:
            raise InvalidInput(f"unknown field {name!r}", field="fields")
    return tuple(dict.fromkeys([*default, *wanted]))


def statuses_for(value: str) -> tuple[str, ...]:
    """Our states behind a status word: OPEN; CLOSED (Dynatrace's: resolved or closed by
    hand); RESOLVED (ours: recovered or resolved at the source)."""
    word = value.strip().upper()
    if word == OPEN:
        return (OPEN,)
    if word == "CLOSED":
        return (RESOLVED, CLOSED)
    if word == RESOLVED:
        return (RESOLVED,)
    raise InvalidInput("must be OPEN, CLOSED or RESOLVED", field="status")


def parse_selector(selector: str | None) -> tuple[str, ...] | None:
    """`problemSelector`: criteria like `status("open")`, comma-separated. Only `status`
    filters here; any other criterion is refused rather than silently ignored."""
    if not selector or not selector.strip():
        return None
    pos, chosen = 0, None
    text = selector.strip()
    for _ in range(len(text)):
        m = _CRITERION.match(text, pos)
        if m is None:
            raise InvalidInput('expected criteria like status("open")', field="problemSelector")
        name, values = m.group(1), re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(2))
        if name != "status":
            raise InvalidInput(
                f"only the status criterion is supported, not {name!r}", field="problemSelector"
            )
        if len(values) != 1 or values[0].lower() not in ("open", "closed"):
            raise InvalidInput('status("open") or status("closed")', field="problemSelector")
        chosen = statuses_for(values[0])
        pos = m.end()
        if pos >= len(text):
            return chosen
        if text[pos] != ",":
            raise InvalidInput("criteria are separated by commas", field="problemSelector")
        pos += 1
    return chosen
