"""Problems, their comments and notification deliveries: domain objects and store seams.

A problem has three names, as in Dynatrace: `id` (the v2 API id), `display_id` ("P-42") and
`pid` (the numeric id Keptn keys on). `occurrence` counts reopenings; with the transition it
makes every notification's id deterministic, so a transition notifies exactly once.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from selfheal.core import CloudEvent

OPEN = "OPEN"
RESOLVED = "RESOLVED"
CLOSED = "CLOSED"


@dataclass(frozen=True, slots=True)
class Comment:
    id: str
    problem_id: str
    message: str
    context: str
    author: str
    created: float


@dataclass(frozen=True, slots=True)
class Problem:
    id: str
    pid: str
    display_id: str
    title: str
    service: str
    impacted_entity: str
    severity: str
    status: str
    start: float
    end: float | None = None
    tags: dict[str, str] = field(default_factory=dict)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    source: str = "selfheal"
    external_key: str | None = None
    occurrence: int = 1
    updated: float = 0.0
    version: int = 1
    """Bumped by every save: a save made from an older version loses (compare-and-set)."""
    masked_by: str | None = None
    """A kill switch a remediation switched on for this problem (with a `restore:` plan): when
    the SLI recovers, the problem is *mitigated* — served by the fallback — not resolved."""
    masked_context: str | None = None
    """The Keptn context of the remediation that masked it (its events carry it)."""
    mitigated_since: float | None = None
    """Since when the fallback has masked the problem (None: not mitigated). The status stays
    OPEN (Dynatrace's values are unchanged) until the origin is restored or a person closes it."""

    @property
    def is_open(self) -> bool:
        return self.status == OPEN

    @property
    def mitigated(self) -> bool:
        return self.status == OPEN and self.mitigated_since is not None

    def with_(self, **changes: Any) -> Problem:
        return replace(self, **changes)

    @property
    def tag_string(self) -> str:
        """Dynatrace's `Tags`: "key:value, key:value"."""
        return ", ".join(f"{k}:{v}" if v else k for k, v in self.tags.items())


def new_problem(
    *,
    title: str,
    service: str,
    impacted_entity: str | None = None,
    severity: str,
    start: float,
    tags: dict[str, str],
    evidence: list[dict[str, Any]],
    source: str = "selfheal",
    external_key: str | None = None,
    pid: str | None = None,
) -> Problem:
    """A new OPEN problem; the store fills in `display_id` from its own sequence."""
    pid = pid or str(uuid.uuid4().int % 10**18)
    return Problem(
        id=f"{pid}_{int(start * 1000)}V2",
        pid=pid,
        display_id="",
        title=title,
        service=service,
        impacted_entity=impacted_entity or service,
        severity=severity,
        status=OPEN,
        start=start,
        tags=dict(tags),
        evidence=list(evidence),
        source=source,
        external_key=external_key,
        updated=start,
    )


@dataclass(frozen=True, slots=True)
class ProblemQuery:
    status: str | None = None
    service: str | None = None
    since: float | None = None
    limit: int = 50
    offset: int = 0
    statuses: tuple[str, ...] = ()
    """Any of these states (with `status`, both must hold)."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One notification to one webhook as the monitor shows it (a view of the shared
    outbox's record); `key` is unique per (webhook, notification)."""

    key: str
    problem_id: str
    transition: str
    url: str
    status: str = "pending"
    attempts: int = 0
    response_code: int | None = None
    error: str | None = None
    created: float = 0.0
    updated: float = 0.0


EventsOf = Callable[[Problem], Sequence[CloudEvent]]
"""The events a change emits, made from the problem as stored (its display id, version)."""


class ProblemStore(Protocol):
    async def create(self, problem: Problem, events: EventsOf | None = None) -> Problem:
        """Insert; `events(stored)` are written in the same transaction (the outbox)."""
        ...

    async def save(self, problem: Problem, events: EventsOf | None = None) -> Problem | None:
        """Store `problem` if the stored row still has `problem.version` (compare-and-set),
        with `events(saved)` in the same transaction; the saved problem (version + 1), or
        None when someone else saved it meanwhile — re-read and decide again."""
        ...

    async def get(self, key: str) -> Problem | None:
        """By id, display id, PID or external key."""
        ...

    async def get_many(self, keys: Collection[str]) -> dict[str, Problem]:
        """Each key that names a problem (as `get` takes it), in one query."""
        ...

    async def find(self, query: ProblemQuery) -> tuple[list[Problem], int]: ...


class CommentStore(Protocol):
    async def add_comment(self, comment: Comment) -> None: ...

    async def comments(self, problem_id: str) -> list[Comment]: ...

    async def update_comment(self, comment: Comment) -> bool:
        """Replace the message and context of the comment with this id on this problem;
        False if there is none."""
        ...

    async def delete_comment(self, problem_id: str, comment_id: str) -> bool: ...


def matches(problem: Problem, query: ProblemQuery) -> bool:
    return (
        (query.status is None or problem.status == query.status)
        and (not query.statuses or problem.status in query.statuses)
        and (query.service is None or problem.service == query.service)
        and (query.since is None or (problem.end or problem.updated) >= query.since)
    )


class MemoryProblemStore:
    """Problems and comments in dicts (a test double and a DB-less store);
    a change's events go to `publish` after it is stored."""

    def __init__(self, publish: Callable[[CloudEvent], Awaitable[object]] | None = None) -> None:
        self._publish = publish
        self._problems: dict[str, Problem] = {}
        self._comments: list[Comment] = []

    async def _emit(self, problem: Problem, events: EventsOf | None) -> None:
        if events is not None and self._publish is not None:
            for event in events(problem):
                await self._publish(event)

    async def create(self, problem: Problem, events: EventsOf | None = None) -> Problem:
        created = problem.with_(display_id=f"P-{len(self._problems) + 1}")
        self._problems[created.id] = created
        await self._emit(created, events)
        return created

    async def save(self, problem: Problem, events: EventsOf | None = None) -> Problem | None:
        stored = self._problems.get(problem.id)
        if stored is None or stored.version != problem.version:
            return None
        saved = problem.with_(version=problem.version + 1)
        self._problems[problem.id] = saved
        await self._emit(saved, events)
        return saved

    async def get(self, key: str) -> Problem | None:
        for p in self._problems.values():
            if key in (p.id, p.display_id, p.pid, p.external_key):
                return p
        return None

    async def get_many(self, keys: Collection[str]) -> dict[str, Problem]:
        found = {key: await self.get(key) for key in keys if key}
        return {key: p for key, p in found.items() if p is not None}

    async def find(self, query: ProblemQuery) -> tuple[list[Problem], int]:
        found = sorted(
            (p for p in self._problems.values() if matches(p, query)),
            key=lambda p: p.start,
            reverse=True,
        )
        return found[query.offset : query.offset + query.limit], len(found)

    async def add_comment(self, comment: Comment) -> None:
        self._comments.append(comment)

    async def comments(self, problem_id: str) -> list[Comment]:
        return [c for c in self._comments if c.problem_id == problem_id]

    async def update_comment(self, comment: Comment) -> bool:
        for i, c in enumerate(self._comments):
            if c.id == comment.id and c.problem_id == comment.problem_id:
                self._comments[i] = comment
                return True
        return False

    async def delete_comment(self, problem_id: str, comment_id: str) -> bool:
        kept = [
            c for c in self._comments if not (c.id == comment_id and c.problem_id == problem_id)
        ]
        gone = len(kept) != len(self._comments)
        self._comments = kept
        return gone
