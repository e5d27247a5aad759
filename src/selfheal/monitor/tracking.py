"""The problem lifecycle of monitored services: open, update, resolve, reopen.

Flapping guard: an open problem resolves only after every detector has been healthy for
`hold_seconds`; a breach within `reopen_seconds` after a resolve reopens the same problem
(same PID, `occurrence` + 1) instead of opening a new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from selfheal.monitor.detectors import Verdict
from selfheal.monitor.notifications import OPEN_T, RESOLVED_T, UPDATE_T, Notifier
from selfheal.monitor.problems import (
    OPEN,
    RESOLVED,
    Problem,
    ProblemQuery,
    ProblemStore,
    new_problem,
)
from selfheal.monitor.services import ServiceSpec


@dataclass
class _State:
    open: Problem | None = None
    healthy_since: float | None = None
    last_resolved: Problem | None = None


def _evidence(v: Verdict, now: float) -> dict[str, Any]:
    return {"detector": v.kind, "title": v.title, "time": now, **v.evidence}


class ProblemTracker:
    def __init__(
        self, store: ProblemStore, notifier: Notifier, *, hold_seconds: float, reopen_seconds: float
    ) -> None:
        self.store = store
        self.notifier = notifier
        self.hold = hold_seconds
        self.reopen = reopen_seconds
        self._states: dict[str, _State] = {}

    def state(self, service: str) -> _State:
        return self._states.setdefault(service, _State())

    def is_open(self, service: str) -> bool:
        return self.state(service).open is not None

    async def load(self) -> None:
        """Resume after a restart: open problems of our own detection stay tracked (they
        resolve once healthy for the hold time, without a second OPEN), and the latest
        resolved one per service can still reopen within `reopen_seconds`."""
        problems, _ = await self.store.find(ProblemQuery(status=OPEN, limit=10_000))
        for p in problems:
            if p.source == "selfheal":
                self.state(p.service).open = p
        resolved, _ = await self.store.find(ProblemQuery(status=RESOLVED, limit=500))
        for p in resolved:  # newest first
            st = self.state(p.service)
            if p.source == "selfheal" and st.open is None and st.last_resolved is None:
                st.last_resolved = p

    def forget(self, problem: Problem) -> None:
        """A manual close: stop tracking without reopening it later."""
        st = self.state(problem.service)
        if st.open is not None and st.open.id == problem.id:
            st.open = None
            st.healthy_since = None
        if st.last_resolved is not None and st.last_resolved.id == problem.id:
            st.last_resolved = None

    async def observe(
        self, spec: ServiceSpec, verdicts: list[Verdict], now: float
    ) -> Problem | None:
        breached = [v for v in verdicts if v.breached]
        st = self.state(spec.name)
        if st.open is not None:
            problem = st.open
            if breached:
                st.healthy_since = None
                known = {e.get("detector") for e in problem.evidence}
                fresh = [v for v in breached if v.kind not in known]
                if fresh:
                    problem = problem.with_(
                        evidence=[*problem.evidence, *(_evidence(v, now) for v in fresh)],
                        updated=now,
                    )
                    await self.store.save(problem)
                    st.open = problem
                    await self.notifier.notify(problem, UPDATE_T)
                return problem
            if st.healthy_since is None:
                st.healthy_since = now
            if now - st.healthy_since >= self.hold:
                problem = problem.with_(status=RESOLVED, end=now, updated=now)
                await self.store.save(problem)
                st.open, st.last_resolved, st.healthy_since = None, problem, None
                await self.notifier.notify(problem, RESOLVED_T)
            return problem
        if not breached:
            return None
        first = breached[0]
        last = st.last_resolved
        if last is not None and last.end is not None and now - last.end <= self.reopen:
            current = await self.store.get(last.id)
            if current is not None and current.status == RESOLVED:
                problem = current.with_(
                    status=OPEN,
                    end=None,
                    occurrence=current.occurrence + 1,
                    evidence=[*current.evidence, *(_evidence(v, now) for v in breached)],
                    updated=now,
                )
                await self.store.save(problem)
                st.open, st.last_resolved = problem, None
                await self.notifier.notify(problem, OPEN_T)
                return problem
        problem = await self.store.create(
            new_problem(
                title=first.title,
                service=spec.name,
                impacted_entity=spec.tags.get("keptn_service") or spec.name,
                severity=first.severity,
                start=now,
                tags=spec.tags,
                evidence=[_evidence(v, now) for v in breached],
            )
        )
        st.open, st.last_resolved, st.healthy_since = problem, None, None
        await self.notifier.notify(problem, OPEN_T)
        return problem
