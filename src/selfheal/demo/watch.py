"""Watches the loop through the platform's APIs, keeps what the servers said, and checks the
end state a user would check by hand.

The watcher only collects (`ServerRecord`); the timeline is rebuilt from that record after
every poll by `milestones.apply`, so each step carries the server's timestamp however late
the watcher happened to look.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from selfheal.core import pages
from selfheal.demo.attempts import restore_attempts, restore_finished_at
from selfheal.demo.milestones import (
    PROBLEM_MITIGATED,
    RESOLVED_STATES,
    RESTORE_EVENTS,
    ServerRecord,
    about,
    apply,
    flag_changes,
    parse_time,
    problem_status,
    sequence_outcome,
    window_traffic,
)
from selfheal.demo.platform import Platform, is_ours
from selfheal.demo.report import Report
from selfheal.demo.timeline import Timeline
from selfheal.demo.traffic import Sample
from selfheal.demo.website import FLAG_NAME

OPEN = "OPEN"
SEQUENCE_OUTCOMES = ("remediated", "restored")

__all__ = ["Watcher", "parse_time", "problem_id", "sequence_context", "sequence_outcome"]


def problem_id(problem: dict[str, Any]) -> str:
    return str(problem.get("problemId") or problem.get("id") or problem.get("PID") or "")


def sequence_context(sequence: dict[str, Any]) -> str:
    return str(
        sequence.get("shkeptncontext")
        or sequence.get("keptnContext")
        or sequence.get("context")
        or ""
    )


class Watcher:
    def __init__(
        self,
        platform: Platform,
        timeline: Timeline,
        *,
        samples: list[Sample],
        say: Callable[[str], None] = lambda _m: None,
    ) -> None:
        self.platform = platform
        self.timeline = timeline
        self.samples = samples
        self.say = say
        self.record = ServerRecord(fault_at=timeline.fault_at, samples=samples)
        self.comments: list[dict[str, Any]] = []
        self._mitigated_events: list[dict[str, Any]] = []
        self.problems_before_fault: list[str] = []
        """Our problems already open when the fault began (the run did not start healthy)."""

    @staticmethod
    def new_timeline() -> Timeline:
        return Timeline()

    @property
    def problem(self) -> dict[str, Any] | None:
        return self.record.problem

    @property
    def sequence(self) -> dict[str, Any] | None:
        return self.record.sequence

    @property
    def events(self) -> list[dict[str, Any]]:
        return self.record.events

    @property
    def flag_on(self) -> bool:
        changes = flag_changes(self.record)
        return bool(changes) and changes[-1][1]

    @property
    def restoring(self) -> bool:
        """The platform keeps the problem open as *mitigated* and restores by itself."""
        problem = self.record.problem or {}
        return (
            problem.get("mitigated") is True
            or any(self.timeline.reached(s) for s in ("problem_mitigated", "origin_verified"))
            or self.timeline.reached("restore_started")
            or any(e.get("type") in RESTORE_EVENTS for e in self.record.events)
        )

    @property
    def mitigated(self) -> bool:
        """Traffic is on the fallback and the platform has said what it did about it."""
        t = self.timeline
        basics = all(t.reached(s) for s in ("problem_opened", "flag_on", "first_cdn_response"))
        if not basics or not self.comments:
            return False
        if self.restoring:
            return True
        return t.reached("problem_resolved") and t.reached("sequence_finished")

    @property
    def restored(self) -> bool:
        t = self.timeline
        return t.reached("flag_off") and t.reached("problem_resolved")

    @property
    def closed(self) -> bool:
        """Every milestone of the loop seen (for a restoring platform: both halves)."""
        if not self.mitigated:
            return False
        return self.restored if self.restoring else True

    def fault_set(self, at: float) -> None:
        self.record.fault_at = at
        self.timeline.fault_at = at

    def fault_cleared(self, at: float) -> None:
        self.record.fault_cleared_at = at
        self._rebuild()

    def _rebuild(self) -> None:
        for step in apply(self.record, self.timeline):
            secs = self.timeline.seconds(step)
            label = step.replace("_", " ")
            note = self.timeline.notes.get(step, "")
            self.say(f"+{secs:.2f}s {label} {note}".rstrip() if secs is not None else label)

    async def poll(self) -> None:
        await self._poll_problem()
        self.record.flag_events = await self.platform.flag_events(FLAG_NAME)
        await self._poll_sequence()
        if self.record.problem is not None:
            self.comments = await self.platform.comments(problem_id(self.record.problem))
        self._rebuild()

    async def _poll_problem(self) -> None:
        fault_at = self.record.fault_at or 0.0
        ours = [p for p in await self.platform.problems() if is_ours(p)]
        after: list[tuple[float, dict[str, Any]]] = []
        before = []
        for p in ours:
            start = parse_time(p.get("startTime"))
            if start is None:
                continue
            if start >= fault_at:
                after.append((start, p))
                continue
            end = parse_time(p.get("endTime"))
            if problem_status(p) not in RESOLVED_STATES or (end is not None and end > fault_at):
                before.append(str(p.get("displayId") or problem_id(p)))
        self.problems_before_fault = sorted(set(before))
        if after:
            # The first problem opened after the fault is the one the fault caused.
            self.record.problem = min(after, key=lambda pair: pair[0])[1]

    async def _poll_sequence(self) -> None:
        fault_at = self.record.fault_at or 0.0
        sequences = [
            s
            for s in await self.platform.sequences()
            if "remediation" in str(s.get("name", ""))
            and (parse_time(s.get("created") or s.get("time")) or fault_at) >= fault_at
        ]
        if not sequences:
            return
        pid = problem_id(self.record.problem) if self.record.problem else ""
        for_problem = [s for s in sequences if pid and pid in str(s.get("problemURL") or "")]
        sequence = min(
            for_problem or sequences,
            key=lambda s: parse_time(s.get("created") or s.get("time")) or 0.0,
        )
        self.record.sequence = sequence
        context = sequence_context(sequence)
        events = await self.platform.events(context) if context else []
        problem = self.record.problem
        if (
            problem is not None
            and self.restoring
            and not any(about(e, problem) for e in self._mitigated_events)
        ):
            # The monitor's mitigated event carries the problem's id but no keptnContext.
            self._mitigated_events = await self.platform.events_of_type(PROBLEM_MITIGATED)
        self.record.events = events + self._mitigated_events

    def problem_summary(self) -> str:
        if self.problem is None:
            return "none"
        status = problem_status(self.problem)
        if status == OPEN and self.timeline.reached("problem_mitigated"):
            status = "OPEN (mitigated)"
        return (
            f"{status} {self.problem.get('displayId', '')} {self.problem.get('title', '')}".strip()
        )

    def sequence_summary(self) -> str:
        if self.sequence is None:
            return "-"
        state = self.sequence.get("state", "?")
        outcome = sequence_outcome(self.sequence)
        return f"{self.sequence.get('name', 'remediation')}: {state}" + (
            f" ({outcome})" if outcome else ""
        )

    def links(self, base_url: str) -> dict[str, str]:
        """This run's own problem and sequence pages (the one link builder, core/pages.py)."""
        out = {}
        if self.problem is not None and problem_id(self.problem):
            out["problem"] = pages.absolute(base_url, pages.problem(problem_id(self.problem)))
        if self.sequence is not None and sequence_context(self.sequence):
            out["sequence"] = pages.absolute(
                base_url, pages.sequence(sequence_context(self.sequence))
            )
        return out

    async def verify(
        self, report: Report, *, load_stopped_at: float | None, tail_seconds: float = 1.5
    ) -> None:
        """The end state, each checked through a public API. `load_stopped_at`: when the
        load generator stopped sending; "the last responses" are the ones before that."""
        t = self.timeline
        report.check(
            "problem opened", t.reached("problem_opened"), t.notes.get("problem_opened", "")
        )
        report.check(
            "action triggered", t.reached("action_triggered"), t.notes.get("action_triggered", "")
        )
        end = load_stopped_at if load_stopped_at is not None else 0.0
        tail = [s for s in self.samples if s.sent_at >= end - tail_seconds and s.status]
        flag = await self.platform.flag_enabled(FLAG_NAME)
        if self.restoring and t.reached("fault_cleared"):
            report.check("flag on during the fault", t.reached("flag_on"))
            report.check("fault cleared", True, f"{t.seconds('fault_cleared')} s after onset")
            report.check("origin verified", t.reached("origin_verified"))
            report.check("flag off after the restore", not flag and t.reached("flag_off"))
            app_ok = bool(tail) and all(s.served_by == "app" and s.ok for s in tail)
            report.check("traffic back on the app", app_ok, f"last {len(tail)} responses")
        else:
            report.check("flag on", flag, f"{FLAG_NAME} in production, via the admin API")
            cdn_ok = bool(tail) and all(s.served_by == "cdn" and s.ok for s in tail)
            detail = f"last {len(tail)} responses"
            attempts = restore_attempts(self.events) if self.restoring else []
            if not cdn_ok and tail and attempts and attempts[-1].breached_at is None:
                # the fault is kept and a restore attempt was letting some users back on the
                # origin as the load stopped: the others are on the CDN
                cdn_ok = all(s.served_by == "app" or (s.served_by == "cdn" and s.ok) for s in tail)
                app = sum(1 for s in tail if s.served_by == "app")
                detail += f", {app} of them from the origin during a restore attempt"
            report.check("traffic served by the CDN", cdn_ok, detail)
        if self.restoring and not t.reached("fault_cleared"):
            report.check("problem mitigated", t.reached("problem_mitigated"), "fault kept")
        else:
            report.check("problem resolved", t.reached("problem_resolved"))
        texts = [str(c.get("message") or c.get("content") or "") for c in self.comments]
        report.comments = texts
        report.check("comments on the problem", bool(texts), f"{len(texts)} comments")
        outcome = sequence_outcome(self.sequence) if self.sequence else None
        wanted = SEQUENCE_OUTCOMES if self.restoring else ("remediated",)
        if self.restoring and not t.reached("fault_cleared"):
            # the fault is kept: the sequence stays open while its restore waits for the origin
            report.check(
                "sequence holding the fallback",
                outcome is None or outcome in wanted,
                outcome or (f"{self.sequence_summary()}" if self.sequence else "no sequence seen"),
            )
        else:
            report.check(
                f"sequence {'finished' if self.restoring else 'remediated'}",
                outcome in wanted,
                outcome or (f"{self.sequence_summary()}" if self.sequence else "no sequence seen"),
            )
        if self.problems_before_fault:
            report.invalid.append(
                "problems already open before the fault: " + ", ".join(self.problems_before_fault)
            )
        report.problem = self.problem or {}
        report.sequence = self.sequence or {}
        report.restoring = self.restoring
        started = t.at.get("restore_started")
        if started is not None:
            # until the restore finished: its last step (everyone on the origin) holds after
            # the flag went off, and a breach there still serves errors
            stop = restore_finished_at(self.events) or end
            attempts = restore_attempts(self.events)
            report.restore_traffic = {
                **window_traffic(self.samples, started, stop),
                "attempts": len(attempts),
                "breaches": sum(1 for a in attempts if a.breached_at is not None),
            }
