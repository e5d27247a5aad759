"""The problem lifecycle of monitored services: open, update, resolve, reopen.

Flapping guard: an open problem resolves only after every detector has been healthy for
`hold_seconds`; a breach within `reopen_seconds` after a resolve reopens the same problem
(same PID, `occurrence` + 1) instead of opening a new one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from selfheal.monitor.detectors import Verdict
from selfheal.monitor.notifications import MITIGATED_T, OPEN_T, RESOLVED_T, UPDATE_T, Notifier
from selfheal.monitor.problems import (
    CLOSED,
    OPEN,
    RESOLVED,
    Problem,
    ProblemQuery,
    ProblemStore,
    new_problem,
)
from selfheal.monitor.services import ServiceSpec

log = logging.getLogger(__name__)


@dataclass
class _State:
    open: Problem | None = None
    healthy_since: float | None = None
    last_resolved: Problem | None = None


def _clock(epoch: float) -> str:
    return time.strftime("%H:%M:%S UTC", time.gmtime(epoch))


def _evidence(v: Verdict, now: float) -> dict[str, Any]:
    return {"detector": v.kind, "title": v.title, "time": now, **v.evidence}


class StaleProblem(Exception):
    """A compare-and-set lost: someone else (a user's close, another replica) changed the
    problem since we read it."""


ATTEMPTS = 3
"""Read-decide-write rounds per observation before giving up until the next tick."""


class ProblemTracker:
    """Decides a service's problem transitions. Each change is one compare-and-set on the
    problem's version, written in one transaction with its bus event (the outbox), so a
    problem is never OPEN without its OPEN notification and a stale writer (a leader that
    lost its lease, a tick racing a user's close) never overwrites a newer state: it
    re-reads and decides again."""

    def __init__(
        self,
        store: ProblemStore,
        notifier: Notifier,
        *,
        hold_seconds: float,
        reopen_seconds: float,
        note: Callable[[Problem, str], Awaitable[object]] | None = None,
    ) -> None:
        self.store = store
        self.notifier = notifier
        self.hold = hold_seconds
        self.reopen = reopen_seconds
        self.note = note
        """Writes a comment on a problem (the mitigated/unmasked notes)."""
        self._states: dict[str, _State] = {}

    def state(self, service: str) -> _State:
        return self._states.setdefault(service, _State())

    def is_open(self, service: str) -> bool:
        return self.state(service).open is not None

    def is_mitigated(self, service: str) -> bool:
        problem = self.state(service).open
        return problem is not None and problem.mitigated

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

    async def resync(self, service: str) -> None:
        """Take the service's state from the database (this replica just became its
        leader: another one may have opened, resolved or closed problems meanwhile)."""
        st = self.state(service)
        st.open, st.last_resolved, st.healthy_since = None, None, None
        opened, _ = await self.store.find(ProblemQuery(status=OPEN, service=service, limit=50))
        mine = [p for p in opened if p.source == "selfheal"]
        if mine:
            st.open = mine[0]
            return
        resolved, _ = await self.store.find(
            ProblemQuery(status=RESOLVED, service=service, limit=50)
        )
        mine = [p for p in resolved if p.source == "selfheal"]
        if mine:
            st.last_resolved = mine[0]

    def adopt(self, problem: Problem) -> None:
        """Someone else saved `problem` (a mask, a restore): track the newer copy."""
        st = self.state(problem.service)
        if st.open is not None and st.open.id == problem.id:
            if problem.status == OPEN:
                st.open = problem
            else:
                st.open, st.last_resolved, st.healthy_since = None, problem, None

    def forget(self, problem: Problem) -> None:
        """A manual close: stop tracking without reopening it later."""
        st = self.state(problem.service)
        if st.open is not None and st.open.id == problem.id:
            st.open = None
            st.healthy_since = None
        if st.last_resolved is not None and st.last_resolved.id == problem.id:
            st.last_resolved = None

    async def _reread(self, st: _State, problem: Problem) -> None:
        """After a lost compare-and-set: adopt what the database says about `problem`."""
        current = await self.store.get(problem.id)
        if st.open is not None and st.open.id == problem.id:
            st.open = None
        if st.last_resolved is not None and st.last_resolved.id == problem.id:
            st.last_resolved = None
        if current is None or current.status == CLOSED:
            st.healthy_since = None
            return  # closed by a user: never reopened
        if current.status == OPEN:
            st.open = current
        else:
            st.last_resolved, st.healthy_since = current, None

    async def _note(self, problem: Problem, message: str) -> None:
        if self.note is not None:
            await self.note(problem, message)

    async def _save(self, problem: Problem, transition: str) -> Problem:
        """Compare-and-set the change with its bus event; webhooks once it committed."""
        saved = await self.store.save(problem, lambda p: self.notifier.events(p, transition))
        if saved is None:
            raise StaleProblem(problem.id)
        await self.notifier.deliver(saved, transition)
        return saved

    async def observe(
        self, spec: ServiceSpec, verdicts: list[Verdict], now: float
    ) -> Problem | None:
        st = self.state(spec.name)
        for _ in range(ATTEMPTS):
            tracked = st.open or st.last_resolved
            try:
                return await self._observe(spec, verdicts, now)
            except StaleProblem:
                if tracked is not None:
                    await self._reread(st, tracked)
        log.warning("problem of %s kept changing under us; deciding next tick", spec.name)
        return st.open

    async def _observe(
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
                if problem.mitigated_since is not None:
                    problem = await self._save(
                        problem.with_(
                            mitigated_since=None,
                            evidence=[*problem.evidence, *(_evidence(v, now) for v in fresh)],
                            updated=now,
                        ),
                        UPDATE_T,
                    )
                    st.open = problem
                    await self._note(
                        problem, f"failing again at {_clock(now)}: the fallback no longer masks it"
                    )
                    return problem
                if fresh:
                    problem = await self._save(
                        problem.with_(
                            evidence=[*problem.evidence, *(_evidence(v, now) for v in fresh)],
                            updated=now,
                        ),
                        UPDATE_T,
                    )
                    st.open = problem
                return problem
            if st.healthy_since is None:
                st.healthy_since = now
            if problem.masked_by and now - st.healthy_since >= self.hold:
                if problem.mitigated_since is None:
                    problem = await self._save(
                        problem.with_(mitigated_since=now, updated=now), MITIGATED_T
                    )
                    st.open = problem
                    await self._note(
                        problem,
                        f"mitigated: served by the fallback ({problem.masked_by}) since"
                        f" {_clock(now)}; origin not yet verified",
                    )
                return problem
            if now - st.healthy_since >= self.hold:
                problem = await self._save(
                    problem.with_(status=RESOLVED, end=now, updated=now), RESOLVED_T
                )
                st.open, st.last_resolved, st.healthy_since = None, problem, None
            return problem
        if not breached:
            return None
        first = breached[0]
        last = st.last_resolved
        if last is not None and last.end is not None and now - last.end <= self.reopen:
            current = await self.store.get(last.id)
            if current is not None and current.status == RESOLVED:
                problem = await self._save(
                    current.with_(
                        status=OPEN,
                        end=None,
                        occurrence=current.occurrence + 1,
                        evidence=[*current.evidence, *(_evidence(v, now) for v in breached)],
                        updated=now,
                    ),
                    OPEN_T,
                )
                st.open, st.last_resolved = problem, None
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
            ),
            lambda p: self.notifier.events(p, OPEN_T),
        )
        st.open, st.last_resolved, st.healthy_since = problem, None, None
        await self.notifier.deliver(problem, OPEN_T)
        return problem
