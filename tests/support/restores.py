"""Doubles for a restore's ports: the monitor's origin probe (restore contract), its problem
desk, and the kill switch — each records what the restore asked of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from selfheal.control.restore import SwitchMoved
from selfheal.core import CloudEvent


@dataclass(frozen=True)
class Outcome:
    """The fields of the monitor's `ProbeOutcome` a restore reads."""

    ok: bool
    status: int | None = 200
    seconds: float = 0.01
    error: str | None = None
    at: float = 0.0


@dataclass(frozen=True)
class Cadence:
    interval_seconds: float = 5.0
    consecutive: int = 3


@dataclass
class FakeOrigin:
    """Probes answer from `answers` in order, then `healthy`; the origin-served failure
    rate is `rate` ((requests, failures), or None: no slice configured)."""

    healthy: bool = True
    answers: list[bool] = field(default_factory=list)
    rate: tuple[int, int] | None = (0, 0)
    configured: bool = True
    probes: int = 0
    asked_since: list[float] = field(default_factory=list)

    cadence: Cadence = field(default_factory=Cadence)
    """The monitor.yaml probe's `interval_seconds` and `consecutive`."""

    def probe_settings(self, project: str, stage: str, service: str) -> Cadence | None:
        return self.cadence if self.configured else None

    async def probe_origin(self, project: str, stage: str, service: str) -> Outcome:
        self.probes += 1
        ok = self.answers.pop(0) if self.answers else self.healthy
        return Outcome(ok, 200 if ok else 503, error=None if ok else "HTTP 503")

    async def origin_failure_rate(
        self, project: str, stage: str, service: str, since: float
    ) -> tuple[int, int] | None:
        self.asked_since.append(since)
        return self.rate


@dataclass
class FakeDesk:
    """Problems by id: [status, mitigated since]; masks and comments recorded."""

    problems: dict[str, list[Any]] = field(default_factory=dict)
    masked: dict[str, str] = field(default_factory=dict)
    comments: list[tuple[str, str]] = field(default_factory=list)
    resolved: list[tuple[str, str]] = field(default_factory=list)

    def open(self, problem_id: str) -> None:
        self.problems[problem_id] = ["OPEN", None]

    def mitigate(self, problem_id: str, since: float) -> None:
        self.problems[problem_id][1] = since

    async def problem_status(self, problem_id: str) -> tuple[str, float | None] | None:
        found = self.problems.get(problem_id)
        return None if found is None else (found[0], found[1])

    async def mask_problem(self, problem_id: str, flag: str, context: str | None = None) -> bool:
        self.masked[problem_id] = flag
        return True

    async def restore_problem(self, problem_id: str, message: str) -> None:
        if self.problems.get(problem_id, ["?"])[0] == "OPEN":
            self.problems[problem_id] = ["RESOLVED", None]
            self.resolved.append((problem_id, message))

    async def add_comment(
        self, problem_id: str, message: str, *, context: str = "", author: str = ""
    ) -> None:
        self.comments.append((problem_id, message))


@dataclass
class FakeSwitch:
    """A kill switch's fallback share, with every change the restore made."""

    percent: int = 100
    changes: list[tuple[int, str]] = field(default_factory=list)
    audit: list[CloudEvent] = field(default_factory=list)
    """People's changes as the audit log has them (the change events), oldest first."""

    async def set_fallback(
        self,
        flag: str,
        environment: str,
        percent: int,
        *,
        project: str,
        actor: str,
        expect: int | None = None,
    ) -> None:
        if expect is not None and expect != self.percent:
            raise SwitchMoved(self.percent)
        self.percent = percent
        self.changes.append((percent, actor))

    async def fallback_of(self, flag: str, environment: str, *, project: str) -> int | None:
        return self.percent

    async def person_change(
        self, flag: str, environment: str, *, project: str, automation: tuple[str, ...]
    ) -> CloudEvent | None:
        for event in reversed(self.audit):
            if not str(event.payload().get("createdBy") or "").startswith(automation):
                return event
        return None

    @property
    def percents(self) -> list[int]:
        return [p for p, _ in self.changes]
