"""The restore's course in words: mitigated, origin verified, each step, breaches, people's
decisions and the outcome — one short line each for the problem's ticket and thread.

The event types and their data are the restore contract of docs/restore.md (the control
plane writes them, the monitor writes `problem.mitigated`); every one carries the
remediation's `shkeptncontext` and the problem's `problemId`, so the line lands in the
ticket and thread of the problem the remediation was started for.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from selfheal.core import epoch_from_iso

MITIGATED = "problem.mitigated"
RESTORE_TRIGGERED = "restore.triggered"
ORIGIN_VERIFIED = "origin.verified"
RESTORE_STARTED = "restore.started"
RESTORE_STEP = "restore.step"
RESTORE_BREACHED = "restore.breached"
RESTORE_HELD = "restore.held"
RESTORE_RESUMED = "restore.resumed"
RESTORE_DECIDED = "restore.decided"
RESTORE_FINISHED = "restore.finished"

EVENT_TYPES: dict[str, str] = {
    "sh.selfheal.problem.mitigated": MITIGATED,
    "sh.keptn.event.restore.triggered": RESTORE_TRIGGERED,
    "sh.selfheal.origin.verified": ORIGIN_VERIFIED,
    "sh.keptn.event.restore.started": RESTORE_STARTED,
    "sh.selfheal.restore.step": RESTORE_STEP,
    "sh.selfheal.restore.breached": RESTORE_BREACHED,
    "sh.selfheal.restore.held": RESTORE_HELD,
    "sh.selfheal.restore.resumed": RESTORE_RESUMED,
    "sh.selfheal.restore.decided": RESTORE_DECIDED,
    "sh.keptn.event.restore.finished": RESTORE_FINISHED,
}
"""Event type -> notification kind, for every event of a restore's course."""
COURSE = tuple(EVENT_TYPES.values())
SELFHEAL_EVENTS = "sh.selfheal.>"
"""The bus pattern of the course's own (non-Keptn) events; the rest arrive with `sh.keptn.>`."""

_DECISIONS = {
    "restore-now": "{by} chose to restore now",
    "keep-fallback": "{by} chose to keep the fallback: no restore until automation is resumed",
    "resume-automation": "{by} resumed automation",
    "approved": "{by} approved the restore",
    "rejected": "{by} rejected the restore: the fallback stays until automation is resumed",
}


def _s(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def clock(iso: Any) -> str:
    """ "07:47:54 UTC" of an RFC 3339 time (the text itself if it is not one)."""
    text = _s(iso)
    try:
        return time.strftime("%H:%M:%S UTC", time.gmtime(epoch_from_iso(text)))
    except ValueError:
        return text or "?"


def _int(value: Any, default: int = 0) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def _fraction(value: Any) -> str:
    return f"{value:.1%}" if isinstance(value, int | float) else "?"


def _mitigated(d: Mapping[str, Any]) -> str:
    flag = _s(d.get("flag"))
    fallback = f"the fallback ({flag})" if flag else "the fallback"
    return f"mitigated: served by {fallback} since {clock(d.get('since'))}; origin not yet verified"


def _triggered(d: Mapping[str, Any]) -> str:
    raw = d.get("restore")
    policy: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    steps = policy.get("steps")
    plan = (
        " → ".join(str(s) for s in steps) + " % on the fallback"
        if isinstance(steps, list) and steps
        else "step by step"
    )
    approval = "; needs an approval" if policy.get("approval") is True else ""
    return f"restore armed: verifying the origin, then {plan}{approval}"


def _verified(d: Mapping[str, Any]) -> str:
    probes = d.get("probes")
    return f"origin verified ({probes} probes ok)" if probes is not None else "origin verified"


def _started(d: Mapping[str, Any]) -> str:
    why = _s(d.get("message"))
    return f"restore started: {why}" if why else "restore started"


def _step(d: Mapping[str, Any]) -> str:
    index, steps = _int(d.get("step")), _int(d.get("steps"), 1)
    fallback = _int(d.get("fallbackPercent"), 100)
    off = " (the kill switch is off)" if fallback == 0 else ""
    return f"restore step {index + 1} of {steps}: {100 - fallback} % of users on the origin{off}"


def _breached(d: Mapping[str, Any]) -> str:
    step = _int(d.get("step")) + 1
    failures, requests = _int(d.get("failures")), _int(d.get("requests"))
    rate, limit = _fraction(d.get("failureRate")), _fraction(d.get("maxFailureRate"))
    return (
        f"restore step {step} breached: {failures} of {requests} origin requests failed"
        f" ({rate} > {limit}); all users back on the fallback,"
        f" next try at {clock(d.get('retryAt'))}"
    )


def _held(d: Mapping[str, Any]) -> str:
    who = f"{_s(d.get('by')) or 'someone'} {_s(d.get('change')) or 'changed the kill switch'}"
    if d.get("state") == "kept":
        return f"{who}; the fallback stays until automation is resumed"
    return f"{who}; automation on hold until {clock(d.get('holdUntil'))}"


def _resumed(d: Mapping[str, Any]) -> str:
    reason = _s(d.get("reason"))
    return f"automation resumed ({reason})" if reason else "automation resumed"


def _decided(d: Mapping[str, Any]) -> str:
    decision, by = _s(d.get("decision")), _s(d.get("by")) or "someone"
    return _DECISIONS.get(decision, "{by} decided: " + decision).format(by=by)


def _finished(d: Mapping[str, Any]) -> str:
    message = _s(d.get("message"))
    if d.get("outcome") == "restored":
        return message or "restored: all users back on the origin"
    return f"restore ended ({_s(d.get('outcome')) or 'closed'})" + (
        f": {message}" if message else ""
    )


_WORDS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    MITIGATED: _mitigated,
    RESTORE_TRIGGERED: _triggered,
    ORIGIN_VERIFIED: _verified,
    RESTORE_STARTED: _started,
    RESTORE_STEP: _step,
    RESTORE_BREACHED: _breached,
    RESTORE_HELD: _held,
    RESTORE_RESUMED: _resumed,
    RESTORE_DECIDED: _decided,
    RESTORE_FINISHED: _finished,
}


def course(event_type: str, data: Mapping[str, Any]) -> tuple[str, str] | None:
    """(kind, line) of an event of a restore's course; None for any other event."""
    kind = EVENT_TYPES.get(event_type)
    return None if kind is None else (kind, _WORDS[kind](data))


def restored(kind: str, data: Mapping[str, Any]) -> bool:
    """The restore brought every user back: the ticket resolves as for a resolved problem."""
    return kind == RESTORE_FINISHED and data.get("outcome") == "restored"


def approval_words(data: Mapping[str, Any]) -> str | None:
    """The question of a restore's approval request (`approval.triggered` with a `restore`
    section); None for the approval of a remediation's own task."""
    raw = data.get("restore")
    if not isinstance(raw, Mapping):
        return None
    flag = _s(data.get("flag")) or "the kill switch"
    why = _s(data.get("message"))
    return f"the restore of {flag} waits for an approval" + (f": {why}" if why else "")
