"""Retention: every table that grows with use is pruned to a window, in small batches.

Contexts register a `Rule` per table (`runtime.retention.add`); each replica's pruner deletes
the rows older than the rule's window, `batch` rows per short transaction (so a large backlog
never holds a long lock), a bounded number of batches per pass. Two replicas pruning at once
only delete the same old rows; the second finds them gone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter

from selfheal.storage.database import Database

log = logging.getLogger(__name__)
MAX_BATCHES = 40
"""Batches per rule in one pass; the rest waits for the next pass."""


@dataclass(frozen=True, slots=True)
class Rule:
    """Rows of `table` whose `time` column is older than `window` seconds go, when they also
    match `where` (a condition that keeps rows still in use, e.g. open sequences). `key` is
    the primary key's column(s)."""

    name: str
    table: sa.Table
    time: str
    window: float
    key: tuple[str, ...]
    where: Callable[[sa.Table], Any] | None = None


class Pruner:
    def __init__(
        self,
        database: Database,
        now: Callable[[], float],
        *,
        interval: float = 300.0,
        batch: int = 500,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._db = database
        self._now = now
        self._interval = interval
        self._batch = batch
        self._rules: dict[str, Rule] = {}
        self._task: asyncio.Task[None] | None = None
        self._pruned = Counter(
            "selfheal_retention_pruned_rows",
            "Rows deleted because they were older than their retention window",
            ["data"],
            registry=registry or CollectorRegistry(),
        )

    def add(self, rule: Rule) -> None:
        """Register (or replace) the rule of one kind of data; a window of 0 keeps it all."""
        if rule.window > 0:
            self._rules[rule.name] = rule
        else:
            self._rules.pop(rule.name, None)

    @property
    def rules(self) -> list[Rule]:
        return list(self._rules.values())

    async def start(self) -> None:
        if self._task is None and self._rules:
            self._task = asyncio.create_task(self._loop(), name="retention")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: next pass
                log.warning("retention pass failed: %s: %s", exc.__class__.__name__, exc)
            await asyncio.sleep(self._interval)

    async def run_once(self) -> dict[str, int]:
        """One pass over every rule; returns the rows deleted per rule."""
        out: dict[str, int] = {}
        for rule in list(self._rules.values()):
            out[rule.name] = await self._prune(rule)
        return out

    async def _prune(self, rule: Rule) -> int:
        t = rule.table
        cutoff = self._now() - rule.window
        condition = t.c[rule.time] < cutoff
        if rule.where is not None:
            condition = sa.and_(condition, rule.where(t))
        keys = [t.c[k] for k in rule.key]
        old = sa.select(*keys).where(condition).limit(self._batch)
        target = keys[0] if len(keys) == 1 else sa.tuple_(*keys)
        statement = sa.delete(t).where(target.in_(old))
        total = 0
        for _ in range(MAX_BATCHES):
            async with self._db.transaction() as conn:
                deleted = int((await conn.execute(statement)).rowcount or 0)
            total += deleted
            if deleted < self._batch:
                break
            await asyncio.sleep(0)  # let the hot paths in between batches
        if total:
            self._pruned.labels(rule.name).inc(total)
            log.info(
                "retention: %d %s rows older than %.0fs deleted", total, rule.name, rule.window
            )
        return total
