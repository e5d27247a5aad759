"""Watches the loop through the platform's APIs and marks each milestone the first time it is
seen; then checks the end state a user would check by hand."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from selfheal.demo.platform import Platform, is_ours
from selfheal.demo.report import Report
from selfheal.demo.timeline import Timeline
from selfheal.demo.traffic import Sample
from selfheal.demo.website import FLAG_NAME

OPEN = "OPEN"
RESOLVED_STATES = ("CLOSED", "RESOLVED")


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


def problem_id(problem: dict[str, Any]) -> str:
    return str(problem.get("problemId") or problem.get("id") or problem.get("PID") or "")


def problem_status(problem: dict[str, Any]) -> str:
    return str(problem.get("status") or problem.get("State") or "").upper()


def sequence_context(sequence: dict[str, Any]) -> str:
    return str(
        sequence.get("shkeptncontext")
        or sequence.get("keptnContext")
        or sequence.get("context")
        or ""
    )


def sequence_outcome(sequence: dict[str, Any]) -> str | None:
    if sequence.get("outcome"):
        return str(sequence["outcome"])
    for stage in sequence.get("stages") or []:
        if isinstance(stage, dict) and stage.get("outcome"):
            return str(stage["outcome"])
    return None


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
        self.problem: dict[str, Any] | None = None
        self.sequence: dict[str, Any] | None = None
        self.events: list[dict[str, Any]] = []
        self.comments: list[dict[str, Any]] = []
        self.flag_on = False
        self._scanned = 0

    @staticmethod
    def new_timeline() -> Timeline:
        return Timeline()

    @property
    def closed(self) -> bool:
        """Every milestone seen, the sequence finished, and feedback on the problem."""
        needed = ("problem_opened", "flag_on", "first_cdn_response", "problem_resolved")
        return (
            all(self.timeline.reached(step) for step in needed)
            and self.timeline.reached("sequence_finished")
            and bool(self.comments)
        )

    def _mark(self, step: str, when: float, note: str = "") -> None:
        if self.timeline.mark(step, when, note):
            secs = self.timeline.seconds(step)
            self.say(f"+{secs:.2f}s {step.replace('_', ' ')} {note}".rstrip())

    async def poll(self) -> None:
        now = time.time()
        self._scan_samples()
        await self._poll_problem(now)
        if not self.flag_on and await self.platform.flag_enabled(FLAG_NAME):
            self.flag_on = True
            self._mark("flag_on", now)
        await self._poll_sequence(now)
        if self.problem is not None:
            self.comments = await self.platform.comments(problem_id(self.problem))

    def _scan_samples(self) -> None:
        fault_at = self.timeline.fault_at or 0.0
        for sample in self.samples[self._scanned :]:
            if sample.served_by == "cdn" and sample.ok and sample.sent_at >= fault_at:
                self._mark("first_cdn_response", sample.done_at)
        self._scanned = len(self.samples)

    async def _poll_problem(self, now: float) -> None:
        fault_at = self.timeline.fault_at or 0.0
        candidates = [
            p
            for p in await self.platform.problems()
            if is_ours(p) and (parse_time(p.get("startTime")) or now) >= fault_at - 30
        ]
        if not candidates:
            return
        problem = max(candidates, key=lambda p: parse_time(p.get("startTime")) or 0.0)
        self.problem = problem
        status = problem_status(problem)
        title = str(problem.get("title") or problem.get("ProblemTitle") or "")
        if status == OPEN or status in RESOLVED_STATES:
            self._mark("problem_opened", now, f"{problem.get('displayId', '')} {title}".strip())
        if status in RESOLVED_STATES:
            self._mark("problem_resolved", now)

    async def _poll_sequence(self, now: float) -> None:
        sequences = [
            s for s in await self.platform.sequences() if "remediation" in str(s.get("name", ""))
        ]
        if not sequences:
            return
        sequence = max(
            sequences, key=lambda s: parse_time(s.get("time") or s.get("created")) or 0.0
        )
        self.sequence = sequence
        context = sequence_context(sequence)
        if context and not self.timeline.reached("action_triggered"):
            self.events = await self.platform.events(context)
            for event in self.events:
                if str(event.get("type", "")).endswith(".action.triggered"):
                    action = (event.get("data") or {}).get("action") or {}
                    note = f"{action.get('action', '')} {action.get('value', '')}".strip()
                    self._mark("action_triggered", parse_time(event.get("time")) or now, note)
                    break
        if str(sequence.get("state", "")) == "finished":
            self._mark("sequence_finished", now, sequence_outcome(sequence) or "")

    def problem_summary(self) -> str:
        if self.problem is None:
            return "none"
        return f"{problem_status(self.problem)} {self.problem.get('displayId', '')} {self.problem.get('title', '')}".strip()

    def sequence_summary(self) -> str:
        if self.sequence is None:
            return "-"
        state = self.sequence.get("state", "?")
        outcome = sequence_outcome(self.sequence)
        return f"{self.sequence.get('name', 'remediation')}: {state}" + (
            f" ({outcome})" if outcome else ""
        )

    async def verify(self, report: Report) -> None:
        """The end state, each checked through a public API."""
        t = self.timeline
        report.check(
            "problem opened", t.reached("problem_opened"), t.notes.get("problem_opened", "")
        )
        report.check(
            "action triggered", t.reached("action_triggered"), t.notes.get("action_triggered", "")
        )
        flag = await self.platform.flag_enabled(FLAG_NAME)
        report.check("flag on", flag, f"{FLAG_NAME} in production, via the admin API")
        tail = [s for s in self.samples if s.sent_at >= time.time() - 1.5 and s.status]
        cdn_ok = bool(tail) and all(s.served_by == "cdn" and s.ok for s in tail)
        report.check("traffic served by the CDN", cdn_ok, f"last {len(tail)} responses")
        report.check("problem resolved", t.reached("problem_resolved"))
        texts = [str(c.get("message") or c.get("content") or "") for c in self.comments]
        report.comments = texts
        report.check("comments on the problem", bool(texts), f"{len(texts)} comments")
        outcome = sequence_outcome(self.sequence) if self.sequence else None
        report.check(
            "sequence remediated",
            outcome in ("remediated", "restored"),
            outcome or "no sequence seen",
        )
        report.problem = self.problem or {}
        report.sequence = self.sequence or {}
