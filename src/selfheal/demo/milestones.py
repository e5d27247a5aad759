"""The report builder: milestones from the servers' own records, and whether a run measured.

`milestones()` is a pure function of what the servers said — the problem (`startTime`,
`endTime`, `mitigatedSince`), the sequence and its events from the event store, the kill
switch's change events, the website's fault record and its `X-Served-At` stamps — so the
timeline is causal by construction and the runner's polling speed changes nothing in it.

`measurement_problems()` says why a run's numbers cannot be trusted (a CDN answer before the
flag was on, a load generator that stalled or stopped, a timeline out of order); such a
run is reported as invalid and left out of the benchmark's medians.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from selfheal.demo.timeline import Timeline
from selfheal.demo.traffic import Sample

RESOLVED_STATES = ("CLOSED", "RESOLVED")
ACTION_TRIGGERED = "sh.keptn.event.action.triggered"
PROBLEM_MITIGATED = "sh.selfheal.problem.mitigated"
ORIGIN_VERIFIED = "sh.selfheal.origin.verified"
RESTORE_STARTED = "sh.keptn.event.restore.started"
RESTORE_EVENTS = (
    PROBLEM_MITIGATED,
    ORIGIN_VERIFIED,
    RESTORE_STARTED,
    "sh.keptn.event.restore.triggered",
    "sh.keptn.event.restore.finished",
    "sh.selfheal.restore.step",
)
FLAG_ENABLED = "feature-environment-enabled"
FLAG_DISABLED = "feature-environment-disabled"


def parse_time(value: Any) -> float | None:
    """Epoch seconds from an ISO string, epoch ms or epoch s; None if unknown."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value) / 1000.0 if value > 1e11 else float(value)
    if isinstance(value, str) and value:
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return parsed.timestamp()
    return None


@dataclass
class ServerRecord:
    """Everything the watcher read from the servers, as their APIs returned it."""

    fault_at: float | None = None
    """The website's own record of when the fault was set (`/_fault` → `changed_at`)."""
    fault_cleared_at: float | None = None
    problem: dict[str, Any] | None = None
    sequence: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    """The event store's events of the sequence's keptnContext (restore events included) and
    the monitor's `sh.selfheal.problem.mitigated` (which has no context); an event whose
    `data.problemId` names another problem is ignored."""
    flag_events: list[dict[str, Any]] = field(default_factory=list)
    """The kill switch's change events (Unleash admin events API)."""
    samples: Sequence[Sample] = ()
    environment: str = "production"


Milestone = tuple[float, str]


def problem_status(problem: dict[str, Any]) -> str:
    return str(problem.get("status") or problem.get("State") or "").upper()


def problem_ids(problem: dict[str, Any] | None) -> set[str]:
    """Every id a problem goes by (v2 `problemId`, its `pid`, `displayId`)."""
    if problem is None:
        return set()
    keys = ("problemId", "pid", "displayId", "PID", "id")
    return {str(problem[k]) for k in keys if problem.get(k)}


def about(event: dict[str, Any], problem: dict[str, Any] | None) -> bool:
    """The event names no problem, or names this one."""
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    named = (data or {}).get("problemId")
    return named is None or str(named) in problem_ids(problem)


def _first_event(events: Iterable[dict[str, Any]], type_: str) -> dict[str, Any] | None:
    timed = [(parse_time(e.get("time")), e) for e in events if e.get("type") == type_]
    ordered = sorted(((t, e) for t, e in timed if t is not None), key=lambda p: p[0])
    return ordered[0][1] if ordered else None


def _event_time(event: dict[str, Any] | None) -> float | None:
    return parse_time(event.get("time")) if event else None


def flag_changes(record: ServerRecord) -> list[tuple[float, bool]]:
    """(when, enabled) of each on/off of the kill switch in our environment, oldest first."""
    out = []
    for e in record.flag_events:
        kind = e.get("type")
        if kind not in (FLAG_ENABLED, FLAG_DISABLED):
            continue
        if e.get("environment") not in (None, record.environment):
            continue
        when = parse_time(e.get("createdAt"))
        if when is not None:
            out.append((when, kind == FLAG_ENABLED))
    return sorted(out)


def final_off(changes: Sequence[tuple[float, bool]], on: float) -> float | None:
    """When the kill switch went off for good after `on`: the first switch-off after its
    last switch-on. A restore whose last step (flag off) breached switches it on again, so
    that earlier off is not the end of the restore."""
    after = [(t, enabled) for t, enabled in changes if t >= on]
    last_on = max((t for t, enabled in after if enabled), default=on)
    return next((t for t, enabled in after if not enabled and t > last_on), None)


def first_cdn_answer(samples: Iterable[Sample], since: float) -> float | None:
    """When the website first decided to serve the CDN copy at or after `since`: its own
    `X-Served-At` stamp (the answer's arrival when a sample has none)."""
    times = [
        s.served_at if s.served_at is not None else s.done_at
        for s in samples
        if s.served_by == "cdn" and s.ok
    ]
    after = [t for t in times if t >= since]
    return min(after) if after else None


def milestones(record: ServerRecord) -> dict[str, Milestone]:
    """Each reached milestone's server timestamp (epoch s) and a note."""
    out: dict[str, Milestone] = {}
    fault_at = record.fault_at
    problem = record.problem
    if problem is not None:
        start = parse_time(problem.get("startTime"))
        title = str(problem.get("title") or problem.get("ProblemTitle") or "")
        if start is not None:
            out["problem_opened"] = (start, f"{problem.get('displayId', '')} {title}".strip())
        end = parse_time(problem.get("endTime"))
        if end is not None and problem_status(problem) in RESOLVED_STATES:
            out["problem_resolved"] = (end, "")
        since = parse_time(problem.get("mitigatedSince"))
        if since is not None:
            out["problem_mitigated"] = (since, "")
    events = [e for e in record.events if about(e, problem)]
    action = _first_event(events, ACTION_TRIGGERED)
    when = _event_time(action)
    if action is not None and when is not None:
        chosen = (action.get("data") or {}).get("action") or {}
        note = f"{chosen.get('action', '')} {chosen.get('value', '')}".strip()
        out["action_triggered"] = (when, note)
    for step, type_ in (
        ("problem_mitigated", PROBLEM_MITIGATED),
        ("origin_verified", ORIGIN_VERIFIED),
        ("restore_started", RESTORE_STARTED),
    ):
        when = _event_time(_first_event(events, type_))
        if when is not None:
            out[step] = (when, "")
    sequence = record.sequence
    if sequence is not None:
        finished = _sequence_finished(sequence, events)
        if finished is not None:
            outcome = sequence_outcome(sequence) or ""
            out["sequence_finished"] = (finished, outcome)
    changes = flag_changes(record)
    on = next((t for t, enabled in changes if enabled and t >= (fault_at or 0.0)), None)
    if on is not None:
        out["flag_on"] = (on, "")
        off = final_off(changes, on)
        if off is not None:
            out["flag_off"] = (off, "")
    if fault_at is not None:
        cdn = first_cdn_answer(record.samples, fault_at)
        if cdn is not None:
            out["first_cdn_response"] = (cdn, "")
    if record.fault_cleared_at is not None:
        out["fault_cleared"] = (record.fault_cleared_at, "")
    return out


def _sequence_finished(sequence: dict[str, Any], events: list[dict[str, Any]]) -> float | None:
    """The sequence's own `<stage>.<sequence>.finished` event; its `updated` time if the
    event store has not answered with it yet."""
    if str(sequence.get("state", "")) != "finished":
        return None
    type_ = f"sh.keptn.event.{sequence.get('stage', '')}.{sequence.get('name', '')}.finished"
    return _event_time(_first_event(events, type_)) or parse_time(sequence.get("updated"))


def sequence_outcome(sequence: dict[str, Any]) -> str | None:
    if sequence.get("outcome"):
        return str(sequence["outcome"])
    for stage in sequence.get("stages") or []:
        if isinstance(stage, dict) and stage.get("outcome"):
            return str(stage["outcome"])
    return None


def apply(record: ServerRecord, timeline: Timeline) -> list[str]:
    """Put `record`'s milestones on `timeline` (correcting earlier values); returns the
    steps reached for the first time, oldest first."""
    found = milestones(record)
    if record.fault_at is not None:
        timeline.fault_at = record.fault_at
    for step in [s for s in timeline.at if s not in found]:
        del timeline.at[step]
        timeline.notes.pop(step, None)
    new = [step for step, (when, note) in found.items() if timeline.set(step, when, note)]
    return sorted(new, key=lambda s: timeline.at[s])


def measurement_problems(
    timeline: Timeline,
    samples: Sequence[Sample],
    *,
    rate: float,
    load_stopped_at: float | None,
    load_ended_by: str | None = "stop",
    tail_seconds: float = 1.5,
) -> list[str]:
    """Why this run's numbers cannot be trusted (empty: they can)."""
    reasons = [f"timeline out of order: {v}" for v in timeline.violations()]
    flag_on = timeline.at.get("flag_on")
    early = [
        s
        for s in samples
        if s.served_by == "cdn"
        and s.status
        and (flag_on is None or (s.served_at if s.served_at is not None else s.done_at) < flag_on)
    ]
    if early:
        first = min(s.sent_at for s in early)
        rel = f"{first - timeline.fault_at:+.2f} s" if timeline.fault_at else "before the fault"
        reasons.append(
            f"{len(early)} responses served by the CDN before this run's flag was on (first "
            f"sent at {rel}): the load did not reach this run's website, or the flag was on "
            "before the fault"
        )
    if load_ended_by not in (None, "stop"):
        reasons.append(f"the load generator stopped by itself ({load_ended_by}) before the run")
    sent = sorted(s.sent_at for s in samples)
    if timeline.fault_at is not None and sent:
        lo = timeline.fault_at - 1.0
        hi = load_stopped_at if load_stopped_at is not None else sent[-1]
        window = [lo, *(t for t in sent if lo < t < hi), hi]
        limit = max(1.0, 5.0 / rate)
        gap, at = max((b - a, a) for a, b in pairwise(window))
        if gap > limit:
            reasons.append(
                f"the load generator sent nothing for {gap:.2f} s (from "
                f"{at - timeline.fault_at:+.2f} s): the machine was too busy to measure"
            )
    if load_stopped_at is not None and samples:
        tail = [s for s in samples if s.status and s.sent_at >= load_stopped_at - tail_seconds]
        if not tail:
            reasons.append(
                f"no request was answered in the last {tail_seconds:g} s of load: nothing "
                "to tell who served the users at the end"
            )
    elif not samples:
        reasons.append("no load was measured")
    return reasons


def window_traffic(samples: Iterable[Sample], start: float, end: float) -> dict[str, Any]:
    """Requests sent in [start, end] and the errors users got among them."""
    inside = [s for s in samples if start <= s.sent_at <= end]
    errors = sum(1 for s in inside if not s.ok)
    return {
        "from": start,
        "to": end,
        "requests": len(inside),
        "errors": errors,
        "error_share": round(errors / len(inside), 5) if inside else None,
        "errors_from_app": sum(1 for s in inside if not s.ok and s.served_by == "app"),
    }
