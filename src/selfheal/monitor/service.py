"""`MonitorService`: the monitor's public face for HTTP, the CLI and other contexts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from dataclasses import replace
from typing import Any

from selfheal.core import Clock, Conflict, InvalidInput, new_id
from selfheal.monitor.declarations import parse_service
from selfheal.monitor.errors import CommentNotFound, ProblemNotFound, ServiceNotFound
from selfheal.monitor.intake import ExternalAlert
from selfheal.monitor.leaders import LeaderElection
from selfheal.monitor.notifications import OPEN_T, RESOLVED_T, Notifier
from selfheal.monitor.probes import HttpxProber, ProbeOutcome, Prober, probe_once
from selfheal.monitor.problems import (
    CLOSED,
    OPEN,
    RESOLVED,
    Comment,
    CommentStore,
    Delivery,
    Problem,
    ProblemQuery,
    ProblemStore,
    new_problem,
)
from selfheal.monitor.samples import SampleRecorder, SampleStore, series_between
from selfheal.monitor.services import ProbeSpec, ServiceSpec
from selfheal.monitor.slis import SliSeries, Window
from selfheal.monitor.sources import Fetcher, open_source
from selfheal.monitor.tracking import ProblemTracker
from selfheal.monitor.watchers import Watcher

log = logging.getLogger(__name__)
SCAN_LIMIT = 100_000
"""Problems read for a `problemSelector` with criteria checked one by one (newest first)."""
SLI_NAMES = (
    "failure_rate",
    "response_time_p50",
    "response_time_p95",
    "response_time_p99",
    "throughput",
    "problem_open",
)
MAX_COMMENT = 10_000
SCAN_POINTS = 100_000
"""Samples read at most to rebuild a series on a replica that does not lead it."""
CAS_ATTEMPTS = 3


class MonitorService:
    def __init__(
        self,
        *,
        store: ProblemStore,
        comments: CommentStore,
        notifier: Notifier,
        fetcher: Fetcher,
        leader: LeaderElection,
        clock: Clock,
        sensitivity: str = "medium",
        timeout: float = 2.0,
        max_points: int = 4000,
        hold_seconds: float = 60.0,
        reopen_seconds: float = 300.0,
        samples: SampleStore | None = None,
        recorder: SampleRecorder | None = None,
        prober: Prober | None = None,
    ) -> None:
        self.store = store
        self.prober: Prober = prober or HttpxProber()
        """Sends the origin probes (`probe_origin`)."""
        self.samples = samples
        """The shared SLI samples: read by a replica that does not lead the service."""
        self.recorder = recorder
        self._comments = comments
        self.notifier = notifier
        self.fetcher = fetcher
        self.leader = leader
        self.clock = clock
        self.sensitivity = sensitivity
        self.timeout = timeout
        self.max_points = max_points
        self.tracker = ProblemTracker(
            store,
            notifier,
            hold_seconds=hold_seconds,
            reopen_seconds=reopen_seconds,
            note=self._note,
        )
        self.watchers: dict[str, Watcher] = {}
        self.raw: dict[str, dict[str, Any]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.led: set[str] = set()
        """Services this replica led at its last tick of them."""

    # services ---------------------------------------------------------------------------
    def apply(self, raw_services: list[dict[str, Any]]) -> list[ServiceSpec]:
        """Validate every declaration first, then add or replace them all (never half)."""
        specs = [parse_service(r, f"services[{i}]") for i, r in enumerate(raw_services)]
        for spec, raw in zip(specs, raw_services, strict=True):
            self.register(spec, raw)
        return specs

    def register(self, spec: ServiceSpec, raw: dict[str, Any] | None = None) -> Watcher:
        old = self.watchers.get(spec.name)
        watcher = Watcher(
            spec,
            self.fetcher,
            self.tracker,
            sensitivity=self.sensitivity,
            timeout=self.timeout,
            max_points=self.max_points,
            record=self.recorder.add if self.recorder is not None else None,
        )
        if old is not None and old.spec.source == spec.source:
            watcher.series = old.series
        self.watchers[spec.name] = watcher
        self.raw[spec.name] = raw or {}
        return watcher

    def use_fetcher(self, fetcher: Fetcher) -> None:
        """Read every service (declared now or later) through `fetcher`."""
        self.fetcher = fetcher
        for watcher in self.watchers.values():
            watcher.source = open_source(watcher.spec, fetcher, timeout=self.timeout)

    def remove(self, name: str) -> None:
        if self.watchers.pop(name, None) is None:
            raise ServiceNotFound(f"no monitored service {name!r}")
        self.raw.pop(name, None)
        self.led.discard(name)

    def watcher(self, name: str) -> Watcher:
        try:
            return self.watchers[name]
        except KeyError:
            raise ServiceNotFound(f"no monitored service {name!r}") from None

    def status(self) -> list[dict[str, Any]]:
        return [w.describe() for w in self.watchers.values()]

    async def tick(self, name: str | None = None) -> None:
        """One scrape-and-detect step now, for one service or all (if we lead them)."""
        for service in [name] if name else list(self.watchers):
            watcher = self.watcher(service)
            if not await self.leader.acquire(service):
                self.led.discard(service)
                continue
            lock = self._locks.setdefault(service, asyncio.Lock())
            async with lock:
                if service not in self.led:
                    await self._take_over(watcher)
                    self.led.add(service)
                await watcher.tick(self.clock.now())

    async def _take_over(self, watcher: Watcher) -> None:
        """This replica now leads the service: adopt its problem state from the database
        (another replica may have opened, resolved or closed problems meanwhile). The
        detection series starts from this replica's own scrapes, as after a restart."""
        await self.tracker.resync(watcher.spec.name)

    async def series(self, name: str, start: float, end: float) -> SliSeries:
        """The SLI series of a service over a range: the local one where this replica
        leads the service and has scraped since `start`, else rebuilt from the shared
        samples (a replica that does not lead it, or a range before this leader began)."""
        local = self.watcher(name).series
        if self.samples is None:
            return local
        first = local.first_time
        if name in self.led and first is not None and first <= start:
            return local
        stored = await series_between(self.samples, name, start, end, SCAN_POINTS)
        return stored if name not in self.led or len(stored) >= len(local) else local

    # problems ---------------------------------------------------------------------------
    async def get_problem(self, problem_id: str) -> Problem:
        problem = await self.store.get(problem_id)
        if problem is None:
            raise ProblemNotFound(f"no problem {problem_id!r}")
        return problem

    async def get_problems(self, keys: Collection[str]) -> dict[str, Problem]:
        """The problems `keys` name (as `get_problem` takes them), in one query; unknown keys
        are left out."""
        return await self.store.get_many(keys)

    async def list_problems(
        self,
        *,
        status: str | None = None,
        service: str | None = None,
        since: float | None = None,
        limit: int = 50,
        offset: int = 0,
        statuses: tuple[str, ...] = (),
        where: Callable[[Problem], bool] | None = None,
    ) -> tuple[list[Problem], int]:
        """`status` is one state; `statuses` any of several (Dynatrace's CLOSED is
        `(RESOLVED, CLOSED)`). `where` is checked problem by problem (a `problemSelector`'s
        other criteria), then the page is cut."""
        for wanted in (status, *statuses):
            if wanted is not None and wanted not in (OPEN, RESOLVED, CLOSED):
                raise InvalidInput("must be OPEN, RESOLVED or CLOSED", field="status")
        if not 1 <= limit <= 500:
            raise InvalidInput("must be between 1 and 500", field="pageSize")
        if where is None:
            return await self.store.find(
                ProblemQuery(status, service, since, limit, max(0, offset), tuple(statuses))
            )
        everything, _ = await self.store.find(
            ProblemQuery(status, service, since, SCAN_LIMIT, 0, tuple(statuses))
        )
        chosen = [p for p in everything if where(p)]
        start = max(0, offset)
        return chosen[start : start + limit], len(chosen)

    async def add_comment(
        self, problem_id: str, message: str, *, context: str = "selfheal", author: str = "selfheal"
    ) -> Comment:
        _check_message(message)
        problem = await self.get_problem(problem_id)
        comment = Comment(
            new_id(),
            problem.id,
            message,
            context or "selfheal",
            author or "selfheal",
            self.clock.now(),
        )
        await self._comments.add_comment(comment)
        return comment

    async def comments(self, problem_id: str) -> list[Comment]:
        problem = await self.get_problem(problem_id)
        return await self._comments.comments(problem.id)

    async def get_comment(self, problem_id: str, comment_id: str) -> Comment:
        for comment in await self.comments(problem_id):
            if comment.id == comment_id:
                return comment
        raise CommentNotFound(f"no comment {comment_id!r} on problem {problem_id!r}")

    async def update_comment(
        self, problem_id: str, comment_id: str, message: str, *, context: str | None = None
    ) -> Comment:
        """Dynatrace's PUT …/comments/{id}: a new message (and context), same id and author."""
        _check_message(message)
        old = await self.get_comment(problem_id, comment_id)
        new = replace(old, message=message, context=context or old.context)
        if not await self._comments.update_comment(new):
            raise CommentNotFound(f"no comment {comment_id!r} on problem {problem_id!r}")
        return new

    async def delete_comment(self, problem_id: str, comment_id: str) -> None:
        problem = await self.get_problem(problem_id)
        if not await self._comments.delete_comment(problem.id, comment_id):
            raise CommentNotFound(f"no comment {comment_id!r} on problem {problem_id!r}")

    async def close_problem(
        self, problem_id: str, *, message: str | None = None, author: str = "selfheal"
    ) -> Problem:
        """Manual close: RESOLVED notification, and no reopen for this problem."""
        for _ in range(CAS_ATTEMPTS):
            problem = await self.get_problem(problem_id)
            if problem.status != OPEN:
                return problem
            now = self.clock.now()
            closed = await self.store.save(
                problem.with_(status=CLOSED, end=now, updated=now),
                lambda p: self.notifier.events(p, RESOLVED_T),
            )
            if closed is not None:
                break
        else:
            raise Conflict(f"problem {problem_id!r} keeps changing; try again")
        self.tracker.forget(closed)
        if message:
            await self.add_comment(closed.id, message, context="close", author=author)
        await self.notifier.deliver(closed, RESOLVED_T)
        return closed

    async def _note(self, problem: Problem, message: str) -> None:
        await self.add_comment(problem.id, message, context="restore", author="selfheal")

    # mitigation (the control plane's restore drives these) --------------------------------
    async def problem_status(self, problem_id: str) -> tuple[str, float | None] | None:
        """(OPEN|RESOLVED|CLOSED, mitigated since) of a problem, None if unknown here."""
        problem = await self.store.get(problem_id)
        if problem is None:
            return None
        return problem.status, problem.mitigated_since

    async def mask_problem(self, problem_id: str, flag: str, context: str | None = None) -> bool:
        """A remediation switched `flag` on for this problem and will restore the origin
        itself (`context`: that remediation's Keptn context, carried by the mitigated event):
        when the SLI recovers, mitigate instead of resolving. False if the problem
        is unknown here or no longer open."""
        for _ in range(CAS_ATTEMPTS):
            problem = await self.store.get(problem_id)
            if problem is None or problem.status != OPEN:
                return False
            if problem.masked_by == flag and problem.masked_context == context:
                return True
            saved = await self.store.save(problem.with_(masked_by=flag, masked_context=context))
            if saved is not None:
                self.tracker.adopt(saved)
                return True
        raise Conflict(f"problem {problem_id!r} keeps changing; try again")

    async def restore_problem(self, problem_id: str, message: str) -> Problem | None:
        """The origin serves everyone again: RESOLVED (with its notification) and `message`
        as a comment. A problem already resolved or closed is left as it is."""
        for _ in range(CAS_ATTEMPTS):
            problem = await self.store.get(problem_id)
            if problem is None:
                return None
            if problem.status != OPEN:
                return problem
            now = self.clock.now()
            resolved = await self.store.save(
                problem.with_(status=RESOLVED, end=now, updated=now),
                lambda p: self.notifier.events(p, RESOLVED_T),
            )
            if resolved is not None:
                break
        else:
            raise Conflict(f"problem {problem_id!r} keeps changing; try again")
        self.tracker.adopt(resolved)
        await self.add_comment(resolved.id, message, context="restore", author="selfheal")
        await self.notifier.deliver(resolved, RESOLVED_T)
        return resolved

    async def deliveries(self, problem_id: str | None = None, limit: int = 100) -> list[Delivery]:
        if problem_id is not None:
            problem_id = (await self.get_problem(problem_id)).id
        return await self.notifier.deliveries(problem_id, limit)

    # intake -----------------------------------------------------------------------------
    async def ingest(self, alerts: list[ExternalAlert]) -> list[dict[str, str]]:
        """Open or resolve problems from another monitor; re-sent alerts change nothing."""
        results: list[dict[str, str]] = []
        for alert in alerts:
            existing = await self.store.get(alert.key)
            if alert.firing:
                if existing is not None:
                    results.append(
                        {"key": alert.key, "action": "duplicate", "problemId": existing.id}
                    )
                    continue
                problem = await self.store.create(
                    new_problem(
                        title=alert.title,
                        service=alert.service,
                        severity=alert.severity,
                        start=self.clock.now(),
                        tags=alert.tags,
                        evidence=[
                            {"detector": alert.source, "time": alert.start, **alert.evidence}
                        ],
                        source=alert.source,
                        external_key=alert.key,
                        pid=alert.pid,
                    ),
                    lambda p: self.notifier.events(p, OPEN_T),
                )
                await self.notifier.deliver(problem, OPEN_T)
                results.append({"key": alert.key, "action": "opened", "problemId": problem.id})
            elif existing is not None and existing.status == OPEN:
                now = self.clock.now()
                resolved = await self.store.save(
                    existing.with_(status=RESOLVED, end=now, updated=now),
                    lambda p: self.notifier.events(p, RESOLVED_T),
                )
                if resolved is None:  # changed meanwhile (closed by a user): nothing to do
                    results.append(
                        {"key": alert.key, "action": "ignored", "problemId": existing.id}
                    )
                    continue
                await self.notifier.deliver(resolved, RESOLVED_T)
                results.append({"key": alert.key, "action": "resolved", "problemId": resolved.id})
            else:
                results.append(
                    {
                        "key": alert.key,
                        "action": "ignored",
                        "problemId": existing.id if existing else "",
                    }
                )
        return results

    # origin verification ----------------------------------------------------------------
    def _scoped(self, project: str, stage: str, service: str) -> Watcher | None:
        return self.find_service({"project": project, "stage": stage, "service": service})

    def probe_configured(self, project: str, stage: str, service: str) -> bool:
        """The service (by its `keptn_*` tags) has a `probe:` block in monitor.yaml."""
        return self.probe_settings(project, stage, service) is not None

    def probe_settings(self, project: str, stage: str, service: str) -> ProbeSpec | None:
        """The service's `probe:` block (`interval_seconds`, `consecutive`, … for the caller
        that times and counts the probes), or None."""
        watcher = self._scoped(project, stage, service)
        return None if watcher is None else watcher.spec.probe

    async def probe_origin(self, project: str, stage: str, service: str) -> ProbeOutcome:
        """ONE request per the service's `probe:` block, passing the kill switch with the
        configured bypass; counted in no SLI. Consecutive successes are the caller's to count."""
        watcher = self._scoped(project, stage, service)
        if watcher is None or watcher.spec.probe is None:
            raise ServiceNotFound(f"no probe configured for {project}/{stage}/{service}")
        return await probe_once(watcher.spec.probe, self.prober, self.clock)

    async def origin_failure_rate(
        self, project: str, stage: str, service: str, since: float
    ) -> tuple[int, int] | None:
        """(requests, failures) served by the origin since `since`, from the scraped series
        sliced by `origin_slice`; None without a slice or without data. Any replica answers
        (the leader from its own series, the others from the shared samples)."""
        watcher = self._scoped(project, stage, service)
        if watcher is None or watcher.spec.origin_slice is None:
            return None
        window = await self.window(watcher.spec.name, since, self.clock.now())
        if window is None or window.origin is None:
            return None
        return round(window.origin[0]), round(window.origin[1])

    # SLIs -------------------------------------------------------------------------------
    def find_service(self, scope_tags: dict[str, str]) -> Watcher | None:
        wanted = _keptn_tags(scope_tags)
        for watcher in self.watchers.values():
            tags = {**watcher.spec.tags, "name": watcher.spec.name}
            if all(tags.get(k) == v for k, v in wanted.items()):
                return watcher
        return None

    async def window(self, name: str, start: float, end: float) -> Window | None:
        return (await self.series(name, start, end)).between(start, end)

    async def sli(
        self, scope_tags: dict[str, str], name: str, start: float, end: float
    ) -> float | None:
        """`failure_rate` in percent (0..100), `response_time_pNN` in ms, `throughput` in
        req/s, `problem_open` 1/0 (an open problem that is mitigated at `end` counts 0); None
        when the service or the data is unknown."""
        if name not in SLI_NAMES:
            return None
        watcher = self.find_service(scope_tags)
        if name == "problem_open":
            wanted = _keptn_tags(scope_tags)
            service = watcher.spec.name if watcher else wanted.get("keptn_service")
            if service is None:
                return None
            problems, _ = await self.store.find(ProblemQuery(service=service, limit=500))
            if watcher is None:  # a problem from Alertmanager or Dynatrace: matched by its tags
                problems = [p for p in problems if _keptn_tags(p.tags).items() >= wanted.items()]
                if not problems:
                    return None
            # a problem mitigated by then (its kill switch's fallback masks it; the restore owns
            # the rest) hurts no user: the remediation that masked it did its job
            return (
                1.0
                if any(
                    p.start <= end
                    and (p.end is None or p.end > end)
                    and not (p.mitigated_since is not None and p.mitigated_since <= end)
                    for p in problems
                )
                else 0.0
            )
        if watcher is None:
            return None
        w = await self.window(watcher.spec.name, start, end)
        if w is None:
            return None
        if name == "failure_rate":
            return None if w.failure_rate is None else w.failure_rate * 100
        if name == "throughput":
            return w.throughput
        q = w.quantile(int(name.rsplit("_p", 1)[1]) / 100)
        return None if q is None else q * 1000


def _keptn_tags(tags: dict[str, str]) -> dict[str, str]:
    """Scope keys `project/stage/service` as the `keptn_*` tags they stand for."""
    wanted = dict(tags)
    for short in ("project", "stage", "service"):
        if short in wanted:
            wanted.setdefault(f"keptn_{short}", wanted.pop(short))
    return wanted


def _check_message(message: object) -> None:
    if not isinstance(message, str) or not message.strip():
        raise InvalidInput("a comment needs a message", field="message")
    if len(message) > MAX_COMMENT:
        raise InvalidInput(f"at most {MAX_COMMENT} characters", field="message")
