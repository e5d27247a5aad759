"""Restore attempts while the fault never clears: what they cost the users.

With the fault kept, a restoring platform keeps verifying the origin; now and then enough
probes pass in a row (the fault fails only a share of calls) and it starts an attempt: the
kill switch's rollout lets some users back on the origin, the origin fails them, the step
breaches and everyone goes back to the fallback. `kept_fault_window()` counts, over one
window after mitigation, from the servers' own records only:

- attempts (each `sh.selfheal.restore.step` of step 0 — `restore.started` is written for the
  first attempt only), steps, breaches (`sh.selfheal.restore.breached`) and completed
  restores (`sh.keptn.event.restore.finished` with outcome `restored`: must stay 0);
- the requests the load generator sent in the window, and the errors users got: all of them,
  and those the origin served (the website's `X-Served-By: app` on a failed answer). While
  the kill switch is on, users reach the origin only through a restore's rollout, so every
  origin error in the window is one a restore attempt served; each is attributed to the
  attempt running at the website's own `X-Served-At` (attempts end at the next one, so the
  answers the SDK still sent to the origin after a breach count for the attempt that caused
  them). Origin errors before the window's first attempt are counted apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from selfheal.demo.milestones import parse_time
from selfheal.demo.traffic import Sample

STEP = "sh.selfheal.restore.step"
BREACHED = "sh.selfheal.restore.breached"
FINISHED = "sh.keptn.event.restore.finished"
STARTED = "sh.keptn.event.restore.started"

GOAL_ERROR_SHARE = 0.005
"""Errors served to users by restore attempts, as a share of all requests in the window."""


@dataclass(frozen=True, slots=True)
class Attempt:
    started: float
    """The event store's time of the attempt's first step (epoch s)."""
    steps: int
    """Steps this attempt reached (1 = only the first)."""
    lowest_fallback: int | None
    """The smallest share of users left on the fallback during the attempt (percent)."""
    breached_at: float | None = None
    breach: dict[str, Any] | None = None
    """The breach event's data: requests, failures, failureRate, retryAt."""


def _timed(events: Iterable[dict[str, Any]], type_: str) -> list[tuple[float, dict[str, Any]]]:
    out = []
    for e in events:
        if e.get("type") != type_:
            continue
        when = parse_time(e.get("time"))
        if when is not None:
            out.append((when, e))
    return sorted(out, key=lambda pair: pair[0])


def _data(event: dict[str, Any]) -> dict[str, Any]:
    data = event.get("data")
    return data if isinstance(data, dict) else {}


def restore_attempts(events: Iterable[dict[str, Any]]) -> list[Attempt]:
    """Every attempt, oldest first: a step-0 event opens one; the steps and the breach until
    the next step 0 belong to it."""
    events = list(events)
    steps = _timed(events, STEP)
    breaches = _timed(events, BREACHED)
    starts = [t for t, e in steps if _data(e).get("step") == 0]
    out = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else float("inf")
        mine = [e for t, e in steps if start <= t < end]
        fallback = [
            int(_data(e)["fallbackPercent"])
            for e in mine
            if isinstance(_data(e).get("fallbackPercent"), int | float)
        ]
        breach = next(((t, e) for t, e in breaches if start <= t < end), None)
        out.append(
            Attempt(
                started=start,
                steps=len(mine),
                lowest_fallback=min(fallback) if fallback else None,
                breached_at=breach[0] if breach else None,
                breach=_data(breach[1]) if breach else None,
            )
        )
    return out


def completed_restores(events: Iterable[dict[str, Any]]) -> int:
    """`restore.finished` events whose outcome is `restored`."""
    return sum(1 for _, e in _timed(events, FINISHED) if _data(e).get("outcome") == "restored")


def restore_finished_at(events: Iterable[dict[str, Any]]) -> float | None:
    """The event store's time of the first `restore.finished` (None: not finished)."""
    found = _timed(events, FINISHED)
    return found[0][0] if found else None


def _decided_at(s: Sample) -> float:
    return s.served_at if s.served_at is not None else s.sent_at


def kept_fault_window(
    events: Sequence[dict[str, Any]], samples: Iterable[Sample], start: float, end: float
) -> dict[str, Any]:
    """The figures of one window [start, end] (epoch s) of a fault that never clears."""
    attempts = [a for a in restore_attempts(events) if start <= a.started <= end]
    inside = [s for s in samples if start <= s.sent_at <= end]
    origin_errors = [s for s in inside if not s.ok and s.served_by == "app"]
    per_attempt = [0] * len(attempts)
    outside = 0
    for s in origin_errors:
        at = _decided_at(s)
        index = max((i for i, a in enumerate(attempts) if a.started <= at), default=None)
        if index is None:
            outside += 1
        else:
            per_attempt[index] += 1
    in_window = [e for e in events if start <= (parse_time(e.get("time")) or 0.0) <= end]
    requests = len(inside)
    errors = sum(1 for s in inside if not s.ok)
    by_attempts = sum(per_attempt)
    return {
        "from": start,
        "to": end,
        "seconds": round(end - start, 3),
        "attempts": len(attempts),
        "restore_started_events": len(_timed(in_window, STARTED)),
        "steps": sum(a.steps for a in attempts),
        "breaches": len(_timed(in_window, BREACHED)),
        "completed_restores": completed_restores(in_window),
        "requests": requests,
        "served_by": {
            who: sum(1 for s in inside if s.served_by == who) for who in ("app", "cdn", "-")
        },
        "errors": errors,
        "error_share": _share(errors, requests),
        "origin_errors": len(origin_errors),
        "errors_by_attempts": by_attempts,
        "errors_by_attempts_share": _share(by_attempts, requests),
        "origin_errors_outside_attempts": outside,
        "attempt_list": [
            {
                "started": round(a.started - start, 3),
                "steps": a.steps,
                "lowest_fallback": a.lowest_fallback,
                "breached_after": (
                    round(a.breached_at - a.started, 3) if a.breached_at is not None else None
                ),
                "breach": a.breach,
                "errors": per_attempt[i],
            }
            for i, a in enumerate(attempts)
        ],
    }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def kept_fault_goal(window: dict[str, Any] | None) -> tuple[bool, list[str]]:
    """Whether the window met the issue's figures, and why not."""
    if window is None:
        return False, ["no window was measured (the problem was never mitigated)"]
    why = []
    if window["completed_restores"]:
        why.append(f"{window['completed_restores']} restores completed while the fault was kept")
    if not window["requests"]:
        why.append("no request was sent in the window")
    elif window["origin_errors"] / window["requests"] > GOAL_ERROR_SHARE:
        why.append(
            f"{window['origin_errors']} of {window['requests']} requests failed at the origin "
            f"(> {GOAL_ERROR_SHARE:.1%})"
        )
    return not why, why
