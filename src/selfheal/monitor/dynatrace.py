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
from dataclasses import dataclass
from typing import Any

from selfheal.core import InvalidInput, pages
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
        "mitigated": problem.mitigated,
        "mitigatedSince": _ms(problem.mitigated_since) if problem.mitigated else None,
        "url": pages.absolute(public_url, pages.problem(problem.id)),
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


@dataclass(frozen=True, slots=True)
class Selector:
    """A parsed `problemSelector`: criteria AND together, the values of one criterion OR."""

    statuses: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    impact_levels: tuple[str, ...] = ()
    problem_ids: tuple[str, ...] = ()
    display_ids: tuple[str, ...] = ()
    texts: tuple[str, ...] = ()
    entity_tags: tuple[str, ...] = ()

    @property
    def needs_scan(self) -> bool:
        """True if a criterion beyond `status` is set (those are checked problem by problem)."""
        return any(
            (
                self.severities,
                self.impact_levels,
                self.problem_ids,
                self.display_ids,
                self.texts,
                self.entity_tags,
            )
        )

    def matches(self, problem: Problem) -> bool:
        tags = {f"{k}:{v}" if v else k for k, v in problem.tags.items()} | set(problem.tags)
        title = problem.title.lower()
        return (
            (not self.statuses or problem.status in self.statuses)
            and (not self.severities or severity_level(problem) in self.severities)
            and (not self.impact_levels or "SERVICES" in self.impact_levels)
            and (
                not self.problem_ids
                or problem.id in self.problem_ids
                or problem.pid in self.problem_ids
            )
            and (not self.display_ids or problem.display_id in self.display_ids)
            and (not self.texts or any(t.lower() in title for t in self.texts))
            and (not self.entity_tags or any(_tag(t) in tags for t in self.entity_tags))
        )


SELECTOR_CRITERIA = (
    "status",
    "severityLevel",
    "impactLevel",
    "problemId",
    "displayId",
    "text",
    "entityTags",
)


def _tag(raw: str) -> str:
    """`[CONTEXTLESS]key:value` or `key:value` or `key` → our tag form."""
    if raw.startswith("[") and "]" in raw:
        raw = raw.split("]", 1)[1]
    return raw


def parse_selector(selector: str | None) -> Selector:
    """Dynatrace's `problemSelector`: comma-separated criteria such as `status("open")`,
    `severityLevel("ERROR","AVAILABILITY")`, `problemId("…")`, `displayId("P-1")`,
    `text("failure")` (in the title, any case), `entityTags("keptn_project:website")`,
    `impactLevel("SERVICES")`. A criterion we don't know is refused rather than silently
    ignored."""
    if not selector or not selector.strip():
        return Selector()
    found: dict[str, tuple[str, ...]] = {}
    pos, text = 0, selector.strip()
    for _ in range(len(text)):
        m = _CRITERION.match(text, pos)
        if m is None:
            raise InvalidInput('expected criteria like status("open")', field="problemSelector")
        name = m.group(1)
        values = tuple(
            v.replace('\\"', '"') for v in re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(2))
        )
        if name not in SELECTOR_CRITERIA:
            raise InvalidInput(
                f"unknown criterion {name!r}; supported: {', '.join(SELECTOR_CRITERIA)}",
                field="problemSelector",
            )
        if name in found:
            raise InvalidInput(f"{name} is given twice", field="problemSelector")
        if name == "status":
            if len(values) != 1 or values[0].lower() not in ("open", "closed"):
                raise InvalidInput('status("open") or status("closed")', field="problemSelector")
            values = statuses_for(values[0])
        elif name in ("severityLevel", "impactLevel"):
            values = tuple(v.upper() for v in values)
        found[name] = values
        pos = m.end()
        if pos >= len(text):
            break
        if text[pos] != ",":
            raise InvalidInput("criteria are separated by commas", field="problemSelector")
        pos += 1
    return Selector(
        statuses=found.get("status", ()),
        severities=found.get("severityLevel", ()),
        impact_levels=found.get("impactLevel", ()),
        problem_ids=found.get("problemId", ()),
        display_ids=found.get("displayId", ()),
        texts=found.get("text", ()),
        entity_tags=found.get("entityTags", ()),
    )
